"""Fixtures of the storage tests: the Graph fake on loopback (media downloads through the real
Graph client), a real PostgreSQL with the migrations, a fake clock for URL expiry, the storage
service on each backend (a local directory; an S3 bucket on moto's server, a local fake
speaking S3's HTTP API), and the real web app served by uvicorn on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import _servers
import pytest
from fakes.graph import GraphFake

from actions.storage.backends import Backend, LocalBackend
from actions.storage.service import MediaStorage
from actions.storage.signing import UrlSigner
from engine.channels.whatsapp import GraphClient
from engine.clock import FakeClock
from engine.deployment import Deployment
from engine.store.postgres import PostgresStore
from engine.web import build_app

SECRET = "test-media-secret-0123456789abcdef"
BOT, USER, OTHER = "test", "15550000001", "15550000002"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))

BOT_YAML = """\
bot: test
start: main
languages: [en]
actions: [storage]
"""


@pytest.fixture
async def graph() -> AsyncIterator[GraphFake]:
    async with GraphFake() as fake:
        yield fake


@pytest.fixture
async def graph_client(graph: GraphFake) -> AsyncIterator[GraphClient]:
    async with GraphClient("token", "123", base_url=graph.url) as client:
        yield client


async def upload(client: GraphClient, data: bytes, mime: str, filename: str = "photo") -> str:
    """A file as the user's phone would put it on Graph: the media id an inbound message carries."""
    return await client.upload_media(data, mime, filename)


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


async def s3_backend(endpoint: str, **options: object) -> Backend:
    from actions.storage.s3 import S3Backend

    backend = S3Backend(f"media-{uuid.uuid4().hex[:12]}", endpoint_url=endpoint, region="us-east-1",
                        access_key="testing", secret_key="testing", **options)  # type: ignore[arg-type]
    s3 = await backend._s3()
    await s3.create_bucket(Bucket=backend.bucket)
    return backend


async def bucket_keys(backend: Backend) -> list[str]:
    s3 = await backend._s3()  # type: ignore[attr-defined]
    listed = await s3.list_objects_v2(Bucket=backend.bucket)  # type: ignore[attr-defined]
    return sorted(o["Key"] for o in listed.get("Contents", []))


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


async def stored_bytes(storage: MediaStorage, key: str) -> bytes | None:
    return await storage.backend.get(key)


@dataclass
class Served:
    url: str
    storage: MediaStorage


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
