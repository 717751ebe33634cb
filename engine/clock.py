"""Time as a dependency: the runtime never calls `time.time()` itself, so tests can move it."""

from __future__ import annotations

import time
from datetime import datetime, timezone


class Clock:
    """The wall clock, in seconds since the epoch."""

    def now(self) -> float:
        return time.time()

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)


class FakeClock(Clock):
    """A clock that only moves when told to (transcripts, benchmarks, tests)."""

    def __init__(self, start: float = 1_767_600_000.0) -> None:  # 2026-01-05T08:00:00Z
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds

    def set(self, when: float) -> None:
        self._now = when
