"""The loop shared by the turn workers and the senders: read wake-ups from a stream's consumer
group, reclaim the ones a dead consumer left pending, and drain up to `concurrency` users at once.

Redis going away (a restart, a failover, a full connection pool) does not end the loop: it
waits, doubling the pause up to 5 s, and goes on where it was; a consumer group lost with the
data (a Redis without persistence) is made again. What was being drained when Redis went away
stays pending and is reclaimed after the visibility timeout."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.delivery.queue import RedisQueue, Wake

log = logging.getLogger("flowbot.delivery")
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
T = TypeVar("T")
FIRST_PAUSE, LAST_PAUSE = 0.1, 5.0
# Batches in flight at once per consumer, unless it asks otherwise: while they run, wakes pile up
# in the stream, so the next read takes many at a time (a batch's Redis work costs about the same
# for 2 users or 50)
MAX_BATCHES = 2


class Background:
    """Work a batch leaves running when it returns: a send Graph is slow to answer, a turn
    waiting on a slow action, a user drained one message at a time. A batch never waits for
    its slowest member, so a few slow users cannot hold every batch slot; the consume loop
    leaves room for the wakes this work still holds (`held`)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tasks: dict[asyncio.Future[Any], int] = {}  # task -> how many wakes it holds

    @property
    def held(self) -> int:
        return sum(self.tasks.values())

    def run(self, work: Awaitable[Any], wakes: int = 1) -> None:
        task = asyncio.ensure_future(work)
        self.tasks[task] = wakes
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self.tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:  # the wakes stay pending: reclaimed later
            exc = task.exception()
            log.warning("%s stopped: %s: %s", self.what, type(exc).__name__, exc, exc_info=exc)

    async def wait(self) -> None:
        while self.tasks:  # what finishes may have started more
            await asyncio.wait(set(self.tasks))


async def consume(
    queue: RedisQueue, stream: str, group: str, consumer: str, *, concurrency: int, visibility_ms: int,
    block_ms: int, stop: asyncio.Event, drain: Callable[[Wake], Awaitable[None]],
    select: Callable[[list[Wake]], list[Wake]] = lambda wakes: wakes,
    before_read: Callable[[], Awaitable[None]] | None = None,
    drain_many: Callable[[list[Wake]], Awaitable[None]] | None = None,
    background: Background | None = None,
    max_batches: int = MAX_BATCHES,
) -> None:
    """`drain` one wake per task; or, with `drain_many`, each batch read at once in one task (so
    its Redis work can go in a few pipelines for all of its users instead of per user), with
    what a batch leaves running in `background`."""
    running: dict[asyncio.Task[None], int] = {}  # task -> how many wakes it drains
    background = background or Background("background work")

    def done(task: asyncio.Task[None]) -> None:
        running.pop(task, None)
        if not task.cancelled() and task.exception() is not None:  # drains catch their own; this is Redis failing under them
            exc = task.exception()
            log.warning("draining stopped: %s: %s", type(exc).__name__, exc, exc_info=exc)

    try:
        last_reclaim = 0.0
        ready = False
        pause = FIRST_PAUSE
        while not stop.is_set():
            room = concurrency - sum(running.values()) - background.held
            if room <= 0 or (drain_many is not None and len(running) >= max_batches):
                await asyncio.wait(set(running) | set(background.tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            wakes: list[Wake] = []
            try:
                if not ready:
                    await queue.setup()
                    ready = True
                if before_read is not None:
                    await before_read()
                if time.monotonic() - last_reclaim > visibility_ms / 4000:
                    last_reclaim = time.monotonic()
                    wakes += await queue.reclaim(stream, group, consumer, visibility_ms, room)
                if not wakes:
                    wakes = await queue.read(stream, group, consumer, room, block_ms)
            except UNREACHABLE as exc:
                log.warning("redis unreachable (%s: %s); trying again in %.1fs", type(exc).__name__, exc, pause)
                await _pause(stop, pause)
                pause = min(pause * 2, LAST_PAUSE)
                continue
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("consumer group %s of %s is gone (Redis lost its data?): making it again", group, stream)
                ready = False
                continue
            pause = FIRST_PAUSE
            chosen = select(wakes)
            batches = [chosen] if drain_many is not None and chosen else [[wake] for wake in chosen]
            for batch in batches:
                task = asyncio.create_task(drain_many(batch) if drain_many is not None else drain(batch[0]))
                running[task] = len(batch)
                task.add_done_callback(done)
    except asyncio.CancelledError:  # shutting down hard: what was not committed is retried elsewhere
        for task in [*running, *background.tasks]:
            task.cancel()
        raise
    if running:
        await asyncio.wait(set(running))
    await background.wait()


async def persist(write: Callable[[], Awaitable[T]], patience: float = 60.0) -> T:
    """Run a Redis write, trying again while Redis is unreachable, for up to `patience` s. Also
    when Redis forgot the write's script twice in a row (a SCRIPT FLUSH, or a restart, between
    redis-py's reload and its retry): the script did not run, so running it again is safe, and
    giving up here would send the message again."""
    give_up, pause = time.monotonic() + patience, 0.1
    while True:
        try:
            return await write()
        except (*UNREACHABLE, NoScriptError) as exc:
            if time.monotonic() + pause > give_up:
                raise
            log.warning("a redis write failed (%s); trying again in %.1fs", type(exc).__name__, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)


def outcome(task: asyncio.Future[Any]) -> Any:
    """What a finished task gave: its result, or the exception it raised (as gather's
    return_exceptions would)."""
    return task.exception() or task.result()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
