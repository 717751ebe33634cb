"""The log shipper keeps rows in Redis until PostgreSQL has them: a failure loses nothing."""

from __future__ import annotations

from typing import Any

import pytest

from engine.delivery import logship
from engine.delivery.logship import LogShipper
from engine.messages import Inbound, inbound_to_json

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


class FailsOnce:
    """The real store, except that its first batch write fails (PostgreSQL restarting)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.failed = False

    async def log_many(self, rows: Any) -> int:
        if not self.failed:
            self.failed = True
            raise ConnectionError("server closed the connection unexpectedly")
        return int(await self.store.log_many(rows))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_rows_survive_a_failed_write_and_ship_once(redis_url: str, redis_prefix: str, pg_store) -> None:  # type: ignore[no-untyped-def]
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    key = logship.log_key(redis_prefix)
    for i in range(3):
        event = {"m": inbound_to_json(Inbound(user="254700000001", text=f"msg {i}", message_id=f"wamid.L{i}"))}
        await client.rpush(key, logship.encode(logship.inbound_row("demo", event)))
    shipper = LogShipper(client, redis_prefix, FailsOnce(pg_store))
    with pytest.raises(ConnectionError):
        await shipper.ship_once()
    assert await client.llen(key) == 3  # nothing trimmed
    assert await shipper.ship_once() == 3
    assert await client.llen(key) == 0
    await client.rpush(key, logship.encode(logship.inbound_row("demo", {"m": inbound_to_json(Inbound(user="254700000001", text="msg 0", message_id="wamid.L0"))})))
    assert await shipper.ship_once() == 1  # shipped again after a crash between write and trim: no duplicate row
    history = await pg_store.history("demo", "254700000001")
    assert [h["provider_id"] for h in history] == ["wamid.L0", "wamid.L1", "wamid.L2"]
    await client.aclose()
