"""Fixtures of the payments tests: the Flutterwave fake, a shop bot, a real PostgreSQL with the
migrations, a real Redis for the queue, and the web app served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
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
    config = uvicorn.Config(build_app(deployment), host="127.0.0.1", port=0, lifespan="off", log_config=None,
                            access_log=False)
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # the test runner owns signals
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", deployment, pg_store)
    finally:
        server.should_exit = True
        await task
        if deployment.store is pg_store:
            deployment.store = None  # pg_store closes itself; one the app opened closes with the deployment
        await deployment.close()
