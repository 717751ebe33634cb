"""Sessions in Redis: the production store, shared by every web and worker process.

Keys (each user's keys carry one Redis Cluster hash tag, so they share a slot and a Lua script
may touch them together):

    {prefix}:{bot:user}:s       the session document (SET ... PX ttl)
    {prefix}:{bot:user}:lock    the lock: the holder's random token, PX lease
    {prefix}:{bot:user}:lockq   the lock's waiting line: sorted set, token -> ticket (arrival order)
    {prefix}:{bot:user}:lockw   when each waiter stops counting as alive: token -> deadline (ms)
    {prefix}:{bot}:due          one sorted set per bot: user -> due time

The lock is a fair (FIFO) lease lock, after Redisson's fair lock. A waiter runs one atomic
script per poll: it drops waiters not heard from for `waiter_ttl` (they died), joins the line if
absent (ticket = last ticket + 1), refreshes its own deadline, and takes the lock only when the
lock key is free *and* it is at the head of the line. Waiters poll with short sleeps (1 ms,
doubling to 20 ms, back to 1 ms whenever they move up the line). Times come from Redis's own
clock (TIME), so process clocks need not agree.
- Safety needs only the lock key: SET with a random token, released by a script that deletes it
  only while it still holds that token, so a holder whose lease ran out cannot free its
  successor's lock (it logs a warning instead).
- A crashed holder blocks others for at most `lease` (default 30 s): a turn must finish within it.
- A crashed waiter blocks the line for at most `waiter_ttl` (default 2 s); a cancelled or timed
  out waiter leaves the line at once. A live waiter stalled longer than `waiter_ttl` only loses
  its place in the line, never exclusion.
- A waiter that cannot get the lock within `wait` (default 60 s) raises LockTimeout.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import AbstractAsyncContextManager, suppress
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

# KEYS: lock, line, alive. ARGV: token, lease ms, waiter ttl ms.
# Returns -1 when the lock was taken, else the caller's 0-based place in the line.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local before = string.format('(%d', now)
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', before)
for _, w in ipairs(dead) do redis.call('ZREM', KEYS[2], w) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', before) end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  local ticket = 1
  if last[2] then ticket = tonumber(last[2]) + 1 end
  redis.call('ZADD', KEYS[2], ticket, ARGV[1])
end
redis.call('ZADD', KEYS[3], string.format('%d', now + ttl), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('ZRANGE', KEYS[2], 0, 0)[1] == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return -1
end
return redis.call('ZRANK', KEYS[2], ARGV[1])
"""

# KEYS: lock, line, alive. ARGV: token. Leaves the line; frees the lock if this token holds it.
_RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class LockTimeout(TimeoutError):
    """The user's lock could not be had within the store's wait."""


class RedisStore:
    """SessionStore on redis-py asyncio (a client with decode_responses=False)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str = "fb",
        *,
        lease: float = 30.0,
        wait: float = 60.0,
        waiter_ttl: float = 2.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self.lease = lease
        self.wait = wait
        self.waiter_ttl = waiter_ttl
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)

    @classmethod
    def from_url(cls, url: str, prefix: str = "fb", **options: Any) -> RedisStore:
        """A store on a new client for `url`; `options` are the store's (lease, wait, waiter_ttl)."""
        return cls(aioredis.Redis.from_url(url), prefix, **options)

    def _key(self, bot: str, user: str, kind: str) -> str:
        return f"{self._prefix}:{{{bot}:{user}}}:{kind}"

    def _due_key(self, bot: str) -> str:
        return f"{self._prefix}:{bot}:due"

    async def load(self, bot: str, user: str) -> bytes | None:
        doc: bytes | None = await self._redis.get(self._key(bot, user, "s"))
        return doc

    async def save(self, bot: str, user: str, doc: bytes, ttl: float) -> None:
        await self._redis.set(self._key(bot, user, "s"), doc, px=max(1, round(ttl * 1000)))

    async def delete(self, bot: str, user: str) -> None:
        # Two slots under Redis Cluster, so a plain pipeline rather than MULTI.
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(self._key(bot, user, "s"))
            pipe.zrem(self._due_key(bot), user)
            await pipe.execute()

    def lock(
        self, bot: str, user: str, *, lease: float | None = None, wait: float | None = None
    ) -> AbstractAsyncContextManager[None]:
        """The user's fair lock (see the module docstring); `lease`/`wait` override the store's."""
        return _Lock(self, bot, user, self.lease if lease is None else lease,
                     self.wait if wait is None else wait)

    async def schedule(self, bot: str, user: str, due: float | None) -> None:
        if due is None:
            await self._redis.zrem(self._due_key(bot), user)
        else:
            await self._redis.zadd(self._due_key(bot), {user: due})

    async def due(self, bot: str, now: float, limit: int = 100) -> list[str]:
        found = await self._redis.zrangebyscore(self._due_key(bot), "-inf", now, start=0, num=limit)
        return [u.decode() if isinstance(u, bytes) else u for u in found]

    async def close(self) -> None:
        await self._redis.aclose()


class _Lock(AbstractAsyncContextManager[None]):
    def __init__(self, store: RedisStore, bot: str, user: str, lease: float, wait: float) -> None:
        self._store, self._bot, self._user = store, bot, user
        self._keys = [store._key(bot, user, k) for k in ("lock", "lockq", "lockw")]
        self._lease_ms = max(1, round(lease * 1000))
        self._wait = wait
        self._token = secrets.token_hex(16)

    async def __aenter__(self) -> None:
        store, loop = self._store, asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        args = [self._token, self._lease_ms, max(1, round(store.waiter_ttl * 1000))]
        delay, place = 0.001, -1
        try:
            while True:
                now_place = int(await store._acquire(keys=self._keys, args=args))
                if now_place < 0:
                    return
                if place >= 0 and now_place < place:
                    delay = 0.001  # moved up the line: the lock is changing hands, look sooner
                place = now_place
                left = deadline - loop.time()
                if left <= 0:
                    raise LockTimeout(
                        f"lock for {self._bot}:{self._user} not acquired within {self._wait:g} s"
                    )
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 0.02)
        except BaseException:
            # Leave the line, and free the lock should the script have granted it unseen. If
            # Redis is unreachable, the line forgets us after waiter_ttl anyway.
            with suppress(Exception):
                await store._release(keys=self._keys, args=[self._token])
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not await self._store._release(keys=self._keys, args=[self._token]):
            log.warning(
                "lock for %s:%s expired before release (lease %d ms): the turn overran its lease",
                self._bot, self._user, self._lease_ms,
            )
