"""engine/delivery/_consumer.py's batch loop on a real Redis stream: how many batches it keeps in
flight, and that wakes which pile up meanwhile come in the next batch, all of them."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from engine.delivery._consumer import consume
from engine.delivery.queue import RedisQueue, Wake

pytestmark = pytest.mark.redis


async def _run(redis_url: str, prefix: str, max_batches: int, users: int) -> tuple[int, list[int], set[str]]:
    client = aioredis.Redis.from_url(redis_url)
    queue = RedisQueue(client, prefix)
    await queue.setup()
    stop = asyncio.Event()
    in_flight, most, sizes, seen = 0, 0, [], set()
    total = users + 3 * (users // 4)

    async def drain_many(wakes: list[Wake]) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        sizes.append(len(wakes))
        await asyncio.sleep(0.05)  # a batch's work: wakes pile up in the stream meanwhile
        seen.update(w.user for w in wakes)
        await queue.ack(queue.turns, "workers", *(w.entry_id for w in wakes))
        in_flight -= 1
        if len(seen) == total:
            stop.set()

    try:
        for i in range(users):
            await client.xadd(queue.turns, {"b": "bot", "u": f"u{i}"})
        runner = asyncio.create_task(consume(
            queue, queue.turns, "workers", "c1", concurrency=64, visibility_ms=30_000, block_ms=50, stop=stop,
            drain=lambda wake: asyncio.sleep(0), drain_many=drain_many, max_batches=max_batches))
        for _ in range(3):  # more arrive while the first batches run
            await asyncio.sleep(0.02)
            for i in range(users // 4):
                await client.xadd(queue.turns, {"b": "bot", "u": f"late{_}-{i}"})
        await asyncio.wait_for(runner, 10)
        return most, sizes, seen
    finally:
        await client.delete(queue.turns, queue.sends)
        await client.aclose()


@pytest.mark.parametrize("max_batches", [1, 2])
async def test_at_most_so_many_batches_in_flight(redis_url: str, redis_prefix: str, max_batches: int) -> None:
    most, sizes, seen = await _run(redis_url, redis_prefix, max_batches, users=8)
    assert most == max_batches
    assert len(seen) == 8 + 3 * 2 and sum(sizes) == len(seen)  # every wake drained once


async def test_one_in_flight_makes_fewer_larger_batches(redis_url: str, redis_prefix: str) -> None:
    _, one, _ = await _run(redis_url, f"{redis_prefix}:a", 1, users=40)
    _, two, _ = await _run(redis_url, f"{redis_prefix}:b", 2, users=40)
    assert sum(one) == sum(two) == 40 + 3 * 10
    assert len(one) <= len(two)
