"""Where sessions live between turns.

A store keeps one small JSON document per (bot, user), a per-user lock so that two messages of
the same user are never processed interleaved, and an index of when each waiting session is due
(reminders, expiry). The runtime owns the document's meaning; the store only keeps bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol


class SessionStore(Protocol):
    """The contract every store honours (tests/runtime/test_store_contract.py runs it on each)."""

    async def load(self, bot: str, user: str) -> bytes | None:
        """The session document, or None when there is none (never saved, deleted, expired)."""

    async def save(self, bot: str, user: str, doc: bytes, ttl: float) -> None:
        """Replace the document; it disappears `ttl` seconds after the last save."""

    async def delete(self, bot: str, user: str) -> None:
        """Forget the user's session and any due time."""

    def lock(self, bot: str, user: str) -> AsyncIterator[None]:
        """An async context manager held for a whole turn: one holder per (bot, user) at a time,
        across every process sharing the store; waiters get it in arrival order where possible."""

    async def schedule(self, bot: str, user: str, due: float | None) -> None:
        """Set (or clear, with None) when the user's session next needs a timer turn."""

    async def due(self, bot: str, now: float, limit: int = 100) -> list[str]:
        """Users whose due time is at or before `now`, earliest first (not removed)."""

    async def close(self) -> None:
        """Release connections."""


class MemoryStore:
    """Sessions in this process's memory: the embedded default, tests and `flowbot chat`."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, str], bytes] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._due: dict[tuple[str, str], float] = {}

    async def load(self, bot: str, user: str) -> bytes | None:
        return self._docs.get((bot, user))

    async def save(self, bot: str, user: str, doc: bytes, ttl: float) -> None:
        # TTL is not enforced in memory: the runtime's restart_after check covers idle sessions.
        self._docs[(bot, user)] = doc

    async def delete(self, bot: str, user: str) -> None:
        self._docs.pop((bot, user), None)
        self._due.pop((bot, user), None)

    @asynccontextmanager
    async def lock(self, bot: str, user: str) -> AsyncIterator[None]:
        key = (bot, user)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield
        if not lock.locked() and self._locks.get(key) is lock:
            del self._locks[key]

    async def schedule(self, bot: str, user: str, due: float | None) -> None:
        if due is None:
            self._due.pop((bot, user), None)
            return
        self._due[(bot, user)] = due

    async def due(self, bot: str, now: float, limit: int = 100) -> list[str]:
        found = sorted((t, u) for (b, u), t in self._due.items() if b == bot and t <= now)
        return [u for _, u in found[:limit]]

    async def close(self) -> None:
        return None
