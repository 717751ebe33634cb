"""The turn worker: drains users' inboxes, one user at a time each, committing every turn.

Events in an inbox (JSON): `{"k": "in", "m": <inbound>, "t": queued_at}` a message;
`{"k": "timer"}` a reminder or expiry fell due; `{"k": "release"}` an agent handed the chat
back; `{"k": "start", "f": flow, "p": params}` another system started a flow.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import metrics
from engine.delivery import logship
from engine.delivery._consumer import consume
from engine.delivery.queue import RedisQueue, Wake, new_id, one_per_user
from engine.delivery.sender import Sender, batching
from engine.messages import Inbound, Outbound, inbound_from_json, outbound_to_json
from engine.runtime import Runtime
from engine.runtime.session import Session
from engine.runtime.turn import Turn

log = logging.getLogger("flowbot.worker")
GROUP = "workers"


@dataclass
class Limits:
    """Per-user inbound rate limit: `messages` per `seconds`; one polite notice, then silence."""

    messages: int = 0  # 0 = no limit
    seconds: float = 60.0


@dataclass
class TurnWorker:
    queue: RedisQueue
    runtimes: Mapping[str, Runtime]
    consumer: str = field(default_factory=lambda: f"w-{uuid.uuid4().hex[:8]}")
    concurrency: int = 32
    visibility_ms: int = 30_000
    block_ms: int = 500
    turns_done: int = 0

    batched: bool = field(default_factory=batching)  # a batch of wakes in a few pipelines (turn_batch.py)
    # the sender running in the same process, if any: the batch path then sends a turn's replies
    # itself when nothing else is queued for the user, instead of waking a sender (turn_batch.py)
    sender: Sender | None = None

    async def run(self, stop: asyncio.Event) -> None:
        from engine.delivery.turn_batch import IN_FLIGHT, TurnBatch

        batch = TurnBatch(self) if self.batched else None
        await consume(self.queue, self.queue.turns, GROUP, self.consumer, concurrency=self.concurrency,
                      visibility_ms=self.visibility_ms, block_ms=self.block_ms, stop=stop, drain=self.drain,
                      select=self._unique, drain_many=batch.drain_many if batch is not None else None,
                      background=batch.background if batch is not None else None, max_batches=IN_FLIGHT)
        if batch is not None:
            await batch.finish()

    def _unique(self, wakes: list[Wake]) -> list[Wake]:
        """Several wakes of one user in a batch: drain once, acknowledge the rest right away."""
        unique, extra = one_per_user(wakes)
        if extra:
            asyncio.ensure_future(self.queue.ack(self.queue.turns, GROUP, *extra))
        return unique

    async def drain(self, wake: Wake) -> None:
        runtime = self.runtimes.get(wake.bot)
        if runtime is None:
            log.error("wake for unknown bot %r: dropped", wake.bot)
            await self.queue.ack(self.queue.turns, GROUP, wake.entry_id)
            return
        try:
            async with runtime.store.lock(wake.bot, wake.user):
                await self._drain_locked(runtime, wake)
        except Exception:  # the entry stays pending: another worker retries after the visibility timeout
            log.exception("draining failed", extra={"bot": wake.bot})
            return
        await self.queue.ack(self.queue.turns, GROUP, wake.entry_id)

    async def _drain_locked(self, runtime: Runtime, wake: Wake) -> None:
        bot, user = wake.bot, wake.user
        session: Session | None = None
        left, outbox = -1, -1  # events left in the inbox, messages in the outbox: -1 = not known
        while left != 0:  # the last commit said the inbox was empty: no need to look again
            events = await self.queue.all(bot, user, "in") if runtime.bot.manifest.get("burst") else None
            event = events[0] if events else await self.queue.head(bot, user)
            if event is None:
                break
            popped = 1
            if events and event.get("k") == "in":
                event, popped = await self._merge_burst(runtime, user, events)
            session = await runtime.session(user)
            turn = await self.compute(runtime, session, user, event)
            session = turn.session
            outbound, rows = self.outbox_items(runtime, turn, event)
            left, outbox = await self.queue.commit_turn(bot, user, runtime.seal(session), runtime.bot.session.ttl, outbound,
                                                        popped, rows)
            self.turns_done += 1
            metrics.count(metrics.TURNS, bot)
            if turn.result.forget:  # after this turn's own commit, so nothing of it survives the deletion
                await self.queue.enqueue(bot, user, {"k": "forget"}, f"forget:{time.time()}")
                left = -1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("turn %s for %s: %d message(s) out; %s", event.get("k"), user, len(outbound),
                          "; ".join(turn.result.events) or "-", extra={"bot": bot})
        if session is not None:
            await runtime.store.schedule(bot, user, runtime.due_time(session))
        if outbox < 0:  # no turn committed here (a wake reclaimed after a crash, say): look
            outbox = await self.queue.redis.llen(self.queue.key(bot, user, "out"))
        if outbox:
            await self.queue.wake_sender(bot, user)

    def outbox_items(self, runtime: Runtime, turn: Turn, event: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        """The turn's messages as outbox items, and its messaging-log rows (None: no log)."""
        outbound = [self._item(o, turn) for o in turn.result.outbound]
        if turn.session.route:
            for item in outbound:
                item["c"] = turn.session.route
        if event.get("k") == "in" and (runtime.bot.manifest.get("channels") or {}).get("mark_read"):
            # blue ticks first: the read receipt goes out ahead of the reply, in the same order
            outbound.insert(0, {"id": new_id(), "r": event["m"].get("message_id", ""), "n": 0})
        rows = None
        if self.queue.logging:
            # replies enter the log when sent (with their provider id) or dead-lettered
            rows = [logship.inbound_row(runtime.bot.name, event)] if event.get("k") == "in" else []
        return outbound, rows

    async def compute(self, runtime: Runtime, session: Session | None, user: str, event: dict[str, Any],
                      limited: bool | None | str = "ask") -> Turn:
        """One event's turn, not yet committed. `limited`: the rate limiter's answer when the
        caller already counted this message (see `limited`), or "ask" to count it here."""
        kind = event.get("k")
        if kind == "in":
            inbound = inbound_from_json(event["m"])
            if limited == "ask":
                limited = await self._rate_limited(runtime, user)
            if limited is not None:
                turn = Turn(runtime, session or runtime.new_session(), user, runtime.clock.now(), inbound.message_id)
                if limited and not turn.session.opted_out:  # who said STOP hears nothing, not even this
                    turn.say("flowbot.rate_limited")
                turn.event("rate limited")
                return turn
            return await runtime.compute_inbound(session, inbound)
        if kind == "timer":
            return await runtime.compute_timer(session, user)
        if kind == "release":
            return await runtime.compute_release(session, user)
        if kind == "forget":
            await runtime.forget(user)
            turn = Turn(runtime, runtime.new_session(), user, runtime.clock.now())
            turn.session.last_inbound = runtime.clock.now()  # answering the user's own request
            if session is not None:
                turn.session.lang, turn.session.opted_out = session.lang, session.opted_out
            turn.say("flowbot.forget.done")
            turn.event("the user's data was deleted")
            return turn
        if kind == "start":
            return await runtime.compute_start(session, user, event["f"], event.get("p") or {}, event.get("id", ""))
        log.error("unknown event kind %r: skipped", kind)
        return Turn(runtime, session or runtime.new_session(), user, runtime.clock.now())

    @staticmethod
    def rate_limit(runtime: Runtime) -> tuple[int, float]:
        """The bot's inbound limit: (messages, per seconds); 0 messages = none."""
        spec = runtime.bot.manifest.get("rate_limit") or {}
        limit = int(spec.get("messages", 0))
        if limit <= 0:
            return 0, 60.0
        from engine.flow.durations import parse_duration

        return limit, parse_duration(spec.get("per", "1m"))

    def limited(self, runtime: Runtime, count: int) -> bool | None:
        """For the `count`th message in the window: None when within the limit; True for the one
        message that gets a notice; False after it."""
        limit, _ = self.rate_limit(runtime)
        if limit <= 0 or count <= limit:
            return None
        return count == limit + 1

    async def _rate_limited(self, runtime: Runtime, user: str) -> bool | None:
        limit, window = self.rate_limit(runtime)
        if limit <= 0:
            return None
        key = self.queue.key(runtime.bot.name, user, f"rl:{int(time.time() // window)}")
        async with self.queue.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, int(window) + 1)
            count = (await pipe.execute())[0]
        return self.limited(runtime, int(count))

    async def _merge_burst(self, runtime: Runtime, user: str, events: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
        """Consecutive texts sent within the bot's burst window become one message."""
        from engine.flow.durations import parse_duration

        window = parse_duration(runtime.bot.manifest["burst"].get("window", "2s"))
        age = time.time() - float(events[0].get("t", 0))
        if age < window:
            await asyncio.sleep(window - age)
            events = await self.queue.all(runtime.bot.name, user, "in")
        texts: list[str] = []
        for e in events:
            if e.get("k") != "in" or e["m"].get("kind", "text") != "text":
                break
            texts.append(e["m"].get("text", ""))
        if len(texts) <= 1:
            return events[0], 1
        merged = dict(events[0])
        merged["m"] = {**events[0]["m"], "text": "\n".join(texts)}
        return merged, len(texts)

    @staticmethod
    def _item(out: Outbound, turn: Turn) -> dict[str, Any]:
        return {"id": new_id(), "o": outbound_to_json(out), "n": 0, "t": time.time()}


def inbound_event(inbound: Inbound) -> dict[str, Any]:
    from engine.messages import inbound_to_json

    return {"k": "in", "m": inbound_to_json(inbound), "t": time.time()}
