"""A deployment: the bots one `flowbot serve` / `flowbot worker` runs, wired to Redis and to
their channels.

Each bot's manifest says which provider carries it and with which number:

    channels:
      provider: whatsapp                      # whatsapp (default), twilio, chatwoot or interakt
      whatsapp: {phone_number_id: "${WHATSAPP_PHONE_NUMBER_ID}"}
      twilio: {from_number: "+14155238886", public_url: "https://bots.example.com/webhooks/twilio/shop"}
      chatwoot: {account_id: 1}

`${NAME}` is read from the environment; secrets (tokens, app secrets, auth tokens) are only ever
read from the environment by the adapters, never from YAML. WhatsApp webhooks are routed to
the bot that owns `metadata.phone_number_id`; the other providers post to
`/webhooks/<provider>/<bot>`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from engine.channels.base import Adapter
from engine.delivery.queue import RedisQueue
from engine.delivery.ratelimit import Throughput
from engine.delivery.records import RedisDeliveryRecords
from engine.flow.loader import LoadedBot, load_bot
from engine.redis_packing import lean
from engine.runtime import Runtime
from engine.runtime.redis_store import RedisStore

_ENV = re.compile(r"\$\{([A-Z0-9_]+)\}")


def lock_lease_ms() -> int:
    """The lease of a user's turn lock and send lock: how long a dead holder blocks that user."""
    return int(os.environ.get("FLOWBOT_LOCK_LEASE_MS", "30000"))


def interpolate(value: Any) -> Any:
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1), ""), value)
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


def redis_socket_options(url: str) -> dict[str, Any]:
    """No per-command socket timeout unless FLOWBOT_REDIS_SOCKET_TIMEOUT (seconds) asks for one:
    on Python 3.11 redis-py wraps every command in `asyncio.wait_for` when one is set, a Task per
    command, about a fifth of a loaded worker's CPU (docs/decisions/0002). A Redis that restarts
    or dies resets the connection, which fails at once either way; TCP keepalive finds a peer that
    vanished without a word (and FLOWBOT_REDIS_SOCKET_TIMEOUT bounds a Redis that hangs)."""
    timeout = os.environ.get("FLOWBOT_REDIS_SOCKET_TIMEOUT", "")
    options: dict[str, Any] = {"socket_timeout": float(timeout) if timeout else None}
    if not url.startswith("unix:"):
        options["socket_keepalive"] = True
    return options


@dataclass
class BotHost:
    loaded: LoadedBot
    runtime: Runtime
    provider: str
    account: str  # the number the bot sends from (routing key for inbound)
    adapter: Adapter


@dataclass
class Deployment:
    redis: aioredis.Redis
    prefix: str
    bots: dict[str, BotHost] = field(default_factory=dict)
    routes: dict[tuple[str, str], str] = field(default_factory=dict)  # (provider, account) -> bot
    api_keys: frozenset[str] = frozenset()
    store: Any = None  # a PostgresStore (payments webhooks): opened on first use from DATABASE_URL, closed here

    queue: RedisQueue = field(init=False)

    def __post_init__(self) -> None:
        self.queue = RedisQueue(self.redis, self.prefix)
        # with DATABASE_URL, every message and status also goes to the PostgreSQL messaging log
        self.queue.logging = bool(os.environ.get("DATABASE_URL"))

    @property
    def records(self) -> RedisDeliveryRecords:
        return RedisDeliveryRecords(self.redis, self.prefix)

    def throughput(self) -> Throughput:
        return Throughput(self.redis, self.prefix, rate=float(os.environ.get("FLOWBOT_SEND_RATE", "80")))

    @classmethod
    def open(cls, bot_dirs: list[Path], redis_url: str, prefix: str = "fb") -> Deployment:
        # a blocking pool: when every connection is busy a command waits for one, where the
        # default pool raises MaxConnectionsError (and a worker loop would die of it under load)
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url, max_connections=int(os.environ.get("FLOWBOT_REDIS_CONNECTIONS", "256")), timeout=30,
            **redis_socket_options(redis_url))
        pool.connection_class = lean(pool.connection_class)
        client = aioredis.Redis.from_pool(pool)
        keys = frozenset(k.strip() for k in os.environ.get("FLOWBOT_API_KEYS", "").split(",") if k.strip())
        deployment = cls(redis=client, prefix=prefix, api_keys=keys)
        store = RedisStore(client, prefix=prefix, lease=lock_lease_ms() / 1000)
        # what actions may use (ActionContext.services and its typed accessors)
        services: dict[str, Any] = {"redis": client, "redis_prefix": prefix, "queue": deployment.queue}
        for bot_dir in bot_dirs:
            loaded = load_bot(bot_dir)
            channels = interpolate(loaded.bot.manifest.get("channels") or {})
            provider = str(channels.get("provider", "whatsapp"))
            adapter, account = make_adapter(provider, channels.get(provider) or {}, client, prefix)
            name = loaded.bot.name
            deployment.bots[name] = BotHost(loaded, Runtime(loaded, store, services=services), provider, account, adapter)
            if account:
                deployment.routes[(provider, account)] = name
        return deployment

    def route(self, provider: str, account: str) -> str | None:
        """The bot that owns `account` on `provider`; with one bot on that provider, that bot."""
        found = self.routes.get((provider, account))
        if found is not None:
            return found
        candidates = [name for name, host in self.bots.items() if host.provider == provider]
        return candidates[0] if len(candidates) == 1 and not account else None

    async def close(self) -> None:
        for host in self.bots.values():
            close = getattr(host.adapter, "close", None)
            if close is not None:
                await close()
        if self.store is not None:
            await self.store.close()
        await self.redis.aclose()


def make_adapter(provider: str, settings: dict[str, Any], redis: aioredis.Redis, prefix: str) -> tuple[Adapter, str]:
    """The adapter a bot sends through, and the account (number) inbound webhooks name."""
    if provider == "whatsapp":
        from engine.channels.whatsapp import GraphClient, WhatsAppAdapter

        number = str(settings.get("phone_number_id") or os.environ.get("WHATSAPP_PHONE_NUMBER_ID", ""))
        token_key = f"{prefix}:wa:token"

        async def token() -> str:
            # an operator rotates the token by setting this key; the environment is the default
            stored = await redis.get(token_key)
            return stored.decode() if stored else os.environ.get("WHATSAPP_TOKEN", "")

        timeout = float(os.environ.get("FLOWBOT_SEND_TIMEOUT", "20"))  # seconds per Graph request
        return WhatsAppAdapter(GraphClient(token, number, timeout=timeout)), number
    if provider == "twilio":
        from engine.channels.twilio import TwilioAdapter

        return TwilioAdapter(**settings), str(settings.get("from_number", "")).replace("whatsapp:", "").lstrip("+")
    if provider == "chatwoot":
        from engine.channels.chatwoot import ChatwootAdapter

        return ChatwootAdapter(**settings), str(settings.get("account_id", ""))
    if provider == "interakt":
        from engine.channels.interakt import InteraktAdapter

        return InteraktAdapter(**settings), ""
    raise ValueError(f"unknown channel provider {provider!r} (whatsapp, twilio, chatwoot or interakt)")
