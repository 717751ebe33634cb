"""Fixtures of the payments tests: the Flutterwave fake, a shop bot, a real PostgreSQL with the
migrations, a real Redis for the queue, and the web app served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import _servers
import pytest
from fakes.flutterwave import FlutterwaveFake
from payments_support import BOT, MAIN, PAID, SECRET_HASH, Served

from engine.deployment import Deployment
from engine.store.postgres import PostgresStore
from engine.web import build_app


@pytest.fixture
async def flw(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FlutterwaveFake]:
    async with FlutterwaveFake() as fake:
        monkeypatch.setenv("FLUTTERWAVE_BASE_URL", fake.url)
        monkeypatch.setenv("FLUTTERWAVE_SECRET_KEY", fake.secret_key)
        monkeypatch.setenv("FLUTTERWAVE_SECRET_HASH", SECRET_HASH)
        monkeypatch.delenv("DATABASE_URL", raising=False)
        yield fake


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    bot = tmp_path / "flows" / "shop"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text(BOT)
    (bot / "main.yaml").write_text(MAIN)
    (bot / "paid.yaml").write_text(PAID)
    (tmp_path / "locales" / "shop").mkdir(parents=True)
    (tmp_path / "locales" / "shop" / "en.yaml").write_text("{}\n")
    return bot


@pytest.fixture
async def served(shop: Path, pg_store: PostgresStore, redis_url: str, redis_prefix: str,
                 flw: FlutterwaveFake) -> AsyncIterator[Served]:
    deployment = Deployment.open([shop], redis_url, redis_prefix)
    deployment.store = pg_store
    for host in deployment.bots.values():
        host.runtime.services["db"] = pg_store
    try:
        async with _servers.serving(build_app(deployment)) as url:
            yield Served(url, deployment, pg_store)
    finally:
        if deployment.store is pg_store:
            deployment.store = None  # pg_store closes itself; one the app opened closes with the deployment
        await deployment.close()
