"""Durable intake and outbox on Redis: per-user ordered lists, woken through streams.

    {p}:{bot:user}:in     the user's inbox: events waiting for a turn, oldest first
    {p}:{bot:user}:seen   sorted set of recent event ids (7 days): a redelivered id is a no-op
    {p}:{bot:user}:out    the user's outbox: messages waiting to be sent, in order
    {p}:{bot:user}:s      the session (the same key RedisStore uses)
    {p}:{bot:user}:commits  the ids of the user's turns committed in the last 10 minutes: a commit is applied once
    {p}:turns             stream of "user U of bot B has events" (consumer group `workers`)
    {p}:sends             stream of "user U of bot B has messages to send" (group `senders`)
    {p}:retry             sorted set: "bot|user" -> when its failed send may be tried again

Why lists plus streams: order lives in the user's list, and exactly one worker drains a user at
a time (the user's lock), so one user's events are handled strictly in order while different
users run in parallel on any number of processes. The stream entry is only a wake-up; it stays
pending until the worker has committed, so a worker that dies mid-turn leaves it to be claimed
by another after the visibility timeout. A turn commits its session, its outbox messages and the
removal of its event in one script on the user's keys (one hash slot): either all happened or
none did, so a retried turn starts from the session it had and nothing is doubled.

The client sends a command again when its connection broke before the answer came (redis-py
retries on ConnectionError, as when Redis restarts), so every write that is not idempotent by
itself is made so: a turn's commit carries an id and is applied once; taking a message off the
outbox (sent, or dead-lettered) happens only while that very message is still at its head.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from engine import wire

DEDUP_SECONDS = 7 * 86400  # Meta retries webhooks for up to 7 days

# KEYS: seen, inbox. ARGV: event id ("" = no dedup), now, retention, payload.
_ENQUEUE = """
if ARGV[1] ~= '' then
  if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
redis.call('RPUSH', KEYS[2], ARGV[4])
return 1
"""

# KEYS: session, outbox, inbox, recent commits, log. ARGV: commit id, session, ttl ms, events to
# drop, number of outbox items n, the n items, then the log rows. Returns the inbox and outbox
# lengths after it. The recent commits are a sorted set (id -> when, ms), not the last id alone:
# a commit whose answer was lost may be sent again after the user's next turn has committed (its
# lock was free), and must still find itself there, or its replies would go out twice.
COMMIT_SCRIPT = """
local applied = not redis.call('ZSCORE', KEYS[4], ARGV[1])
if applied then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  local n = tonumber(ARGV[5])
  for i = 6, 5 + n do redis.call('RPUSH', KEYS[2], ARGV[i]) end
  for _ = 1, tonumber(ARGV[4]) do redis.call('LPOP', KEYS[3]) end
  for i = 6 + n, #ARGV do redis.call('RPUSH', KEYS[5], ARGV[i]) end
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  redis.call('ZADD', KEYS[4], ms, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ms - 600000)
  redis.call('PEXPIRE', KEYS[4], 600000)
end
return {redis.call('LLEN', KEYS[3]), redis.call('LLEN', KEYS[2])}
"""

# Returns 0 unless the outbox (KEYS[1]) has a head and it is item ARGV[1] ("" = whatever it is).
_HEAD_IS_ITEM = """
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return 0 end
if ARGV[1] ~= '' then
  local ok, item = pcall(cjson.decode, head)
  if not ok or type(item) ~= 'table' or item['id'] ~= ARGV[1] then return 0 end
end
"""

# KEYS: outbox, then where the popped head goes: a list (RPUSH) or, with a field, a hash (HSET).
# ARGV: the head's item id ("" = whatever the head is), the value for KEYS[2] ("" = none), the field.
_POP_HEAD = _HEAD_IS_ITEM + """
redis.call('LPOP', KEYS[1])
if ARGV[2] ~= '' then
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], ARGV[3], ARGV[2]) else redis.call('RPUSH', KEYS[2], ARGV[2]) end
end
return 1
"""

# KEYS: outbox. ARGV: the head's item id ("" = whatever the head is), the new value.
_REPLACE_HEAD = _HEAD_IS_ITEM + """
redis.call('LSET', KEYS[1], 0, ARGV[2])
return 1
"""

# KEYS: a lock. ARGV: the holder's token. Frees the lock only while this token holds it (a holder
# whose lease ran out must not free its successor's lock): the send locks, the shipper's lease,
# the batch path's turn locks.
RELEASE_LOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass(frozen=True, slots=True)
class Wake:
    """A stream entry saying a user has work."""

    entry_id: str
    bot: str
    user: str


class RedisQueue:
    def __init__(self, redis: aioredis.Redis, prefix: str = "fb") -> None:
        self.redis = redis
        self.prefix = prefix
        self.turns = f"{prefix}:turns"
        self.sends = f"{prefix}:sends"
        self.retry = f"{prefix}:retry"
        self.dlq = f"{prefix}:dlq"
        self.log = f"{prefix}:log"
        self.logging = False  # True when a messaging log (PostgreSQL) takes rows: see logship.py
        self._enqueue = redis.register_script(_ENQUEUE)
        self._commit = redis.register_script(COMMIT_SCRIPT)
        self._pop_head = redis.register_script(_POP_HEAD)
        self._replace_head = redis.register_script(_REPLACE_HEAD)
        self._intake: list[tuple[tuple[str, str, list[str], list[Any]], asyncio.Future[bool]]] = []
        self._flushing: set[asyncio.Future[None]] = set()

    def key(self, bot: str, user: str, what: str) -> str:
        return f"{self.prefix}:{{{bot}:{user}}}:{what}"

    async def setup(self) -> None:
        for stream, group in ((self.turns, "workers"), (self.sends, "senders")):
            try:
                await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # ----- intake
    async def enqueue(self, bot: str, user: str, event: dict[str, Any], event_id: str = "") -> bool:
        """Queue an event for a user's next turn; False when `event_id` was seen before.

        Events queued in the same turn of the event loop (webhooks arriving together) share one
        pipeline: one round trip for all of them, each answered only once Redis has it. The
        wake-up goes first: if the process dies between the two writes, a worker finds an empty
        inbox (harmless) and the provider, which got no 200, delivers again.
        """
        payload = wire.dumps(event)
        job = (bot, user, [self.key(bot, user, "seen"), self.key(bot, user, "in")],
               [event_id, time.time(), DEDUP_SECONDS, payload])
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._intake.append((job, fut))
        if len(self._intake) == 1:
            asyncio.get_running_loop().call_soon(self._flush_intake)
        return await fut

    def _flush_intake(self) -> None:
        batch, self._intake = self._intake, []
        task = asyncio.ensure_future(self._enqueue_all(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _enqueue_all(self, batch: list[tuple[tuple[str, str, list[str], list[Any]], asyncio.Future[bool]]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for (bot, user, keys, args), _ in batch:
                    pipe.xadd(self.turns, {"b": bot, "u": user})
                    # EVAL, not a Script object: in a pipeline that makes redis-py send SCRIPT EXISTS
                    # first, one more round trip; Redis caches the script by its hash anyway, and
                    # there is no NOSCRIPT to recover from after a restart
                    pipe.eval(_ENQUEUE, len(keys), *keys, *args)
                results = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for _, fut in batch:
                fut.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - each caller gets it (a webhook then answers 503)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for i, ((bot, user, keys, args), fut) in enumerate(batch):
            if fut.done():  # its caller went away
                continue
            woke, queued = results[2 * i], results[2 * i + 1]
            failed = next((r for r in (woke, queued) if isinstance(r, Exception)), None)
            if failed is not None:
                fut.set_exception(failed)
            else:
                fut.set_result(bool(queued))

    async def wake_sender(self, bot: str, user: str) -> None:
        await self.redis.xadd(self.sends, {"b": bot, "u": user})

    # ----- consuming
    async def read(self, stream: str, group: str, consumer: str, count: int, block_ms: int) -> list[Wake]:
        reply = await self.redis.xreadgroup(group, consumer, {stream: ">"}, count=count, block=block_ms)
        return [Wake(_s(eid), _s(f[b"b"]), _s(f[b"u"])) for _, entries in reply or [] for eid, f in entries]

    async def reclaim(self, stream: str, group: str, consumer: str, idle_ms: int, count: int = 100) -> list[Wake]:
        """Entries another consumer took but did not finish within `idle_ms` (it died)."""
        reply = await self.redis.xautoclaim(stream, group, consumer, min_idle_time=idle_ms, start_id="0-0", count=count)
        entries = reply[1] if reply else []
        return [Wake(_s(eid), _s(f[b"b"]), _s(f[b"u"])) for eid, f in entries if f]

    async def ack(self, stream: str, group: str, *entry_ids: str) -> None:
        if entry_ids:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xack(stream, group, *entry_ids)
                pipe.xdel(stream, *entry_ids)
                await pipe.execute()

    async def head(self, bot: str, user: str, what: str = "in") -> dict[str, Any] | None:
        raw = await self.redis.lindex(self.key(bot, user, what), 0)
        return wire.loads(raw) if raw is not None else None

    async def all(self, bot: str, user: str, what: str) -> list[dict[str, Any]]:
        return [wire.loads(raw) for raw in await self.redis.lrange(self.key(bot, user, what), 0, -1)]

    async def commit_turn(self, bot: str, user: str, session: bytes, ttl: float, outbound: list[dict[str, Any]], popped: int = 1,
                          log_rows: list[dict[str, Any]] | None = None) -> tuple[int, int]:
        """Save the session, queue the turn's messages and drop its event(s), all or nothing
        (with the messaging log's rows, when there is a log). Returns how many events are left
        in the user's inbox and messages in the outbox, read in the same transaction. Applied
        once, however often the client sends it (see the module docstring)."""
        keys = [self.key(bot, user, "s"), self.key(bot, user, "out"), self.key(bot, user, "in"),
                self.key(bot, user, "commits"), self.log]
        items = [wire.dumps(o) for o in outbound]
        rows = [wire.dumps(r) for r in log_rows or []]
        left, out = await self._commit(keys=keys, args=[new_id(), session, int(ttl * 1000), popped, len(items),
                                                        *items, *rows])
        return int(left), int(out)

    # ----- outbox
    async def replace_head(self, bot: str, user: str, item: dict[str, Any]) -> bool:
        """Put `item` (its retry count raised, or its template) in place of the outbox head, only
        while the head is still that item (by id); False when it no longer was (a sender whose
        lease ran out must not overwrite the message its successor has moved on to)."""
        return bool(await self._replace_head(keys=[self.key(bot, user, "out")], args=[str(item.get("id", "")), wire.dumps(item)]))

    async def pop_sent(self, bot: str, user: str, log_row: dict[str, Any] | None = None, item_id: str = "") -> bool:
        """Take the sent message off the outbox, with its messaging-log row: only while the head
        is still item `item_id`, when given; False when it no longer was."""
        row = wire.dumps(log_row) if log_row is not None else ""
        return bool(await self._pop_head(keys=[self.key(bot, user, "out"), self.log], args=[item_id, row, ""]))

    async def retry_later(self, bot: str, user: str, at: float) -> None:
        await self.redis.zadd(self.retry, {f"{bot}|{user}": at})

    async def due_retries(self, now: float, limit: int = 500) -> list[tuple[str, str]]:
        members = await self.redis.zrangebyscore(self.retry, "-inf", now, start=0, num=limit)
        if not members:
            return []
        await self.redis.zrem(self.retry, *members)
        return [tuple(_s(m).split("|", 1)) for m in members]  # type: ignore[misc]

    async def dead_letter(self, bot: str, user: str, item: dict[str, Any], error: str) -> bool:
        """Move the outbox head, item `item`, to the dead-letter queue (`flowbot dlq`); once.
        False when the head was no longer that item."""
        record = {"id": uuid.uuid4().hex[:12], "bot": bot, "user": user, "item": item, "error": error, "at": time.time()}
        return bool(await self._pop_head(keys=[self.key(bot, user, "out"), self.dlq],
                                         args=[str(item.get("id", "")), json.dumps(record, ensure_ascii=False), record["id"]]))


_ID_PREFIX = secrets.token_hex(6)  # this process's: ids from two processes never meet
_ID_COUNTER = itertools.count(1)


def new_id() -> str:
    """A unique id for an outbox item, a commit or a lock token: this process's random prefix and
    a counter (uniqueness is all they need; uuid4 for each was ~1% of a loaded worker)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):x}"


def one_per_user(wakes: list[Wake]) -> tuple[list[Wake], list[str]]:
    """Several wakes of one user in a batch: the first of each user, and the others' entry ids
    (to acknowledge at once: the user is drained to the end anyway)."""
    seen: dict[tuple[str, str], Wake] = {}
    extra: list[str] = []
    for wake in wakes:
        if (wake.bot, wake.user) in seen:
            extra.append(wake.entry_id)
        else:
            seen[(wake.bot, wake.user)] = wake
    return list(seen.values()), extra


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
