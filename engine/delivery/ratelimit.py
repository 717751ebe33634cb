"""Sending throughput per business number (WhatsApp: 80 messages/s by default), shared by every
sender process through one token bucket in Redis."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

# KEYS: bucket. ARGV: rate per second, burst. Returns ms to wait (0 = a token was taken).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], 60000)
return wait
"""


class Throughput:
    def __init__(self, redis: aioredis.Redis, prefix: str = "fb", rate: float = 80.0, burst: float | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.rate = rate
        self.burst = burst if burst is not None else rate
        self._take = redis.register_script(_TAKE)

    async def acquire(self, account: str) -> None:
        """Wait until the number `account` may send one more message."""
        while True:
            wait_ms = int(await self._take(keys=[f"{self.prefix}:tp:{account}"], args=[self.rate, self.burst]))
            if wait_ms <= 0:
                return
            await asyncio.sleep(wait_ms / 1000)
