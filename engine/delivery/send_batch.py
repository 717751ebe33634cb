"""Sends for a whole batch of wake-ups in three Redis round trips, however many users it holds.

The per-user path (`Sender.drain`) costs about seven round trips a message: the send lock, the
outbox head, the rate limiter, the pop, the delivery record, the next head, the release with the
acknowledgement. Here a batch read from the stream does them together:

1. one pipeline of `_CLAIM` scripts: take each user's send lock and return the outbox head;
2. one rate-limiter call per business number for all of its messages, then the sends, side by
   side (different users; one message per user at a time, so each user's order holds);
3. one pipeline popping each sent message (only while it is still the head), with its log row,
   its delivery record, and the next head;
4. one pipeline freeing the locks and acknowledging the wakes of users with nothing left.

What is not the plain case — a read receipt, a message waiting out its backoff, a failed send,
more messages behind the first — goes on in the per-user path, which already holds the lock,
in the background (a batch never waits for its slowest member; so do sends Graph is slow to
answer). `send_claimed` starts at step 2 for replies the turn batch claimed in its commit; their
wakes are the turns', acknowledged with the pop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine import metrics, wire
from engine.channels.base import SendError, SendResult
from engine.delivery import logship
from engine.delivery._consumer import Background, outcome, persist
from engine.delivery.queue import RELEASE_LOCK, Wake, new_id, one_per_user
from engine.delivery.sender import GROUP
from engine.messages import outbound_from_json

if TYPE_CHECKING:
    from engine.delivery.sender import Sender

log = logging.getLogger("flowbot.sender")
QUICK = 0.25  # seconds: sends Graph answered by then are settled together; a slower one on its own

# KEYS: send lock, outbox. ARGV: token, lease ms. {0} when another sender has the user, else
# {1, the outbox head or false}.
_CLAIM = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
return {1, redis.call('LINDEX', KEYS[2], 0) or false}
"""

# KEYS: outbox, log, send lock. ARGV: the sent item's id, its log row ("" = none), the lock's
# token. Pops the head only while it is that item; frees the lock when nothing is left to send.
# Returns {1 or 0, the new head or false, 1 when the lock was freed}.
_POP_NEXT = """
local head = redis.call('LINDEX', KEYS[1], 0)
local popped = 0
if head then
  local ok, item = pcall(cjson.decode, head)
  if ok and type(item) == 'table' and item['id'] == ARGV[1] then
    redis.call('LPOP', KEYS[1])
    if ARGV[2] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[2]) end
    popped = 1
  end
end
local after = redis.call('LINDEX', KEYS[1], 0)
local freed = 0
if popped == 1 and not after and redis.call('GET', KEYS[3]) == ARGV[3] then
  redis.call('DEL', KEYS[3])
  freed = 1
end
return {popped, after or false, freed}
"""


@dataclass
class SendClaim:
    wake: Wake
    token: str
    lock: str
    item: dict[str, Any] = field(default_factory=dict)
    result: SendResult | BaseException | None = None
    freed: bool = False  # the lock was freed with the last pop
    ack: tuple[str, str] | None = None  # (stream, group) of the wake: None = the sends stream
    ack_with_pop: bool = False  # the wake is acknowledged in the pop's pipeline (nothing else can be behind it)


class SendBatch:
    """The batch path of one Sender (see the module docstring)."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._release = sender.queue.redis.register_script(RELEASE_LOCK)
        self.background = Background("sending")  # late sends, users drained one at a time

    async def drain_many(self, wakes: list[Wake]) -> None:
        """The wakes read from the sends stream."""
        wakes, extra = one_per_user(wakes)
        busy: list[Wake] = []
        done: list[SendClaim] = []  # nothing left to send: free the lock, acknowledge the wake
        slow: list[SendClaim] = []  # the per-user path from the start, holding the lock
        try:
            claims = await self._claim_all(wakes, busy, done, slow)
        except Exception:  # Redis went away: the wakes stay pending and are reclaimed after the visibility timeout
            log.exception("a batch of sends failed")
            await self._release_all(done + slow)
            return
        await self._run(claims, slow, done, busy, extra)

    async def send_claimed(self, claims: list[SendClaim]) -> None:
        """Sends the turn batch claimed in its commit (`SendClaim.ack` names the turn's wake, which
        stays pending until the message is off the outbox, so a crash before that leaves it to
        be reclaimed; the turn worker then wakes a sender for the outbox)."""
        plain: list[SendClaim] = []
        slow: list[SendClaim] = []
        for c in claims:
            (plain if self._plain(c) else slow).append(c)
        await self._run(plain, slow, [], [], [])

    def _plain(self, c: SendClaim) -> bool:
        """A plain send; not: a read receipt, a message still backing off, an unknown bot."""
        return c.wake.bot in self.sender.adapters and "r" not in c.item and float(c.item.get("w", 0)) <= time.time()

    async def _run(self, claims: list[SendClaim], slow: list[SendClaim], done: list[SendClaim], busy: list[Wake],
                   extra: list[str]) -> None:
        # read receipts, messages backing off: the per-user path, on their own
        for c in slow:
            self.background.run(self._go_on(c))
        sends: dict[asyncio.Future[SendResult], SendClaim] = {}
        late: set[asyncio.Future[SendResult]] = set()
        try:
            sends = await self._start_sends(claims)
            # what Graph answers at once is settled together; a send still waiting after QUICK
            # (a slow or timing-out request) is settled on its own when it ends, so it does not
            # hold back the other users' next messages
            finished, late = await asyncio.wait(sends, timeout=QUICK) if sends else (set(), set())
            for t in late:
                self.background.run(self._settle_late(sends[t], t))
            for t in finished:
                sends[t].result = outcome(t)
            await self._settle([sends[t] for t in finished], done)
        except Exception:  # Redis went away: the wakes stay pending and are reclaimed after the visibility timeout
            log.exception("a batch of sends failed")
            late_claims = {id(sends[t]) for t in late}
            await self._release_all([c for c in claims if id(c) not in late_claims] + done)
            return
        await self._finish(done, busy, extra)

    async def _finish(self, done: list[SendClaim], busy: list[Wake], extra: list[str]) -> None:
        """One pipeline: free the locks still held and acknowledge the wakes of users with nothing
        left to send; the busy ones are looked at again shortly."""
        queue = self.sender.queue
        acks = self._by_stream(c for c in done if not c.ack_with_pop)
        acks[(queue.sends, GROUP)] += [w.entry_id for w in busy] + extra
        async with queue.redis.pipeline(transaction=False) as pipe:
            for c in done:
                if not c.freed:
                    pipe.eval(RELEASE_LOCK, 1, c.lock, c.token)
            for wake in busy:  # another sender has the user and drains it to the end; look again shortly
                pipe.zadd(queue.retry, {f"{wake.bot}|{wake.user}": time.time() + 0.05})
            _acknowledge(pipe, acks)
            results = await pipe.execute(raise_on_error=False) if pipe.command_stack else []
        for result in results:
            if isinstance(result, Exception):
                log.warning("after a batch of sends: %s: %s", type(result).__name__, result)

    async def _release_all(self, claims: list[SendClaim]) -> None:
        for c in claims:
            with suppress(Exception):
                await self._release(keys=[c.lock], args=[c.token])

    async def _settle(self, claims: list[SendClaim], done: list[SendClaim]) -> None:
        """Pop and record what was sent; users with more to send, or whose send failed, go on
        in the per-user path, on their own (it frees the lock and acknowledges)."""
        more: list[SendClaim] = []
        await self._after(claims, done, more)
        for c in more:
            self.background.run(self._go_on(c))

    async def _settle_late(self, c: SendClaim, task: asyncio.Future[SendResult]) -> None:
        await asyncio.wait([task])
        c.result = outcome(task)
        done: list[SendClaim] = []
        await self._settle([c], done)
        await self._finish(done, [], [])

    async def _claim_all(self, wakes: list[Wake], busy: list[Wake], done: list[SendClaim], slow: list[SendClaim]) -> list[SendClaim]:
        """Lock each user and read its outbox head; returns the plain sends to make now."""
        queue = self.sender.queue
        claims = [SendClaim(w, new_id(), queue.key(w.bot, w.user, "sendlock")) for w in wakes]
        async with queue.redis.pipeline(transaction=False) as pipe:
            for c in claims:
                pipe.eval(_CLAIM, 2, c.lock, queue.key(c.wake.bot, c.wake.user, "out"), c.token,
                             self.sender.lease_ms)
            results = await pipe.execute(raise_on_error=False)
        plain: list[SendClaim] = []
        for c, result in zip(claims, results, strict=True):
            if isinstance(result, Exception):
                raise result
            if not result[0]:
                busy.append(c.wake)
            elif not result[1]:
                done.append(c)
            else:
                c.item = wire.loads(result[1])
                (plain if self._plain(c) else slow).append(c)
        return plain

    async def _start_sends(self, claims: list[SendClaim]) -> dict[asyncio.Future[SendResult], SendClaim]:
        """Wait for the numbers' send rate (one call per number for the batch), then start the
        sends; each claim's `result` is set when it is settled."""
        sender = self.sender
        if sender.throughput is not None:
            per_account: dict[str, int] = defaultdict(int)
            for c in claims:
                per_account[sender.accounts.get(c.wake.bot, c.wake.bot)] += 1
            await asyncio.gather(*(sender.throughput.acquire(account, n) for account, n in per_account.items()))
        return {asyncio.ensure_future(self._send_one(c)): c for c in claims}

    async def _send_one(self, c: SendClaim) -> SendResult:
        adapter = self.sender.adapters[c.wake.bot]
        out = outbound_from_json(c.item["o"])
        return await (adapter.send(out, **c.item["c"]) if c.item.get("c") else adapter.send(out))

    async def _after(self, claims: list[SendClaim], done: list[SendClaim], slow: list[SendClaim]) -> None:
        """Pop what was sent (with its record and log row); failures go to the per-user path."""
        queue, records = self.sender.queue, self.sender.records
        sent = [c for c in claims if isinstance(c.result, SendResult)]
        for c in claims:
            if isinstance(c.result, SendError):
                slow.append(c)
            elif not isinstance(c.result, SendResult):
                log.error("sending failed: %s: %s", type(c.result).__name__, c.result, extra={"bot": c.wake.bot})
                await self._release(keys=[c.lock], args=[c.token])  # the wake stays pending: tried again later
        if not sent:
            return
        in_pipe = getattr(records, "sent_in", None)

        async def write() -> list[Any]:
            async with queue.redis.pipeline(transaction=False) as pipe:
                for c in sent:
                    assert isinstance(c.result, SendResult)
                    row = logship.sent_row(c.wake.bot, c.wake.user, c.result.provider_id, c.item) if queue.logging else None
                    pipe.eval(_POP_NEXT, 3, queue.key(c.wake.bot, c.wake.user, "out"), queue.log, c.lock,
                              str(c.item.get("id", "")), logship.encode(row) if row is not None else "", c.token)
                    if in_pipe is not None:
                        in_pipe(pipe, c.wake.bot, c.wake.user, c.result.provider_id, c.item)
                _acknowledge(pipe, self._by_stream(c for c in sent if c.ack_with_pop))
                return await pipe.execute(raise_on_error=False)

        # Graph has these messages now: ride out a short Redis outage rather than send them twice
        results = await persist(write)
        self.sender.sent_count += len(sent)
        for c in sent:
            metrics.count(metrics.SENT, c.wake.bot)
        step = 2 if in_pipe is not None else 1
        for i, c in enumerate(sent):
            result = results[i * step]
            if isinstance(result, Exception):
                raise result
            if in_pipe is None:
                assert isinstance(c.result, SendResult)
                await persist(lambda c=c: records.sent(c.wake.bot, c.wake.user, c.result.provider_id, c.item))
            popped, head, c.freed = int(result[0]), result[1], bool(result[2])
            if not popped:
                self.sender.lock_lost(c.wake.bot)
                done.append(c)
            elif head:
                slow.append(c)  # more to send: go on in order, one at a time
            else:
                done.append(c)

    async def _go_on(self, c: SendClaim) -> None:
        """The per-user path, under the lock this batch holds; a failed send is dealt with first."""
        sender, drain = self.sender, True
        if isinstance(c.result, SendError):
            try:  # False: it waits for its retry (the retry set wakes the user again), nothing to drain now
                drain = await sender.failed(c.wake.bot, c.wake.user, c.item, c.result)
            except Exception:
                log.exception("sending failed", extra={"bot": c.wake.bot})
                await self._release(keys=[c.lock], args=[c.token])
                return  # the entry stays pending: retried after the visibility timeout
        await sender.drain_held(c.wake, c.lock, c.token, drain=drain, ack=c.ack)

    def _by_stream(self, claims: Iterable[SendClaim]) -> defaultdict[tuple[str, str], list[str]]:
        """The claims' wake ids by (stream, group): the sends stream's, or the turn's (`ack`)."""
        acks: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        for c in claims:
            acks[c.ack or (self.sender.queue.sends, GROUP)].append(c.wake.entry_id)
        return acks


def _acknowledge(pipe: Any, acks: Mapping[tuple[str, str], list[str]]) -> None:
    for (stream, group), ids in acks.items():
        if ids:
            pipe.xack(stream, group, *ids)
            pipe.xdel(stream, *ids)
