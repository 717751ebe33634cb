"""Benchmark-only switches, loaded through PYTHONPATH by bench/e2e_load.py for every system it
starts; nothing in the product imports this.

BENCH_STACK=std hides uvloop and httptools, so uvicorn (flowbot, the bare app, pywa alike) runs
on asyncio's own loop and h11, as on an install without them.

An experiment (bench/e2e_load.py, system flowbot-nost): flowbot's Redis client
without redis-py's default socket_timeout (5 s since redis-py 6). With a socket timeout set,
redis-py sends every command through asyncio.wait_for, which on Python 3.11 creates a Task per
command. Loaded through PYTHONPATH only by that system; nothing in the product imports it."""

import os

if os.environ.get("BENCH_REDIS_SOCKET_TIMEOUT") == "none":
    from redis.asyncio import connection

    _from_url = connection.ConnectionPool.from_url.__func__  # type: ignore[attr-defined]

    def from_url(cls, url, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("socket_timeout", None)
        return _from_url(cls, url, **kwargs)

    connection.ConnectionPool.from_url = classmethod(from_url)  # type: ignore[method-assign]

if os.environ.get("BENCH_STACK") == "std":
    import sys

    sys.modules["uvloop"] = None  # type: ignore[assignment]  # import uvloop -> ImportError
    sys.modules["httptools"] = None  # type: ignore[assignment]
