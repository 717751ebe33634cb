"""Durable intake and outbox on Redis: per-user ordered lists, woken through streams.

    {p}:{bot:user}:in     the user's inbox: events waiting for a turn, oldest first
    {p}:{bot:user}:seen   sorted set of recent event ids (7 days): a redelivered id is a no-op
    {p}:{bot:user}:out    the user's outbox: messages waiting to be sent, in order
    {p}:{bot:user}:s      the session (the same key RedisStore uses)
    {p}:turns             stream of "user U of bot B has events" (consumer group `workers`)
    {p}:sends             stream of "user U of bot B has messages to send" (group `senders`)
    {p}:retry             sorted set: "bot|user" -> when its failed send may be tried again

Why lists plus streams: order lives in the user's list, and exactly one worker drains a user at
a time (the user's lock), so one user's events are handled strictly in order while different
users run in parallel on any number of processes. The stream entry is only a wake-up; it stays
pending until the worker has committed, so a worker that dies mid-turn leaves it to be claimed
by another after the visibility timeout. A turn commits its session, its outbox messages and the
removal of its event in one MULTI on the user's keys (one hash slot): either all happened or
none did, so a retried turn starts from the session it had and nothing is doubled.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

DEDUP_SECONDS = 7 * 86400  # Meta retries webhooks for up to 7 days

# KEYS: seen, inbox. ARGV: event id ("" = no dedup), now, retention, payload.
_ENQUEUE = """
if ARGV[1] ~= '' then
  if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
redis.call('RPUSH', KEYS[2], ARGV[4])
return 1
"""


@dataclass(frozen=True, slots=True)
class Wake:
    """A stream entry saying a user has work."""

    entry_id: str
    bot: str
    user: str


class RedisQueue:
    def __init__(self, redis: aioredis.Redis, prefix: str = "fb") -> None:
        self.redis = redis
        self.prefix = prefix
        self.turns = f"{prefix}:turns"
        self.sends = f"{prefix}:sends"
        self.retry = f"{prefix}:retry"
        self.dlq = f"{prefix}:dlq"
        self.log = f"{prefix}:log"
        self.logging = False  # True when a messaging log (PostgreSQL) takes rows: see logship.py
        self._enqueue = redis.register_script(_ENQUEUE)

    def key(self, bot: str, user: str, what: str) -> str:
        return f"{self.prefix}:{{{bot}:{user}}}:{what}"

    async def setup(self) -> None:
        for stream, group in ((self.turns, "workers"), (self.sends, "senders")):
            try:
                await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # ----- intake
    async def enqueue(self, bot: str, user: str, event: dict[str, Any], event_id: str = "") -> bool:
        """Queue an event for a user's next turn; False when `event_id` was seen before.

        The wake-up goes first: if the process dies between the two writes, a worker finds an
        empty inbox (harmless) and the provider, which got no 200, delivers again.
        """
        payload = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.turns, {"b": bot, "u": user})
            await self._enqueue(keys=[self.key(bot, user, "seen"), self.key(bot, user, "in")],
                                args=[event_id, time.time(), DEDUP_SECONDS, payload], client=pipe)
            results = await pipe.execute()
        return bool(results[1])

    async def wake_sender(self, bot: str, user: str) -> None:
        await self.redis.xadd(self.sends, {"b": bot, "u": user})

    # ----- consuming
    async def read(self, stream: str, group: str, consumer: str, count: int, block_ms: int) -> list[Wake]:
        reply = await self.redis.xreadgroup(group, consumer, {stream: ">"}, count=count, block=block_ms)
        return [Wake(_s(eid), _s(f[b"b"]), _s(f[b"u"])) for _, entries in reply or [] for eid, f in entries]

    async def reclaim(self, stream: str, group: str, consumer: str, idle_ms: int, count: int = 100) -> list[Wake]:
        """Entries another consumer took but did not finish within `idle_ms` (it died)."""
        reply = await self.redis.xautoclaim(stream, group, consumer, min_idle_time=idle_ms, start_id="0-0", count=count)
        entries = reply[1] if reply else []
        return [Wake(_s(eid), _s(f[b"b"]), _s(f[b"u"])) for eid, f in entries if f]

    async def ack(self, stream: str, group: str, *entry_ids: str) -> None:
        if entry_ids:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xack(stream, group, *entry_ids)
                pipe.xdel(stream, *entry_ids)
                await pipe.execute()

    async def head(self, bot: str, user: str, what: str = "in") -> dict[str, Any] | None:
        raw = await self.redis.lindex(self.key(bot, user, what), 0)
        return json.loads(raw) if raw is not None else None

    async def all(self, bot: str, user: str, what: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in await self.redis.lrange(self.key(bot, user, what), 0, -1)]

    async def commit_turn(self, bot: str, user: str, session: bytes, ttl: float, outbound: list[dict[str, Any]], popped: int = 1,
                          log_rows: list[dict[str, Any]] | None = None) -> None:
        """Save the session, queue the turn's messages and drop its event(s), all or nothing
        (with the messaging log's rows, when there is a log)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if log_rows:
                pipe.rpush(self.log, *[json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in log_rows])
            pipe.set(self.key(bot, user, "s"), session, px=int(ttl * 1000))
            if outbound:
                pipe.rpush(self.key(bot, user, "out"), *[json.dumps(o, separators=(",", ":"), ensure_ascii=False) for o in outbound])
            for _ in range(popped):
                pipe.lpop(self.key(bot, user, "in"))
            await pipe.execute()

    # ----- outbox
    async def replace_head(self, bot: str, user: str, item: dict[str, Any]) -> None:
        await self.redis.lset(self.key(bot, user, "out"), 0, json.dumps(item, separators=(",", ":"), ensure_ascii=False))

    async def pop_sent(self, bot: str, user: str, log_row: dict[str, Any] | None = None) -> None:
        if log_row is None:
            await self.redis.lpop(self.key(bot, user, "out"))
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpop(self.key(bot, user, "out"))
            pipe.rpush(self.log, json.dumps(log_row, separators=(",", ":"), ensure_ascii=False))
            await pipe.execute()

    async def retry_later(self, bot: str, user: str, at: float) -> None:
        await self.redis.zadd(self.retry, {f"{bot}|{user}": at})

    async def due_retries(self, now: float, limit: int = 500) -> list[tuple[str, str]]:
        members = await self.redis.zrangebyscore(self.retry, "-inf", now, start=0, num=limit)
        if not members:
            return []
        await self.redis.zrem(self.retry, *members)
        return [tuple(_s(m).split("|", 1)) for m in members]  # type: ignore[misc]

    async def dead_letter(self, bot: str, user: str, item: dict[str, Any], error: str) -> None:
        """Move the outbox head to the dead-letter queue (`flowbot dlq`)."""
        record = {"id": uuid.uuid4().hex[:12], "bot": bot, "user": user, "item": item, "error": error, "at": time.time()}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpop(self.key(bot, user, "out"))
            pipe.hset(self.dlq, record["id"], json.dumps(record, ensure_ascii=False))
            await pipe.execute()


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
