"""Fixtures of the ai plugin's tests: the OpenAI fake, and online/offline switches."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.openai import OpenAIFake


def _clean_ai_state() -> None:
    from actions.ai import cache, faq

    cache.LOCAL.clear()
    faq._CACHE.clear()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No OPENAI_API_KEY: the ai plugin uses its offline fallbacks."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    _clean_ai_state()
    yield
    _clean_ai_state()


@pytest.fixture
async def openai_fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpenAIFake]:
    """A started OpenAIFake, and the environment pointing the real openai client at it."""
    async with OpenAIFake() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        _clean_ai_state()
        yield fake
        _clean_ai_state()


FAQ = str((Path(__file__).parent / "data" / "faq.yaml").resolve())
PRODUCTS = [
    "maize",
    {"name": "beans", "synonyms": {"it": ["fagioli"], "sw": ["maharagwe"]}},
    {"name": "tomatoes", "synonyms": {"it": ["pomodori"], "sw": ["nyanya"]}},
]


@pytest.fixture
def ai_context():  # type: ignore[no-untyped-def]
    """make(lang="en", services=None, **settings.ai) -> an ActionContext of the `market` test bot,
    on a fake clock at Monday 2026-01-05 11:00 in Nairobi."""
    from engine.clock import FakeClock
    from engine.runtime.actions import ActionContext

    def make(lang: str = "en", services: dict | None = None, **ai: object) -> ActionContext:  # type: ignore[type-arg]
        settings = {"currency": "KES", "timezone": "Africa/Nairobi", "ai": {"products": PRODUCTS, "faq": FAQ, **ai}}
        return ActionContext(bot="market", user="254700000001", lang=lang, slots={}, settings=settings,
                             idempotency_key="idem-1", flow="main", step="ask",
                             services={"clock": FakeClock(), **(services or {})})

    return make


@pytest.fixture
async def pg_pool(postgres_db: str) -> AsyncIterator[Any]:
    """An autocommit psycopg pool on a fresh database of this test's own (the db plugin's
    `services["db"]`); each test module creates its tables on it."""
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(postgres_db, min_size=1, max_size=2, open=False, kwargs={"autocommit": True})
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()
