"""The sender: drains users' outboxes in order, through each bot's channel adapter.

One user's messages go out one at a time, in order (WhatsApp shows them in the order they
arrive); different users in parallel. A failed send is retried with exponential backoff and
jitter (honouring Retry-After), the user's later messages waiting behind it; a message that
cannot be sent goes to the dead-letter queue, and the next one goes on. Outside the 24-hour
window (131047 / Twilio 63016) a message that declares a template is replaced by it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import metrics
from engine.channels.base import Adapter, SendError
from engine.delivery import logship
from engine.delivery._consumer import consume, persist
from engine.delivery.queue import RELEASE_LOCK, RedisQueue, Wake
from engine.delivery.ratelimit import Throughput
from engine.delivery.records import DeliveryRecords
from engine.messages import outbound_from_json, outbound_to_json

log = logging.getLogger("flowbot.sender")
GROUP = "senders"
OUTSIDE_WINDOW = frozenset({131047, 63016})


def batching() -> bool:
    """FLOWBOT_BATCH=0 turns the batch paths off (turn_batch.py, send_batch.py): one user at a time."""
    return os.environ.get("FLOWBOT_BATCH", "1") != "0"


def backoff(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; never sooner than the provider asked."""
    delay = random.uniform(0, min(cap, base * 2 ** attempt))
    return max(delay, retry_after or 0.0)


@dataclass
class Sender:
    queue: RedisQueue
    adapters: Mapping[str, Adapter]  # bot -> its channel
    records: DeliveryRecords
    throughput: Throughput | None = None
    accounts: Mapping[str, str] = field(default_factory=dict)  # bot -> the number it sends from
    consumer: str = field(default_factory=lambda: f"s-{uuid.uuid4().hex[:8]}")
    concurrency: int = 64
    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 300.0
    visibility_ms: int = 30_000
    block_ms: int = 500
    lease_ms: int = 30_000
    retry_look_every: float = 0.02  # seconds: how often, at most, to look for retries falling due
    sent_count: int = 0
    batched: bool = field(default_factory=batching)  # a batch of wakes in a few pipelines (send_batch.py)
    _retry_looked: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._release = self.queue.redis.register_script(RELEASE_LOCK)

    async def run(self, stop: asyncio.Event) -> None:
        from engine.delivery.send_batch import SendBatch

        batch = SendBatch(self) if self.batched else None
        await consume(self.queue, self.queue.sends, GROUP, self.consumer, concurrency=self.concurrency,
                      visibility_ms=self.visibility_ms, block_ms=self.block_ms, stop=stop, drain=self.drain,
                      before_read=self._wake_retries, drain_many=batch.drain_many if batch is not None else None,
                      background=batch.background if batch is not None else None)

    async def _wake_retries(self) -> None:
        # before every read, but at most every `retry_look_every`: under load the loop reads
        # hundreds of times a second, and each look is a round trip
        if time.monotonic() - self._retry_looked < self.retry_look_every:
            return
        self._retry_looked = time.monotonic()
        for bot, user in await self.queue.due_retries(time.time()):
            await self.queue.wake_sender(bot, user)

    async def drain(self, wake: Wake) -> None:
        lock = self.queue.key(wake.bot, wake.user, "sendlock")
        token = secrets.token_hex(8)
        redis = self.queue.redis
        if not await redis.set(lock, token, nx=True, px=self.lease_ms):
            # another sender is on this user; it drains to the end, but look again shortly
            await self.queue.retry_later(wake.bot, wake.user, time.time() + 0.05)
            await self.queue.ack(self.queue.sends, GROUP, wake.entry_id)
            return
        await self.drain_held(wake, lock, token)

    async def drain_held(self, wake: Wake, lock: str, token: str, *, drain: bool = True,
                         ack: tuple[str, str] | None = None) -> None:
        """With the user's send lock (`token`): send its outbox (unless `drain` is False), then free
        the lock and acknowledge the wake (on the stream and group `ack`, by default the sends
        stream) in one round trip. On a failure the lock is freed and the wake stays pending, to
        be retried after the visibility timeout."""
        stream, group = ack or (self.queue.sends, GROUP)
        try:
            if drain:
                await self._drain_locked(wake.bot, wake.user)
        except Exception:
            log.exception("sending failed", extra={"bot": wake.bot})
            await self._release(keys=[lock], args=[token])
            return
        async with self.queue.redis.pipeline(transaction=False) as pipe:
            pipe.eval(RELEASE_LOCK, 1, lock, token)  # EVAL: a Script in a pipeline costs a SCRIPT EXISTS
            pipe.xack(stream, group, wake.entry_id)
            pipe.xdel(stream, wake.entry_id)
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception):
                raise result

    async def failed(self, bot: str, user: str, item: dict[str, Any], exc: SendError) -> bool:
        """Deal with a send that failed; True when the user's next message may go now (the
        template replaced it, or it was dead-lettered), False when the user waits (a retry, or the
        message is no longer at the head: this sender's lease ran out and another has the user)."""
        out = outbound_from_json(item["o"])
        if exc.code in OUTSIDE_WINDOW and out.template is not None and out.kind != "template":
            item["o"] = outbound_to_json(type(out)(to=out.to, kind="template", template=out.template))
            if not await self.queue.replace_head(bot, user, item):
                return self.lock_lost(bot)
            log.info("outside the 24-hour window: sending the template instead", extra={"bot": bot})
            metrics.count(metrics.SEND_FAILURES, bot, "template")
            return True
        attempt = int(item.get("n", 0))
        if exc.retryable and attempt + 1 < self.max_attempts:
            delay = backoff(attempt, self.base_delay, self.max_delay, exc.retry_after)
            item["n"], item["w"] = attempt + 1, time.time() + delay  # "w": not to be tried before
            if not await self.queue.replace_head(bot, user, item):
                return self.lock_lost(bot)
            await self.queue.retry_later(bot, user, item["w"])
            log.warning("send failed, retrying in %.1fs: %s", delay, exc, extra={"bot": bot})
            metrics.count(metrics.SEND_FAILURES, bot, "retry")
            return False
        if not await self.queue.dead_letter(bot, user, item, f"{type(exc).__name__}: {exc}"):
            return self.lock_lost(bot)
        await self.records.failed(bot, user, item, str(exc), exc.code)
        if self.queue.logging:
            await self.queue.redis.rpush(self.queue.log, logship.encode(logship.failed_row(bot, user, item, str(exc), exc.code)))
        log.error("send failed for good, dead-lettered: %s", exc, extra={"bot": bot})
        metrics.count(metrics.SEND_FAILURES, bot, "dead_letter")
        return True

    def lock_lost(self, bot: str) -> bool:
        """Say so, and stop draining: a sender whose lease ran out leaves the user to its successor."""
        log.warning("send lock lost (lease %d ms ran out): leaving the user to the other sender",
                    self.lease_ms, extra={"bot": bot})
        return False

    async def _mark_read(self, adapter: Adapter, bot: str, user: str, message_id: str, item_id: str = "") -> None:
        """Best effort: a read receipt that fails is dropped, never retried ahead of a reply."""
        mark = getattr(adapter, "mark_read", None)
        if mark is not None and message_id:
            try:
                await mark(message_id)
            except SendError as exc:
                log.info("read receipt not sent: %s", exc, extra={"bot": bot})
        await self.queue.pop_sent(bot, user, item_id=item_id)

    async def _drain_locked(self, bot: str, user: str) -> None:
        adapter = self.adapters[bot]
        while (item := await self.queue.head(bot, user, "out")) is not None:
            if "r" in item:  # a read receipt for the user's message
                await self._mark_read(adapter, bot, user, str(item["r"]), str(item.get("id", "")))
                continue
            due = float(item.get("w", 0))
            if due > time.time():  # woken early (the user wrote again): its backoff is not over
                await self.queue.retry_later(bot, user, due)
                return
            out = outbound_from_json(item["o"])
            if self.throughput is not None:
                await self.throughput.acquire(self.accounts.get(bot, bot))
            try:
                result = await (adapter.send(out, **item["c"]) if item.get("c") else adapter.send(out))
            except SendError as exc:
                if await self.failed(bot, user, item, exc):
                    continue
                return
            row = logship.sent_row(bot, user, result.provider_id, item) if self.queue.logging else None
            # Graph has it now: if Redis failed here and we gave up, the message would go out
            # again, so ride out a short outage (the pop is of this very item, or nothing)
            sent_id, item_id = result.provider_id, str(item.get("id", ""))
            mine = await persist(lambda: self.queue.pop_sent(bot, user, row, item_id=item_id))  # noqa: B023 - awaited here
            await persist(lambda: self.records.sent(bot, user, sent_id, item))  # noqa: B023 - awaited here
            self.sent_count += 1
            metrics.count(metrics.SENT, bot)
            if not mine:  # another sender took this message off: our lease ran out and it has the user now
                self.lock_lost(bot)
                return
