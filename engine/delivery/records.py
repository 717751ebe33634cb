"""The delivery record: what became of each message the bot sent.

Keyed by the provider's message id, so a status webhook (sent, delivered, read, failed) finds
it. Statuses can arrive out of order and more than once: a status only ever moves a record
forward (sent < delivered < read; failed is final). The PostgreSQL messaging log implements the
same interface later; this one keeps records in Redis for 30 days.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import redis.asyncio as aioredis

from engine import wire
from engine.channels.base import Status

RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "played": 3, "failed": 4}
KEEP_SECONDS = 30 * 86400


class DeliveryRecords(Protocol):
    async def sent(self, bot: str, user: str, provider_id: str, item: dict[str, Any]) -> None: ...

    async def status(self, status: Status) -> None: ...

    async def failed(self, bot: str, user: str, item: dict[str, Any], error: str, code: int | None) -> None: ...

    async def get(self, provider_id: str) -> dict[str, Any] | None: ...


# KEYS: record. ARGV: status, rank, time, fields as JSON (set only when the status moves forward),
# retention, and optionally fields as JSON to set whatever the status (who the message was for).
_ADVANCE = """
if ARGV[6] then
  local flat = {}
  for k, v in pairs(cjson.decode(ARGV[6])) do flat[#flat + 1] = k; flat[#flat + 1] = tostring(v) end
  if #flat > 0 then redis.call('HSET', KEYS[1], unpack(flat)) end
end
local current = tonumber(redis.call('HGET', KEYS[1], 'rank') or '-1')
local rank = tonumber(ARGV[2])
if rank > current then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rank', ARGV[2], 'at_' .. ARGV[1], ARGV[3])
  local fields = cjson.decode(ARGV[4])
  for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, tostring(v)) end
else
  redis.call('HSETNX', KEYS[1], 'at_' .. ARGV[1], ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return rank > current and 1 or 0
"""


class RedisDeliveryRecords:
    def __init__(self, redis: aioredis.Redis, prefix: str = "fb") -> None:
        self.redis = redis
        self.prefix = prefix
        self._advance = redis.register_script(_ADVANCE)

    def key(self, provider_id: str) -> str:
        return f"{self.prefix}:dr:{provider_id}"

    async def _move(self, provider_id: str, status: str, at: float, fields: dict[str, Any],
                    always: dict[str, str] | None = None) -> bool:
        result = await self._advance(keys=[self.key(provider_id)], args=_advance_args(status, at, fields, always))
        return bool(result)

    async def sent(self, bot: str, user: str, provider_id: str, item: dict[str, Any]) -> None:
        await self._move(provider_id, "sent", time.time(), {}, always=_who(bot, user, item))  # one round trip, not HSET + script

    def sent_in(self, pipe: Any, bot: str, user: str, provider_id: str, item: dict[str, Any]) -> None:
        """`sent`, as one more command of the caller's pipeline (the sender's batch)."""
        pipe.eval(_ADVANCE, 1, self.key(provider_id), *_advance_args("sent", time.time(), {}, _who(bot, user, item)))

    async def status(self, status: Status) -> None:
        fields: dict[str, Any] = {}
        if status.error_code is not None:
            fields = {"error_code": status.error_code, "error_title": status.error_title[:200]}
        await self._move(status.message_id, status.status, status.timestamp or time.time(), fields)

    async def failed(self, bot: str, user: str, item: dict[str, Any], error: str, code: int | None) -> None:
        key = f"failed:{item.get('id', '')}"
        await self.redis.hset(self.key(key), mapping={"bot": bot, "user": user, "error": error[:500], "error_code": code or ""})
        await self._move(key, "failed", time.time(), {})

    async def get(self, provider_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(self.key(provider_id))
        return {k.decode(): v.decode() for k, v in raw.items()} if raw else None


def _advance_args(status: str, at: float, fields: dict[str, Any], always: dict[str, str] | None) -> list[Any]:
    """_ADVANCE's ARGV (see there)."""
    args: list[Any] = [status, RANK.get(status, 0), at, wire.dumps(fields), KEEP_SECONDS]
    if always:
        args.append(wire.dumps(always))
    return args


def _who(bot: str, user: str, item: dict[str, Any]) -> dict[str, str]:
    out = item.get("o", {})
    fields = {"bot": bot, "user": user, "item": str(item.get("id", "")), "kind": out.get("kind", "text")}
    if out.get("template"):
        fields["template"] = out["template"][0]
    return fields
