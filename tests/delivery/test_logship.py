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


class CountsSends:
    """The real store, counting the shipper's `sent_many` transactions."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.sent_batches: list[int] = []

    async def sent_many(self, sends: Any) -> None:
        sends = list(sends)
        self.sent_batches.append(len(sends))
        await self.store.sent_many(sends)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_sends_between_inbound_rows_ship_together_and_statuses_after_them(redis_url: str, redis_prefix: str, pg_store) -> None:  # type: ignore[no-untyped-def]
    """The list interleaves inbound rows (the turns' commits) and sent rows (the senders'
    pops): the inbound rows do not split the sends into a transaction each, and a status is
    applied after the send it is about."""
    import redis.asyncio as aioredis

    from engine.channels.base import Status
    from engine.messages import Outbound, outbound_to_json

    client = aioredis.Redis.from_url(redis_url)
    key = logship.log_key(redis_prefix)
    for i in range(4):
        user = f"25470000010{i}"
        event = {"m": inbound_to_json(Inbound(user=user, text=f"msg {i}", message_id=f"wamid.I{i}"))}
        item = {"id": f"item-{i}", "o": outbound_to_json(Outbound(to=user, text=f"reply {i}"))}
        await client.rpush(key, logship.encode(logship.inbound_row("demo", event)),
                           logship.encode(logship.sent_row("demo", user, f"wamid.O{i}", item)))
        if i == 1:
            await client.rpush(key, logship.encode(logship.status_row(Status(message_id="wamid.O1", status="read", timestamp=1.0e9))))
    store = CountsSends(pg_store)
    assert await LogShipper(client, redis_prefix, store).ship_once() == 9
    assert store.sent_batches == [2, 2]  # split only by the status
    record = await pg_store.get("wamid.O1")
    assert record is not None and record["status"] == "read"
    for i in range(4):
        history = await pg_store.history("demo", f"25470000010{i}")
        assert [(h["direction"], h["provider_id"]) for h in history] == [("in", f"wamid.I{i}"), ("out", f"wamid.O{i}")]
    await client.aclose()


async def test_a_large_batch_lets_the_event_loop_in_while_it_is_built(redis_url: str, redis_prefix: str, pg_store,  # type: ignore[no-untyped-def]
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipper shares its process with webhooks and turns: decoding thousands of rows, and
    building thousands of sent rows, yields to them every YIELD_EVERY rows."""
    import asyncio

    import redis.asyncio as aioredis

    from engine.store import postgres

    client = aioredis.Redis.from_url(redis_url)
    key = logship.log_key(redis_prefix)
    rows = 1000
    async with client.pipeline(transaction=False) as pipe:
        for i in range(rows // 2):
            event = {"m": inbound_to_json(Inbound(user="254700000002", text=f"m {i}", message_id=f"wamid.Y{i}"))}
            pipe.rpush(key, logship.encode(logship.inbound_row("demo", event)))
            pipe.rpush(key, logship.encode(logship.sent_row("demo", "254700000002", f"wamid.Z{i}",
                                                              {"id": f"item{i}", "o": {"text": f"r {i}"}})))
        await pipe.execute()
    ticks = 0
    seen_at_decode: list[int] = []
    seen_at_build: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    real_loads, real_outbound = logship.wire.loads, postgres.LogRow.outbound
    monkeypatch.setattr(logship.wire, "loads", lambda raw: (seen_at_decode.append(ticks), real_loads(raw))[1])
    monkeypatch.setattr(postgres.LogRow, "outbound", staticmethod(
        lambda *a, **k: (seen_at_build.append(ticks), real_outbound(*a, **k))[1]))
    running = asyncio.create_task(ticker())
    try:
        assert await LogShipper(client, redis_prefix, pg_store).ship_once() == rows
    finally:
        running.cancel()
        await client.delete(key)
        await client.aclose()
    # without the yields, every row of a phase would see the same tick count
    assert len(set(seen_at_decode)) >= rows // postgres.YIELD_EVERY
    assert len(set(seen_at_build)) >= (rows // 2) // postgres.YIELD_EVERY
    assert len(await pg_store.history("demo", "254700000002", limit=2000)) == rows
