"""Shared fixtures. Each concern keeps its own headed section; add yours below the last."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

# The tests import the project from the work tree even when it is not installed into the venv,
# and tests/ helper modules (_servers) whatever pytest's import mode.
_TESTS = Path(__file__).resolve().parent
for _path in (str(_TESTS), str(_TESTS.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import _servers  # noqa: E402

from engine.runtime.redis_store import RedisStore  # noqa: E402


# ─── Redis ──────────────────────────────────────────────────────────────────────────────────
# `redis_url` (session): a Redis to test against, found or started by tests/_servers.py; skips
# with instructions when there is none. `redis_prefix` (function): a fresh key prefix whose keys
# are deleted after the test. `redis_store` (function): a RedisStore on that prefix.
# Mark tests that use them with @pytest.mark.redis.


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get(_servers.REDIS_URL_ENV)
    if url:
        if not _servers.redis_answers(url, timeout=2.0):
            pytest.fail(f"{_servers.REDIS_URL_ENV}={url} does not answer PING")
        yield url
        return
    binary = _servers.find_redis_server()
    if binary is not None:
        server = _servers.start_redis(binary, tmp_path_factory.mktemp("redis"))
        try:
            yield server.url
        finally:
            server.stop()
        return
    if _servers.redis_answers(_servers.DEFAULT_REDIS_URL):
        yield _servers.DEFAULT_REDIS_URL
        return
    pytest.skip(_servers.REDIS_HOWTO)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"fbtest-{uuid.uuid4().hex}"
    yield prefix
    with redis.Redis.from_url(redis_url) as r:
        keys = list(r.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            r.delete(*keys)


@pytest.fixture
async def redis_store(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_url(redis_url, prefix=redis_prefix)
    try:
        yield store
    finally:
        await store.close()


# ─── PostgreSQL ─────────────────────────────────────────────────────────────────────────────
# `postgres_url` (session): a PostgreSQL server to test against, found or started by
# tests/_servers.py; skips with instructions when there is none. `postgres_db` (function): the
# conninfo of a fresh, empty database of this test's own (fbtest_<uuid>), dropped after it.
# `pg_store` (function): a PostgresStore on a fresh database with the migrations applied.
# Mark tests that use them with @pytest.mark.postgres.

from engine.store.postgres import PostgresStore  # noqa: E402


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get(_servers.DATABASE_URL_ENV)
    if url:
        if not _servers.postgres_answers(url, timeout=3.0):
            pytest.fail(f"{_servers.DATABASE_URL_ENV}={url} does not answer")
        yield url
        return
    if _servers.postgres_answers(_servers.DEFAULT_DATABASE_URL):
        yield _servers.DEFAULT_DATABASE_URL
        return
    server = _servers.start_postgres()
    if server is None:
        pytest.skip(_servers.POSTGRES_HOWTO)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    conninfo = _servers.create_database(postgres_url)
    try:
        yield conninfo
    finally:
        _servers.drop_database(postgres_url, conninfo)


@pytest.fixture
async def pg_store(postgres_db: str) -> AsyncIterator[PostgresStore]:
    from engine.store.migrate import migrate

    migrate(postgres_db)
    store = await PostgresStore.open(postgres_db, max_size=4)
    try:
        yield store
    finally:
        await store.close()
