"""Answer caching: in Redis when the host injected one (`ctx.services["redis"]`), else in a small
in-process LRU. Keys carry the bot, the language, the FAQ's version hash and the normalized
question, so an edited FAQ is never answered from the old one. A Redis failure is logged and
treated as a miss: the cache only saves money, it must not fail an answer."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from redis.exceptions import RedisError

from actions.ai import text as tx

log = logging.getLogger("flowbot.actions.ai")
LRU_SIZE = 512


def cache_key(prefix: str, bot: str, lang: str, version: str, question: str, *mode: object) -> str:
    """`{prefix}:ai:answer:{bot}:{lang}:{faq version}:{hash of the normalized question and the mode}`."""
    digest = hashlib.sha256("\x1f".join(map(str, (tx.normalize(question), *mode))).encode()).hexdigest()[:32]
    return f"{prefix}:ai:answer:{bot}:{lang}:{version}:{digest}"


class LocalCache:
    """A least-recently-used map with expiry, for one process."""

    def __init__(self, size: int = LRU_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    def set(self, key: str, value: str, ttl: float) -> None:
        self._items[key] = (time.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


LOCAL = LocalCache()


class AnswerCache:
    def __init__(self, redis: Any = None, ttl: int = 86_400) -> None:
        self.redis, self.ttl = redis, ttl

    async def get(self, key: str) -> dict[str, Any] | None:
        raw: Any
        if self.redis is None:
            raw = LOCAL.get(key)
        else:
            try:
                raw = await self.redis.get(key)
            except (RedisError, OSError) as exc:  # a miss, not a failure
                log.warning("answer cache read failed: %s", exc)
                return None
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def set(self, key: str, value: Mapping[str, Any]) -> None:
        raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if self.redis is None:
            LOCAL.set(key, raw, self.ttl)
            return
        try:
            await self.redis.set(key, raw, ex=self.ttl)
        except (RedisError, OSError) as exc:
            log.warning("answer cache write failed: %s", exc)
