"""Turns for a whole batch of wake-ups in three Redis round trips, however many users it holds.

The per-user path (`TurnWorker.drain`) costs about eight round trips a message: the fair lock,
the inbox head, the session, the rate counter, the commit, the due time, the sender's wake-up,
the lock's release and the acknowledgement. Under load a read from the stream brings many users
at once, so this path does the same work for all of them together:

1. one pipeline of `_CLAIM` scripts, one per user: take the user's lock if it is free and
   nobody waits in its line, and return the inbox head, the session and the rate counter;
2. the turns, computed side by side (they only wait on actions' I/O);
3. one pipeline of `_COMMIT` scripts (session, outbox, inbox pop, log rows and — when the inbox
   is now empty — the lock's release, all on the user's slot), with the due times and the
   sender's wake-ups;
4. one pipeline acknowledging the wakes of users left with an empty inbox.

A user whose lock is busy, whose bot merges bursts, or who has more events waiting after the
first turn goes to the per-user path, which waits in the fair line (or already holds the lock
and goes on draining). The scripts are the per-user path's, so both keep the same guarantees:
a commit applied once, a crashed batch's wakes reclaimed after the visibility timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine import metrics, wire
from engine.delivery._consumer import Background, outcome, persist
from engine.delivery.queue import COMMIT_SCRIPT, RELEASE_LOCK, Wake, new_id
from engine.delivery.send_batch import SendBatch, SendClaim
from engine.delivery.turns import GROUP
from engine.runtime import Runtime, consent
from engine.runtime.redis_store import RedisStore
from engine.runtime.session import Session

if TYPE_CHECKING:
    from engine.delivery.turns import TurnWorker

log = logging.getLogger("flowbot.worker")
QUICK = 0.05  # seconds: turns done by then commit together; a slower one (an action's I/O) on its own
# One batch of turns in flight per worker: a batch is CPU (its slow turns and its sends go on in
# the background), so a second one only splits the wakes into smaller batches. Measured A/B,
# one core, 32 users: 595 -> 799 messages/s, 1.68 -> 1.25 ms of CPU a message (decision 0002)
IN_FLIGHT = 1

# KEYS: lock, lock line, inbox, session, rate counter, outbox. ARGV: token, lease ms, the
# counter's expiry in seconds (0 = the bot has no rate limit: nothing counted). Returns {0} when
# the lock is taken or someone waits for it; else {1, inbox head or false, session or false, rate
# count (0 = not counted), outbox length when the inbox is empty (else 0)}.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('ZCARD', KEYS[2]) > 0 then return {0} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local head = redis.call('LINDEX', KEYS[3], 0)
local count = 0
if head and tonumber(ARGV[3]) > 0 then
  count = redis.call('INCR', KEYS[5])
  if count == 1 then redis.call('EXPIRE', KEYS[5], ARGV[3]) end
end
return {1, head or false, redis.call('GET', KEYS[4]) or false, count, head and 0 or redis.call('LLEN', KEYS[6])}
"""

# The per-user commit, then: free the lock when the inbox is empty (KEYS[6] lock, ARGV[#] token,
# passed last) and, when this commit queued the only messages in the outbox and an in-process
# sender can take them (ARGV[#-1] its lease ms, 0 = none), take the user's send lock (KEYS[7],
# the same token) so the worker sends them itself instead of waking a sender through the stream.
# Returns {inbox length, outbox length, 1 when the lock was freed, 1 when the send lock was taken}.
_COMMIT_RELEASE = COMMIT_SCRIPT.replace(
    "return {redis.call('LLEN', KEYS[3]), redis.call('LLEN', KEYS[2])}",
    """local left = redis.call('LLEN', KEYS[3])
local freed = 0
if left == 0 and redis.call('GET', KEYS[6]) == ARGV[#ARGV] then redis.call('DEL', KEYS[6]); freed = 1 end
local out = redis.call('LLEN', KEYS[2])
local sending = 0
if out > 0 and out == tonumber(ARGV[5]) and tonumber(ARGV[#ARGV - 1]) > 0 then
  if applied and freed == 1 then
    if redis.call('SET', KEYS[7], ARGV[#ARGV], 'NX', 'PX', ARGV[#ARGV - 1]) then sending = 1 end
  elseif not applied and redis.call('GET', KEYS[7]) == ARGV[#ARGV] then
    sending = 1  -- this commit again (its answer was lost): the send lock it took is still ours
  end
end
return {left, out, freed, sending}""").replace("for i = 6 + n, #ARGV do", "for i = 6 + n, #ARGV - 2 do")
assert _COMMIT_RELEASE.count("KEYS[6]") == 2 and "#ARGV - 2" in _COMMIT_RELEASE and "if applied then" in _COMMIT_RELEASE, \
    "COMMIT_SCRIPT changed: update the batch commit"


@dataclass
class _Claim:
    wake: Wake
    runtime: Runtime
    token: str
    event: dict[str, Any] | None = None
    session: Session | None = None
    rate_count: int = 0
    outbox: int = 0  # messages in the outbox, when the inbox was empty
    was_due: float | None = None  # the user's due time before the turn


class TurnBatch:
    """The batch path of one TurnWorker (see the module docstring)."""

    def __init__(self, worker: TurnWorker) -> None:
        self.worker = worker
        self._release = worker.queue.redis.register_script(RELEASE_LOCK)
        # the sender in this process, when there is one: a turn's replies go out from here, at most
        # as many users' at once as the sender's own concurrency (past that, through the stream)
        self.sends = SendBatch(worker.sender) if worker.sender is not None and worker.sender.batched else None
        self.background = Background("turns")  # late commits, users drained one at a time

    async def finish(self) -> None:
        """Wait for what the batches left running (the worker is stopping)."""
        await self.background.wait()
        if self.sends is not None:
            await self.sends.background.wait()

    async def drain_many(self, wakes: list[Wake]) -> None:
        worker, queue = self.worker, self.worker.queue
        slow: list[Wake] = []
        candidates: list[_Claim] = []
        for wake in wakes:
            runtime = worker.runtimes.get(wake.bot)
            if runtime is None or runtime.bot.manifest.get("burst") or not _plain_lock(runtime):
                slow.append(wake)
            else:
                candidates.append(_Claim(wake, runtime, new_id()))
        try:
            claimed = await self._claim_all(candidates, slow)
            done = await self._turns(claimed, slow)
        except Exception:  # Redis went away mid-batch: the wakes stay pending and are reclaimed
            log.exception("a batch of turns failed")
            done = []
        if done:
            await queue.ack(queue.turns, GROUP, *done)
        for wake in slow:  # on their own: a burst window or a long drain holds back no batch
            self.background.run(worker.drain(wake))

    async def _claim_all(self, candidates: list[_Claim], slow: list[Wake]) -> list[_Claim]:
        if not candidates:
            return []
        queue = self.worker.queue
        async with queue.redis.pipeline(transaction=False) as pipe:
            for c in candidates:
                bot, user = c.wake.bot, c.wake.user
                limit, window = self.worker.rate_limit(c.runtime)
                rl = queue.key(bot, user, f"rl:{int(time.time() // window)}") if limit else queue.key(bot, user, "rl")
                keys = [queue.key(bot, user, "lock"), queue.key(bot, user, "lockq"), queue.key(bot, user, "in"),
                        queue.key(bot, user, "s"), rl, queue.key(bot, user, "out")]
                pipe.eval(_CLAIM, len(keys), *keys, c.token, int(c.runtime.store.lease * 1000),
                             int(window) + 1 if limit else 0)
            results = await pipe.execute(raise_on_error=False)
        claimed: list[_Claim] = []
        for c, result in zip(candidates, results, strict=True):
            if isinstance(result, Exception):
                raise result
            if not result[0]:
                slow.append(c.wake)  # busy, or someone waits in its line: wait there too
                continue
            c.event = wire.loads(result[1]) if result[1] else None
            c.session = Session.from_bytes(result[2]) if result[2] else None
            c.rate_count = int(result[3])
            c.outbox = int(result[4])
            claimed.append(c)
        return claimed

    async def _turns(self, claimed: list[_Claim], slow: list[Wake]) -> list[str]:
        """Compute and commit the claimed users' turns; returns the wakes that are done.

        Turns that finish at once (most: no action waits on the network) are committed together;
        one still waiting after QUICK (an action calling out) commits on its own when it ends,
        so a slow action never holds back the other users' replies."""
        worker = self.worker
        if not claimed:
            return []
        with_event = [c for c in claimed if c.event is not None]
        for c in with_event:  # a user with no due time before nor after the turn needs no ZREM
            c.was_due = c.runtime.due_time(c.session) if c.session is not None else None
        await _stored_consent(with_event)
        tasks = {asyncio.ensure_future(worker.compute(c.runtime, c.session, c.wake.user, c.event or {},
                                                      limited=worker.limited(c.runtime, c.rate_count))): c
                 for c in with_event}
        finished, late = await asyncio.wait(tasks, timeout=QUICK) if tasks else (set(), set())
        for t in late:
            self.background.run(self._commit_late(tasks[t], t))
        return await self._commit([(tasks[t], outcome(t)) for t in finished], [c for c in claimed if c.event is None], slow)

    async def _commit_late(self, c: _Claim, task: asyncio.Future[Any]) -> None:
        await asyncio.wait([task])
        slow: list[Wake] = []
        done = await self._commit([(c, outcome(task))], [], slow)
        if done:
            await self.worker.queue.ack(self.worker.queue.turns, GROUP, *done)
        for wake in slow:
            await self.worker.drain(wake)

    async def _commit(self, turns: list[tuple[_Claim, Any]], empty: list[_Claim], slow: list[Wake]) -> list[str]:
        """One pipeline: commit these users' turns (or free the locks of those with nothing to do
        or whose turn failed); returns the wakes that are done. Replies this process's sender
        can take at once are sent from here, their wakes acknowledged once sent."""
        worker, queue = self.worker, self.worker.queue
        lease = 0  # 0: the replies go through the sends stream
        if self.sends is not None and self.sends.background.held < self.sends.sender.concurrency:
            lease = self.sends.sender.lease_ms
        done: list[str] = []
        pending: list[tuple[_Claim, Any, int, list[dict[str, Any]]]] = []  # claim, turn, its commit's place, its items
        async with queue.redis.pipeline(transaction=False) as pipe:
            releases: list[tuple[_Claim, int]] = []
            for c in empty:  # a wake with nothing behind it (a duplicate, or reclaimed after a crash)
                releases.append((c, len(pipe.command_stack)))
                pipe.eval(RELEASE_LOCK, 1, queue.key(c.wake.bot, c.wake.user, "lock"), c.token)
                if c.outbox:  # a worker died between its commit and its sends: a sender takes them
                    pipe.xadd(queue.sends, {"b": c.wake.bot, "u": c.wake.user})
                done.append(c.wake.entry_id)
            for c, turn in turns:
                if isinstance(turn, BaseException):
                    log.error("a turn failed: %s: %s", type(turn).__name__, turn, extra={"bot": c.wake.bot})
                    releases.append((c, len(pipe.command_stack)))
                    pipe.eval(RELEASE_LOCK, 1, queue.key(c.wake.bot, c.wake.user, "lock"), c.token)
                    continue  # its wake stays pending: tried again after the visibility timeout
                bot, user, runtime = c.wake.bot, c.wake.user, c.runtime
                outbound, rows = worker.outbox_items(runtime, turn, c.event or {})
                keys = [queue.key(bot, user, "s"), queue.key(bot, user, "out"), queue.key(bot, user, "in"),
                        queue.key(bot, user, "commits"), queue.log, queue.key(bot, user, "lock"), queue.key(bot, user, "sendlock")]
                items = [wire.dumps(o) for o in outbound]
                args = [new_id(), runtime.seal(turn.session), int(runtime.bot.session.ttl * 1000), 1, len(items),
                        *items, *(wire.dumps(r) for r in rows or []), lease, c.token]
                pending.append((c, turn, len(pipe.command_stack), outbound))
                pipe.eval(_COMMIT_RELEASE, len(keys), *keys, *args)
                due = runtime.due_time(turn.session)
                due_key = f"{queue.prefix}:{bot}:due"  # RedisStore's key: one sorted set per bot
                if due is None:
                    if c.was_due is not None:
                        pipe.zrem(due_key, user)
                else:
                    pipe.zadd(due_key, {user: due})
                if items and not lease:
                    pipe.xadd(queue.sends, {"b": bot, "u": user})
            if not pipe.command_stack:
                return done
            stack = list(pipe.command_stack)
        # a commit runs at most once; if its answer is lost, the same pipeline runs again, and
        # each script in it sees that it already ran (the lock, the inbox head and the send lock)
        results = await persist(lambda: _execute(queue.redis, stack))
        for c, place in releases:
            if isinstance(results[place], Exception):
                raise results[place]
        committed = 0
        to_send: list[SendClaim] = []
        to_wake: list[Wake] = []  # users whose replies a sender takes (through the stream)
        for c, turn, place, outbound in pending:
            result = results[place]
            if isinstance(result, Exception):
                log.warning("commit failed (%s): the user goes the slow way", result, extra={"bot": c.wake.bot})
                await self._release_now(c)
                slow.append(c.wake)
                continue
            committed += 1
            metrics.count(metrics.TURNS, c.wake.bot)
            left, _outbox, freed, took = (int(v) for v in result)
            if turn.result.forget:
                await queue.enqueue(c.wake.bot, c.wake.user, {"k": "forget"}, f"forget:{time.time()}")
            if took:  # the wake is acknowledged once the replies are off the outbox
                to_send.append(SendClaim(c.wake, c.token, queue.key(c.wake.bot, c.wake.user, "sendlock"), outbound[0],
                                         ack=(queue.turns, GROUP), ack_with_pop=len(outbound) == 1))
                continue
            if lease and outbound:
                to_wake.append(c.wake)
            if left == 0 and freed:
                done.append(c.wake.entry_id)
            else:  # more events came meanwhile: the lock is still ours, so drain on the slow path
                slow.append(c.wake)
                await self._release_now(c)
        worker.turns_done += committed
        if to_wake:
            async with queue.redis.pipeline(transaction=False) as pipe:
                for wake in to_wake:
                    pipe.xadd(queue.sends, {"b": wake.bot, "u": wake.user})
                await pipe.execute()
        if to_send and self.sends is not None:
            self.sends.background.run(self.sends.send_claimed(to_send), len(to_send))
        return done

    async def _release_now(self, c: _Claim) -> None:
        await self._release(keys=[self.worker.queue.key(c.wake.bot, c.wake.user, "lock")], args=[c.token])


async def _stored_consent(claims: list[_Claim]) -> None:
    """Users whose message starts a new session: whether a STOP outlived their last one, asked of
    the consent store once per bot for the batch (engine/runtime/consent.py; the runtime would ask
    once per user). They get a fresh session carrying the answer."""
    new: dict[str, list[_Claim]] = {}
    for c in claims:
        if c.session is None and (c.event or {}).get("k") == "in" and c.runtime.consent is not None:
            new.setdefault(c.wake.bot, []).append(c)
    for group in new.values():
        runtime = group[0].runtime
        opted_out = await consent.stored_opt_outs(runtime, [c.wake.user for c in group])
        if opted_out is None:
            continue
        for c in group:
            c.session = runtime.new_session()
            c.session.opted_out = c.wake.user in opted_out


async def _execute(redis: Any, stack: list[Any]) -> list[Any]:
    """Run these pipeline commands (a failed pipeline forgets its commands, so each try gets its own)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.command_stack.extend(stack)
        return list(await pipe.execute(raise_on_error=False))


def _plain_lock(runtime: Runtime) -> bool:
    """The batch path takes the lock with the same keys as RedisStore's fair lock."""
    return isinstance(runtime.store, RedisStore)
