"""The dead-letter queue: messages the sender gave up on, kept for an operator to look at,
send again or drop (`flowbot dlq list|retry|drop`)."""

from __future__ import annotations

import json
from typing import Any

from engine.delivery.queue import RedisQueue


async def entries(queue: RedisQueue) -> list[dict[str, Any]]:
    raw = await queue.redis.hvals(queue.dlq)
    return sorted((json.loads(r) for r in raw), key=lambda e: e["at"])


async def retry(queue: RedisQueue, entry_id: str) -> bool:
    """Put the message back at the front of its user's outbox and wake a sender."""
    raw = await queue.redis.hget(queue.dlq, entry_id)
    if raw is None:
        return False
    entry = json.loads(raw)
    item = {**entry["item"], "n": 0}
    async with queue.redis.pipeline(transaction=True) as pipe:
        pipe.lpush(queue.key(entry["bot"], entry["user"], "out"), json.dumps(item, separators=(",", ":"), ensure_ascii=False))
        pipe.hdel(queue.dlq, entry_id)
        await pipe.execute()
    await queue.wake_sender(entry["bot"], entry["user"])
    return True


async def drop(queue: RedisQueue, entry_id: str) -> bool:
    return bool(await queue.redis.hdel(queue.dlq, entry_id))
