"""The loop shared by the turn workers and the senders: read wake-ups from a stream's consumer
group, reclaim the ones a dead consumer left pending, and drain up to `concurrency` users at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from engine.delivery.queue import RedisQueue, Wake


async def consume(
    queue: RedisQueue, stream: str, group: str, consumer: str, *, concurrency: int, visibility_ms: int,
    block_ms: int, stop: asyncio.Event, drain: Callable[[Wake], Awaitable[None]],
    select: Callable[[list[Wake]], list[Wake]] = lambda wakes: wakes,
    before_read: Callable[[], Awaitable[None]] | None = None,
) -> None:
    await queue.setup()
    running: set[asyncio.Task[None]] = set()
    try:
        last_reclaim = 0.0
        while not stop.is_set():
            room = concurrency - len(running)
            if room <= 0:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                continue
            if before_read is not None:
                await before_read()
            wakes: list[Wake] = []
            if time.monotonic() - last_reclaim > visibility_ms / 4000:
                last_reclaim = time.monotonic()
                wakes += await queue.reclaim(stream, group, consumer, visibility_ms, room)
            if not wakes:
                wakes = await queue.read(stream, group, consumer, room, block_ms)
            for wake in select(wakes):
                task = asyncio.create_task(drain(wake))
                running.add(task)
                task.add_done_callback(running.discard)
    except asyncio.CancelledError:  # shutting down hard: what was not committed is retried elsewhere
        for task in running:
            task.cancel()
        raise
    if running:
        await asyncio.wait(running)
