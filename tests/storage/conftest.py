"""Fixtures of the storage tests: the Graph fake on loopback (media downloads through the real
Graph client), a real PostgreSQL with the migrations, a fake clock for URL expiry, the storage
service on each backend (a local directory; an S3 bucket on moto's server, a local fake
speaking S3's HTTP API), and the real web app served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import _servers
import pytest
from fakes.graph import GraphFake
from storage_support import BOT, BOT_YAML, SECRET, Served, s3_backend

from actions.storage.backends import Backend, LocalBackend
from actions.storage.service import MediaStorage
from actions.storage.signing import UrlSigner
from engine.channels.whatsapp import GraphClient
from engine.clock import FakeClock
from engine.deployment import Deployment
from engine.store.postgres import PostgresStore
from engine.web import build_app


@pytest.fixture
async def graph() -> AsyncIterator[GraphFake]:
    async with GraphFake() as fake:
        yield fake


@pytest.fixture
async def graph_client(graph: GraphFake) -> AsyncIterator[GraphClient]:
    async with GraphClient("token", "123", base_url=graph.url) as client:
        yield client


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path, pg_store: PostgresStore, clock: FakeClock,
                  graph_client: GraphClient) -> AsyncIterator[MediaStorage]:
    """The storage service on each backend, with Graph downloads for the bot `test`."""
    backend: Backend
    if request.param == "local":
        backend = LocalBackend(tmp_path / "media")
    else:
        backend = await s3_backend(request.getfixturevalue("moto_s3"))
    service = MediaStorage(backend, pg_store, signer=UrlSigner([SECRET], clock), clock=clock,
                           sources={BOT: graph_client})
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
def bot_dir(tmp_path: Path) -> Path:
    bot = tmp_path / "flows" / "test"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text(BOT_YAML)
    (bot / "main.yaml").write_text("flow: main\nstart: hi\nsteps:\n  hi:\n    say: hi\n    end: true\n")
    (tmp_path / "locales" / "test").mkdir(parents=True)
    (tmp_path / "locales" / "test" / "en.yaml").write_text("{}\n")
    return bot


@pytest.fixture
async def served(storage: MediaStorage, bot_dir: Path, redis_url: str, redis_prefix: str) -> AsyncIterator[Served]:
    """flowbot's web app on uvicorn on loopback, its media routes on `storage`; URLs start there."""
    deployment = Deployment.open([bot_dir], redis_url, redis_prefix)
    app = build_app(deployment)
    app.state.media_storage = storage
    try:
        async with _servers.serving(app) as url:
            storage.base_url = url
            yield Served(url, storage)
    finally:
        await deployment.close()
