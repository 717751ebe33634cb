"""engine/redis_packing.py: the bytes on the wire are redis-py's own, and what hiredis cannot take
goes redis-py's way (its encoding, its DataError)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError

from engine.redis_packing import LeanPacking, lean

LeanConnection = lean(Connection)

SAME = [
    ("SET", "k", "v"),
    ("EVAL", "return ARGV[1]", 1, "{fb:shop:255}:s", b"\x00\xffraw", "text é ✓", 0, -7, 2.5, 1e20, 0.1 + 0.2),
    (b"GET", b"key"),
    ("ZADD", "due", 1765000000.123456, "user"),
    ("SET", "big", "x" * 20_000),
]


@pytest.mark.parametrize("args", SAME)
def test_the_packed_bytes_are_redis_pys(args: tuple) -> None:
    assert b"".join(LeanConnection().pack_command(*args)) == b"".join(Connection().pack_command(*args))


def test_the_fast_path_is_taken_for_plain_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Connection, "pack_command", lambda self, *args: pytest.fail("redis-py's path taken"))
    assert LeanConnection().pack_command("GET", "k") == [b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"]


@pytest.mark.parametrize("args", [
    ("CONFIG GET", "maxmemory"),                # a command name with a space: split by redis-py
    ("SET", "k", memoryview(b"value")),         # a memoryview: sent as is by redis-py
    ("SET", "k", bytearray(b"value")),
])
def test_what_hiredis_cannot_take_goes_redis_pys_way(args: tuple) -> None:
    assert b"".join(LeanConnection().pack_command(*args)) == b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize("bad", [True, None, object()])
def test_a_bad_argument_gets_redis_pys_data_error(bad: object) -> None:
    with pytest.raises(DataError):
        LeanConnection().pack_command("SET", "k", bad)


def test_a_lone_surrogate_fails_as_with_redis_py() -> None:
    with pytest.raises(UnicodeEncodeError):
        Connection().pack_command("SET", "k", "\ud800")
    with pytest.raises(UnicodeEncodeError):
        LeanConnection().pack_command("SET", "k", "\ud800")


def test_lean_keeps_the_connection_kind() -> None:
    unix = lean(UnixDomainSocketConnection)
    assert issubclass(unix, UnixDomainSocketConnection) and issubclass(unix, LeanPacking)
    assert lean(unix) is unix


async def test_a_real_redis_round_trip(redis_url: str, redis_prefix: str) -> None:
    pool = aioredis.BlockingConnectionPool.from_url(redis_url)
    pool.connection_class = lean(pool.connection_class)
    client = aioredis.Redis.from_pool(pool)
    try:
        key = f"{redis_prefix}:lean"
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(key, "é ✓ \x00")
            pipe.eval("return {ARGV[1], ARGV[2], redis.call('GET', KEYS[1])}", 1, key, 42, 2.5)
            pipe.zadd(f"{key}:z", {"u": 1765000000.25})
            pipe.zscore(f"{key}:z", "u")
            results = await pipe.execute()
        assert results[1] == [b"42", b"2.5", "é ✓ \x00".encode()]
        assert results[3] == 1765000000.25
        assert isinstance(await client.connection_pool.get_connection(), LeanPacking)
    finally:
        await client.delete(f"{redis_prefix}:lean", f"{redis_prefix}:lean:z")
        await client.aclose()


def test_the_deployment_uses_it(tmp_path: object, redis_url: str) -> None:
    from pathlib import Path

    from engine.deployment import Deployment

    bot = Path(__file__).resolve().parents[2] / "bench" / "bots" / "shop"
    deployment = Deployment.open([bot], redis_url, prefix="leantest")
    assert issubclass(deployment.redis.connection_pool.connection_class, LeanPacking)
