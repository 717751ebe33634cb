"""The messaging log, written off the reply path without losing a row.

Whoever handles a message appends a small JSON row to one Redis list (`{p}:log`) in the same
step that makes the work durable: the turn worker inside its commit transaction (the inbound
message and the replies it queued), the sender when a reply was accepted (its provider id),
the webhook when a status arrives, the sender again when it gives up on a message. A single shipper (a lease in Redis elects it among the
worker processes) moves rows to PostgreSQL in batches and only then trims them from the list,
so a crash anywhere leaves rows in Redis to ship again; the store skips what it already has
(unique provider ids and item ids; statuses only move forward).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from typing import Any

import redis.asyncio as aioredis

from engine import wire
from engine.channels.base import Status
from engine.delivery.queue import RELEASE_LOCK
from engine.messages import inbound_from_json

log = logging.getLogger("flowbot.logship")


def log_key(prefix: str) -> str:
    return f"{prefix}:log"


def encode(row: dict[str, Any]) -> str:
    return wire.dumps(row)


def inbound_row(bot: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"t": "in", "b": bot, "m": event["m"]}


def failed_row(bot: str, user: str, item: dict[str, Any], error: str, code: int | None) -> dict[str, Any]:
    return {"t": "failed", "b": bot, "u": user, "i": item, "e": error, "c": code}


def sent_row(bot: str, user: str, provider_id: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"t": "sent", "b": bot, "u": user, "p": provider_id, "i": item}


def status_row(status: Status) -> dict[str, Any]:
    return {"t": "status", "s": {"message_id": status.message_id, "status": status.status, "recipient": status.recipient,
                                 "timestamp": status.timestamp, "error_code": status.error_code,
                                 "error_title": status.error_title, "channel": status.channel, "account": status.account}}


class LogShipper:
    def __init__(self, redis: aioredis.Redis, prefix: str, store: Any, batch: int = 4000, lease_ms: int = 10_000) -> None:
        self.redis = redis
        self.key = log_key(prefix)
        self.lease = f"{prefix}:log:shipper"
        self.store = store  # engine.store.postgres.PostgresStore
        self.batch = batch
        self.lease_ms = lease_ms
        self.shipped = 0

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        token = holder()
        while not stop.is_set():
            try:
                if not await self.redis.set(self.lease, token, nx=True, px=self.lease_ms) and \
                        (await self.redis.get(self.lease) or b"").decode() != token:
                    await _sleep(stop, 1.0)  # another process ships
                    continue
                await self.redis.pexpire(self.lease, self.lease_ms)
                moved = await self.ship_once()
                if moved < self.batch:  # caught up: let rows gather, so batches are large and few
                    await _sleep(stop, idle)
            except Exception:  # Postgres or Redis away: keep the rows, try again shortly
                log.exception("shipping the messaging log failed; retrying")
                await _sleep(stop, 1.0)
        await self.redis.eval(RELEASE_LOCK, 1, self.lease, token)

    async def ship_once(self) -> int:
        """Ship the oldest rows; trim them only once PostgreSQL has them."""
        from engine.store.postgres import YIELD_EVERY, LogRow

        raw = await self.redis.lrange(self.key, 0, self.batch - 1)
        if not raw:
            return 0
        rows: list[dict[str, Any]] = []
        messages: list[LogRow] = []
        for start in range(0, len(raw), YIELD_EVERY):
            for r in raw[start:start + YIELD_EVERY]:
                row = wire.loads(r)
                rows.append(row)
                if row.get("t") == "in":
                    messages.append(LogRow.inbound(row["b"], inbound_from_json(row["m"])))
            await asyncio.sleep(0)  # a batch is thousands of rows: let webhooks and turns in between slices
        if messages:
            await self.store.log_many(messages)
        sends: list[tuple[str, str, str, dict[str, Any]]] = []
        for row in rows:  # in order, after the messages they refer to exist
            kind = row.get("t")
            if kind == "sent":  # the sends between two statuses go together
                sends.append((row["b"], row["u"], row["p"], row["i"]))
                continue
            if kind == "in":  # logged above; it must not split a run of sends (one transaction each)
                continue
            if sends:
                await self.store.sent_many(sends)
                sends = []
            if kind == "status":
                await self.store.status(Status(**row["s"]))
            elif kind == "failed":
                await self.store.failed(row["b"], row["u"], row["i"], row["e"], row["c"])
        if sends:
            await self.store.sent_many(sends)
        await self.redis.ltrim(self.key, len(raw), -1)
        self.shipped += len(raw)
        return len(raw)


def holder() -> str:
    """The shipper lease's value: which process ships (`GET fb:log:shipper` answers host/pid/...),
    and a random part, so a restarted process with the same pid is another holder."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
