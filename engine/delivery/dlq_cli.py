"""`flowbot dlq list|retry|drop`: the operator's view of the dead-letter queue."""

from __future__ import annotations

import datetime as dt

import redis.asyncio as aioredis

from engine.delivery import dlq
from engine.delivery.queue import RedisQueue
from engine.logmask import mask_phone


async def run_dlq(action: str, entry: str | None, prefix: str) -> int:
    from engine.serve import redis_url

    client = aioredis.Redis.from_url(redis_url()[0])
    queue = RedisQueue(client, prefix)
    try:
        if action == "list":
            found = await dlq.entries(queue)
            for e in found:
                when = dt.datetime.fromtimestamp(e["at"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
                item = e["item"].get("o", {})
                what = item.get("text") or item.get("kind", "?")
                print(f"{e['id']}  {when}  {e['bot']}  {mask_phone(e['user'])}  {what[:40]!r}  {e['error']}")
            print(f"{len(found)} message(s) in the dead-letter queue")
            return 0
        if action in ("retry", "drop"):
            if not entry:
                print(f"flowbot dlq {action}: give an entry id (from `flowbot dlq list`) or `all`")
                return 2
            ids = [e["id"] for e in await dlq.entries(queue)] if entry == "all" else [entry]
            done = 0
            for entry_id in ids:
                done += await (dlq.retry(queue, entry_id) if action == "retry" else dlq.drop(queue, entry_id))
            print(f"{action}: {done} of {len(ids)} message(s)")
            return 0 if done == len(ids) else 1
        print("flowbot dlq: the action is list, retry or drop")
        return 2
    finally:
        await client.aclose()
