"""Sending throughput per business number (WhatsApp: 80 messages/s by default), shared by every
sender process through one token bucket in Redis."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

# KEYS: bucket. ARGV: rate per second, burst, tokens (1 if absent). Takes the tokens now or reserves the next one free
# (the bucket goes below zero) and returns the ms to wait before using it (0 = now): each
# sender asks once and sleeps exactly until its turn, in the order they asked, instead of every
# waiting sender asking again and again (at 80/s with 64 senders waiting, that polling took a
# whole core and let late askers overtake early ones).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000) - (tonumber(ARGV[3]) or 1)
local wait = 0
if tokens < 0 then wait = math.ceil(-tokens * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], 60000 + wait)
return wait
"""


class Throughput:
    def __init__(self, redis: aioredis.Redis, prefix: str = "fb", rate: float = 80.0, burst: float | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self._take = redis.register_script(_TAKE)

    async def acquire(self, account: str, n: int = 1) -> None:
        """Wait until the number `account` may send `n` more messages (their reserved turn: the
        last one's; the others' came earlier, so none goes out before its slot)."""
        wait_ms = int(await self._take(keys=[f"{self.prefix}:tp:{account}"], args=[self.rate, self.burst, n]))
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)
