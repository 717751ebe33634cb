"""The SessionStore contract, run on every backend; then what only Redis promises (leases, other
clients, other processes)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing

import pytest

from engine.runtime.redis_store import LockTimeout, RedisStore
from engine.runtime.store import MemoryStore, SessionStore

BOT = "shop"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> SessionStore:
    if request.param == "memory":
        return MemoryStore()
    redis_store: RedisStore = request.getfixturevalue("redis_store")
    return redis_store


async def bump(store: SessionStore, user: str = "u1", locked: bool = True) -> None:
    """Read-modify-write of a counter document, yielding to other tasks in between."""

    async def step() -> None:
        n = int(await store.load(BOT, user) or b"0")
        await asyncio.sleep(0)
        await store.save(BOT, user, str(n + 1).encode(), ttl=60)

    if locked:
        async with store.lock(BOT, user):
            await step()
    else:
        await step()


async def count(store: SessionStore, user: str = "u1") -> int:
    return int(await store.load(BOT, user) or b"0")


# ─── documents ──────────────────────────────────────────────────────────────────────────────


async def test_load_missing_is_none(store: SessionStore) -> None:
    assert await store.load(BOT, "nobody") is None


async def test_save_load_round_trip(store: SessionStore) -> None:
    doc = b'{"step": "menu", "raw": "\x00\xff"}'
    await store.save(BOT, "u1", doc, ttl=60)
    assert await store.load(BOT, "u1") == doc
    await store.save(BOT, "u1", b"{}", ttl=60)
    assert await store.load(BOT, "u1") == b"{}"


async def test_keys_are_per_bot_and_user(store: SessionStore) -> None:
    await store.save(BOT, "u1", b"a", ttl=60)
    await store.save(BOT, "u2", b"b", ttl=60)
    await store.save("other", "u1", b"c", ttl=60)
    assert [await store.load(b, u) for b, u in [(BOT, "u1"), (BOT, "u2"), ("other", "u1")]] == [
        b"a", b"b", b"c"]


async def test_delete(store: SessionStore) -> None:
    await store.save(BOT, "u1", b"x", ttl=60)
    await store.save(BOT, "u2", b"y", ttl=60)
    await store.delete(BOT, "u1")
    await store.delete(BOT, "never-saved")
    assert await store.load(BOT, "u1") is None
    assert await store.load(BOT, "u2") == b"y"


async def test_ttl_expiry(store: SessionStore) -> None:
    if isinstance(store, MemoryStore):
        pytest.skip("MemoryStore does not enforce TTL (the runtime's restart_after covers it)")
    await store.save(BOT, "u1", b"x", ttl=0.2)
    await store.save(BOT, "u2", b"y", ttl=60)
    assert await store.load(BOT, "u1") == b"x"
    await asyncio.sleep(0.35)
    assert await store.load(BOT, "u1") is None
    assert await store.load(BOT, "u2") == b"y"


# ─── due index ──────────────────────────────────────────────────────────────────────────────


async def test_due_order_and_limit(store: SessionStore) -> None:
    for user, due in [("c", 30.0), ("a", 10.0), ("b", 20.0), ("late", 100.0)]:
        await store.schedule(BOT, user, due)
    await store.schedule("other", "x", 1.0)
    assert await store.due(BOT, now=5.0) == []
    assert await store.due(BOT, now=10.0) == ["a"]  # at `now` counts as due
    assert await store.due(BOT, now=50.0) == ["a", "b", "c"]
    assert await store.due(BOT, now=50.0, limit=2) == ["a", "b"]
    assert await store.due(BOT, now=50.0) == ["a", "b", "c"]  # due() does not remove
    await store.schedule(BOT, "a", 40.0)  # rescheduling moves
    assert await store.due(BOT, now=50.0) == ["b", "c", "a"]
    await store.schedule(BOT, "b", None)
    await store.schedule(BOT, "never-scheduled", None)
    assert await store.due(BOT, now=1000.0) == ["c", "a", "late"]


async def test_delete_clears_due(store: SessionStore) -> None:
    await store.save(BOT, "u1", b"x", ttl=60)
    await store.schedule(BOT, "u1", 10.0)
    await store.schedule(BOT, "u2", 20.0)
    await store.delete(BOT, "u1")
    assert await store.due(BOT, now=100.0) == ["u2"]


# ─── lock ───────────────────────────────────────────────────────────────────────────────────


async def test_counter_without_lock_loses_updates(store: SessionStore) -> None:
    """The harness of the next test does detect a race: unlocked, updates are lost."""
    await asyncio.gather(*(bump(store, locked=False) for _ in range(20)))
    assert await count(store) < 20


async def test_lock_excludes_concurrent_turns(store: SessionStore) -> None:
    await asyncio.gather(*(bump(store) for _ in range(20)))
    assert await count(store) == 20


async def test_locks_of_different_users_do_not_block_each_other(store: SessionStore) -> None:
    async with store.lock(BOT, "a"):
        async with asyncio.timeout(0.05):
            async with store.lock(BOT, "b"):
                pass
        async with asyncio.timeout(0.05):
            async with store.lock("other", "a"):
                pass


async def test_lock_is_released_when_the_turn_fails(store: SessionStore) -> None:
    with pytest.raises(ValueError):
        async with store.lock(BOT, "u1"):
            raise ValueError("turn failed")
    async with asyncio.timeout(0.1):
        async with store.lock(BOT, "u1"):
            pass


async def test_waiters_get_the_lock_in_arrival_order(store: SessionStore) -> None:
    order: list[int] = []

    async def waiter(i: int) -> None:
        async with store.lock(BOT, "u1"):
            order.append(i)

    async with store.lock(BOT, "u1"):
        tasks = []
        for i in range(5):
            tasks.append(asyncio.create_task(waiter(i)))
            await asyncio.sleep(0.03)  # let it join the line before the next arrives
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


# ─── Redis only: other clients, leases, waiters that go away ────────────────────────────────

redis_only = pytest.mark.redis


@redis_only
async def test_two_clients_exclude_each_other(
    redis_store: RedisStore, redis_url: str, redis_prefix: str
) -> None:
    other = RedisStore.from_url(redis_url, prefix=redis_prefix)
    try:
        async with redis_store.lock(BOT, "u1"):
            with pytest.raises(LockTimeout):
                async with other.lock(BOT, "u1", wait=0.1):
                    pass
        await asyncio.gather(*(bump(s) for _ in range(10) for s in (redis_store, other)))
        assert await count(other) == 20
    finally:
        await other.close()


@redis_only
async def test_lock_timeout(redis_store: RedisStore) -> None:
    loop = asyncio.get_running_loop()
    async with redis_store.lock(BOT, "u1"):
        start = loop.time()
        with pytest.raises(LockTimeout, match="shop:u1") as raised:
            async with redis_store.lock(BOT, "u1", wait=0.1):
                pass
        assert isinstance(raised.value, TimeoutError)
        assert 0.09 <= loop.time() - start < 1.0
    # The timed-out waiter left the line: the next one is not kept waiting behind it.
    async with asyncio.timeout(0.15):
        async with redis_store.lock(BOT, "u1"):
            pass


@redis_only
async def test_dead_holder_blocks_only_until_its_lease_ends(redis_store: RedisStore) -> None:
    loop = asyncio.get_running_loop()
    dead = redis_store.lock(BOT, "u1", lease=0.2)
    await dead.__aenter__()  # and never exits: the process holding it died
    start = loop.time()
    async with redis_store.lock(BOT, "u1", wait=2):
        waited = loop.time() - start
    assert 0.1 <= waited < 1.0


@redis_only
async def test_stale_holder_does_not_release_its_successor(
    redis_store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    successor_holds = asyncio.Event()
    stale_done = asyncio.Event()

    async def stale() -> None:
        async with redis_store.lock(BOT, "u1", lease=0.2):
            await successor_holds.wait()  # overruns its lease; the successor gets the lock
        stale_done.set()

    async def successor() -> None:
        await asyncio.sleep(0.02)
        async with redis_store.lock(BOT, "u1", wait=2):
            successor_holds.set()
            await stale_done.wait()  # the stale holder has "released" by now
            with pytest.raises(LockTimeout):
                async with redis_store.lock(BOT, "u1", wait=0.1):
                    pass

    with caplog.at_level(logging.WARNING, logger="engine.runtime.redis_store"):
        await asyncio.gather(stale(), successor())
    assert "expired before release" in caplog.text


@redis_only
async def test_cancelled_waiter_leaves_the_line(redis_store: RedisStore) -> None:
    async with redis_store.lock(BOT, "u1"):
        gone = asyncio.create_task(bump(redis_store))
        await asyncio.sleep(0.03)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        nxt = asyncio.create_task(bump(redis_store))
        await asyncio.sleep(0.03)
    async with asyncio.timeout(0.15):  # far below waiter_ttl (2 s): not queued behind `gone`
        await nxt
    assert await count(redis_store) == 1


@redis_only
async def test_dead_waiter_leaves_the_line_after_waiter_ttl(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisStore.from_url(redis_url, prefix=redis_prefix, waiter_ttl=0.2)
    loop = asyncio.get_running_loop()
    try:
        keys = [store._key(BOT, "u1", k) for k in ("lock", "lockq", "lockw")]
        async with store.lock(BOT, "u1"):
            # A waiter joins the line and its process dies (so it never polls or leaves again).
            assert await store._acquire(keys=keys, args=["dead-waiter", 30_000, 200]) == 0
        start = loop.time()
        async with store.lock(BOT, "u1", wait=2):
            waited = loop.time() - start
        assert 0.05 <= waited < 1.0
    finally:
        await store.close()


# ─── Redis only: separate OS processes ──────────────────────────────────────────────────────


async def _bump_many(url: str, prefix: str, n: int) -> None:
    store = RedisStore.from_url(url, prefix=prefix)
    try:
        for _ in range(n):
            await bump(store)
    finally:
        await store.close()


def _bump_in_process(url: str, prefix: str, n: int) -> None:
    asyncio.run(_bump_many(url, prefix, n))


@redis_only
async def test_lock_excludes_other_processes(redis_url: str, redis_prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_bump_in_process, args=(redis_url, redis_prefix, 50))
             for _ in range(4)]
    for p in procs:
        p.start()
    loop = asyncio.get_running_loop()
    for p in procs:
        await loop.run_in_executor(None, p.join, 120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = RedisStore.from_url(redis_url, prefix=redis_prefix)
    try:
        assert await count(store) == 200
    finally:
        await store.close()
