"""The faults the product promises to survive, with real processes, real Redis and real HTTP on
loopback: a worker killed with SIGKILL mid-load, Redis stopped and started again mid-load, the
Graph API failing (500s, then answering too late), and the WhatsApp token rotated by an operator.

Each test runs `flowbot serve flows/demo --no-worker` and `flowbot worker flows/demo` processes,
posts signed webhooks for many users (per user in order, re-posted until answered 200, as Meta
does), waits until the deployment is quiet, and then reads every user's replies back from the
Graph fake: each reply exactly once and in order. The only copies a check may excuse are the
ones docs/operations.md ("What can be sent twice") says may be sent twice, and each test says
which. Helpers: tests/integration/_load.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import redis.asyncio as aioredis
from _load import (
    Load,
    LoadFake,
    OwnRedis,
    Stack,
    User,
    consumers,
    make_users,
    pending_of,
    settle,
    verify,
)

pytestmark = pytest.mark.redis

# Takeover within seconds: a dead process's wake-ups are reclaimed after 2 s, its users' locks
# free after 3 s (production: 30 s each). Sends are not held back by the per-number rate.
FAST = {"FLOWBOT_VISIBILITY_MS": "2000", "FLOWBOT_LOCK_LEASE_MS": "3000", "FLOWBOT_SEND_RATE": "1000"}


@pytest.fixture
async def fake() -> AsyncIterator[LoadFake]:
    graph = LoadFake()
    await graph.start()
    try:
        yield graph
    finally:
        await graph.stop()


@pytest.fixture
def stacks() -> Iterator[Callable[..., Stack]]:
    """Make Stacks; every process they started is ended and their folders removed, pass or fail."""
    made: list[Stack] = []

    def make(redis_url: str, prefix: str, fake_url: str, **env: str) -> Stack:
        stack = Stack(redis_url, prefix, fake_url, {**FAST, **env})
        made.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in made:
            stack.close()


@pytest.fixture
async def own_redis(request: pytest.FixtureRequest) -> AsyncIterator[OwnRedis]:
    server = OwnRedis(fsync=request.param)
    try:
        server.start()
        yield server
    finally:
        server.close()


async def client_for(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url)


def total_replies(users: list) -> int:  # type: ignore[type-arg]
    return sum(len(r) for u in users for r in u.replies)


async def until(condition: Callable[[], object], timeout: float, what: str, every: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


async def test_a_worker_killed_mid_load_loses_and_doubles_nothing(fake, stacks, redis_url, redis_prefix) -> None:  # type: ignore[no-untyped-def]
    """50 users x 3 rounds = 450 webhooks, 600 replies (each user writes every 0.1 s); two
    workers. Once a third of the webhooks are in, 20 more users send one "hi" each and never
    write again (nothing but a takeover will finish a turn of theirs the dead worker held);
    as soon as those are acknowledged and the first worker holds at least 5 wake-ups it has not
    finished (turns or sends), it is SIGKILLed and a third worker starts; the 50 keep writing.
    Every reply exactly once and in order, except a copy Graph accepted that the dead sender
    had not recorded (it is sent again: "What can be sent twice"): such copies must have been
    accepted before the kill (or within 0.5 s of it, from requests already sent)."""
    client = await client_for(redis_url)
    try:
        stack = stacks(redis_url, redis_prefix, fake.url)
        base = await stack.serve()
        await stack.worker("w1")
        # a first user, served by w1 alone, makes w1's turn worker and sender known by name
        warm = make_users(1, 1, uuid.uuid4().hex[:8])
        await Load(base, warm).run()
        await settle(fake, warm, client, redis_prefix, timeout=20, quiet=0)
        victim = await consumers(client, redis_prefix)
        assert {name[0] for name in victim} == {"w", "s"}, victim
        await stack.worker("w2")
        users = make_users(50, 3, uuid.uuid4().hex[:8])
        tail = [User(u.wa_id, u.posts[:1], u.replies[:1]) for u in make_users(20, 1, uuid.uuid4().hex[:8])]
        load = Load(base, users, gap=0.1)
        started = time.monotonic()
        running = asyncio.create_task(load.run())
        try:
            held = 0

            async def holding() -> bool:
                nonlocal held
                held = await pending_of(client, redis_prefix, victim)
                return held >= 5

            await until(lambda: load.acked >= load.total // 3 or running.done(), 30, "a third of the webhooks")
            await Load(base, tail).run()
            await until(holding, 5, "the victim holding 5 wake-ups", every=0.002)
            assert not running.done(), "every webhook was posted before the worker could be killed"
            killed_at = time.monotonic()
            stack.kill("w1")
            killed_after = len(fake.accepted), load.acked
            await stack.worker("w3")
            await asyncio.wait_for(running, 40)
        finally:
            running.cancel()
        users += tail
        waited = await settle(fake, users, client, redis_prefix, timeout=40)
        verdict = await verify(fake, users, client, redis_prefix, excuses=frozenset({"resent"}))
        assert verdict, "\n".join(verdict.problems[:10]) + "\n" + stack.logs()
        # a copy sent twice is one the dead worker had sent and not yet recorded: accepted by
        # Graph before the kill (or just after, from requests already on the wire)
        late = [(a.summary[:30], round(a.at - killed_at, 3)) for a in verdict.extra if a.at > killed_at + 0.5]
        assert not late, f"copies sent twice that the dead worker cannot have sent: {late}"
        assert set(load.statuses) == {"200"}, load.statuses
        assert await pending_of(client, redis_prefix, victim) == 0, "the dead worker's wake-ups were never taken over"
        assert stack.alive("w2") and stack.alive("w3") and stack.alive("serve"), stack.logs()
        print(f"\nkilled w1 holding {held} wake-up(s) after {killed_after[0]}/{total_replies(users)} replies, "
              f"{killed_after[1]}/{load.total} webhooks; "
              f"{len(verdict.extra)} copy(ies) sent twice; done in {time.monotonic() - started:.1f}s "
              f"(settled {waited:.1f}s)")
    finally:
        await client.aclose()


@pytest.mark.parametrize(("own_redis", "stop"), [("everysec", "shutdown"), ("always", "crash")],
                         ids=["everysec-shutdown", "always-crash"], indirect=["own_redis"])
async def test_redis_restarted_mid_load_loses_and_doubles_nothing(fake, stacks, own_redis, stop) -> None:  # type: ignore[no-untyped-def]
    """Its own Redis, configured as docs/operations.md tells operators (appendonly yes, no
    eviction); 40 users x 3 rounds = 360 webhooks, 480 replies. Once a third of the webhooks are
    in, Redis goes away for 2 s and is started again on the same port and folder:
    - everysec-shutdown: `appendfsync everysec` (the recommended setting), stopped with SIGTERM,
      Redis's SHUTDOWN, which writes and fsyncs the append-only file first (a restart, an
      upgrade);
    - always-crash: `appendfsync always`, the Redis process SIGKILLed. With everysec this case
      fails now and then, rightly: under load Redis answers writes it has not yet written to
      the file (it postpones the write while a background fsync runs, up to 2 s), a crash loses
      them, and lost outbox removals are replies sent twice (docs/operations.md).
    Meanwhile the web app answers 503 and the load re-posts; the workers ride it out. Every
    reply exactly once, in order."""
    prefix = "fbfault"
    client = await client_for(own_redis.url)
    try:
        # No worker dies here, so locks need not free early. The lease must outlast the outage
        # plus the client's reconnecting (redis-py retries for ~5 s): a sender still settling a
        # send made before the outage must stay the only one on its user. With 6 s this test
        # failed 2 times in 9 (one reply sent twice, by two senders): docs/operations.md, "Tuning".
        stack = stacks(own_redis.url, prefix, fake.url, FLOWBOT_LOCK_LEASE_MS="15000")
        base = await stack.serve()
        await stack.worker("w1")
        await stack.worker("w2")
        users = make_users(40, 3, uuid.uuid4().hex[:8])
        load = Load(base, users, gap=0.25)
        started = time.monotonic()
        running = asyncio.create_task(load.run())
        try:
            await until(lambda: load.acked >= load.total // 3 or running.done(), 30, "a third of the webhooks")
            assert not running.done(), "every webhook was posted before Redis could be stopped"
            own_redis.shutdown() if stop == "shutdown" else own_redis.kill()
            down_after = len(fake.accepted), load.acked
            await asyncio.sleep(2.0)
            own_redis.start()
            await asyncio.wait_for(running, 45)
        finally:
            running.cancel()
        waited = await settle(fake, users, client, prefix, timeout=40)
        verdict = await verify(fake, users, client, prefix)
        assert verdict, "\n".join(verdict.problems[:10]) + "\n" + stack.logs()
        refused = {status: n for status, n in load.statuses.items() if status != "200"}
        assert refused, f"the outage never reached the web app: {load.statuses}"
        assert "500" not in refused, f"a 500 while Redis was down (want 503): {load.statuses}\n" + stack.logs("serve")
        assert stack.alive("w1") and stack.alive("w2") and stack.alive("serve"), stack.logs()
        print(f"\nRedis down after {down_after[0]} replies / {down_after[1]} acks; posts answered {dict(load.statuses)}; "
              f"done in {time.monotonic() - started:.1f}s (settled {waited:.1f}s)")
    finally:
        await client.aclose()


async def test_graph_failing_then_too_slow_then_back(fake, stacks, redis_url, redis_prefix) -> None:  # type: ignore[no-untyped-def]
    """40 users x 3 rounds = 360 webhooks, 480 replies; sends time out after 1 s. Once a quarter
    of the webhooks are in, Graph answers the next 40 requests 500; then, for 2 s, answers every
    request 2.5 s late without taking it (GraphFake.delay: the sender has given up and left, the
    fake records nothing); then, for 2 s, takes every message at once but answers 2.5 s late
    (`stall`: Graph has the message, the sender does not know); then recovers. Sends are retried
    with backoff. A 500 or a request never taken is never a duplicate: exactly once. A message
    taken but answered too late is sent again: those late copies, and only those, are excused
    (at least once, in order)."""
    client = await client_for(redis_url)
    try:
        stack = stacks(redis_url, redis_prefix, fake.url, FLOWBOT_SEND_TIMEOUT="1")
        base = await stack.serve()
        await stack.worker("w1")
        await stack.worker("w2")
        users = make_users(40, 3, uuid.uuid4().hex[:8])
        load = Load(base, users, gap=0.3)
        started = time.monotonic()
        running = asyncio.create_task(load.run())
        try:
            await until(lambda: load.acked >= load.total // 4 or running.done(), 30, "a quarter of the webhooks")
            assert not running.done(), "every webhook was posted before Graph could fail"
            fake.fail_next(40, status=500)
            await until(lambda: fake.answers[500] >= 40, 20, "Graph's 40 500s to be used up")
            fake.delay(2.5)
            await asyncio.sleep(2.0)
            fake.delay(0)
            fake.stall(2.5)
            await asyncio.sleep(2.0)
            fake.stall(0)
            await asyncio.wait_for(running, 30)
        finally:
            running.cancel()
        waited = await settle(fake, users, client, redis_prefix, timeout=45, quiet=3.0)
        verdict = await verify(fake, users, client, redis_prefix, excuses=frozenset({"late"}), late_after=1.0)
        assert verdict, "\n".join(verdict.problems[:10]) + "\n" + stack.logs()
        late = [a for a in fake.accepted if a.took >= 1.0]
        assert fake.dropped, "no send timed out before Graph took it: the delay phase tested nothing"
        assert late, "no send was taken and answered too late: the stall phase tested nothing"
        assert set(load.statuses) == {"200"}, load.statuses
        print(f"\nGraph answered {dict(fake.answers)}, {fake.dropped} request(s) given up before Graph read them, "
              f"{len(late)} accepted after the client's timeout, {len(verdict.extra)} extra copies; "
              f"done in {time.monotonic() - started:.1f}s (settled {waited:.1f}s)")
    finally:
        await client.aclose()


async def test_an_expired_token_rotated_by_the_operator(fake, stacks, redis_url, redis_prefix) -> None:  # type: ignore[no-untyped-def]
    """30 users x 2 rounds = 180 webhooks, 240 replies. Once a quarter of the replies went out,
    Graph stops accepting token-1; sends fail with 401 / 190 until the operator, 1.5 s later,
    sets token-2 in `{prefix}:wa:token`. Every reply exactly once, in order (a 401 is never
    accepted, so nothing is excused), and everything after the rotation went with token-2."""
    client = await client_for(redis_url)
    try:
        stack = stacks(redis_url, redis_prefix, fake.url)
        base = await stack.serve()
        await stack.worker("w1")
        await stack.worker("w2")
        users = make_users(30, 3, uuid.uuid4().hex[:8])
        load = Load(base, users, gap=0.3)
        started = time.monotonic()
        running = asyncio.create_task(load.run())
        try:
            await until(lambda: load.acked >= load.total // 4 or running.done(), 30, "a quarter of the webhooks")
            assert not running.done(), "every webhook was posted before the token expired"
            fake.expire_token("token-2")
            await asyncio.sleep(1.5)
            await client.set(f"{redis_prefix}:wa:token", "token-2")
            await asyncio.wait_for(running, 30)
        finally:
            running.cancel()
        waited = await settle(fake, users, client, redis_prefix, timeout=40)
        verdict = await verify(fake, users, client, redis_prefix)
        assert verdict, "\n".join(verdict.problems[:10]) + "\n" + stack.logs()
        assert fake.answers[401] > 0, "no send was refused: the expiry tested nothing"
        assert fake.messages[-1].authorization == "Bearer token-2"
        assert set(load.statuses) == {"200"}, load.statuses
        print(f"\n{fake.answers[401]} send(s) refused with the old token; done in {time.monotonic() - started:.1f}s "
              f"(settled {waited:.1f}s)")
    finally:
        await client.aclose()


@pytest.mark.postgres
async def test_the_log_shipper_killed_mid_load_loses_and_doubles_no_row(fake, stacks, redis_url, redis_prefix,  # type: ignore[no-untyped-def]
                                                                       postgres_db) -> None:
    """The messaging log on PostgreSQL (DATABASE_URL); 30 users x 3 rounds = 270 webhooks, 360
    replies; two workers, one of which ships the log (the lease names its pid). Once a third of
    the webhooks are in, that worker is SIGKILLed, with whatever rows it had read and not yet
    trimmed, and a third worker starts; another worker takes the lease over (10 s). Once quiet:
    every message in once, every reply out once, each with the wamid Graph gave it, and nothing
    left in Redis's `{p}:log`."""
    import psycopg

    from engine.store.migrate import migrate

    migrate(postgres_db)
    client = await client_for(redis_url)
    try:
        stack = stacks(redis_url, redis_prefix, fake.url, DATABASE_URL=postgres_db)
        base = await stack.serve()
        await stack.worker("w1")
        await stack.worker("w2")
        holder: list[str] = []

        async def shipping() -> bool:
            lease = (await client.get(f"{redis_prefix}:log:shipper") or b"").decode()
            holder[:] = [name for name, proc in stack.procs.items() if lease.split("/")[1:2] == [str(proc.pid)]]
            return bool(holder)

        await until(shipping, 10, "a worker to take the shipper's lease")
        users = make_users(30, 3, uuid.uuid4().hex[:8])
        load = Load(base, users, gap=0.1)
        running = asyncio.create_task(load.run())
        try:
            await until(lambda: load.acked >= load.total // 3 or running.done(), 30, "a third of the webhooks")
            assert not running.done(), "every webhook was posted before the shipper could be killed"
            stack.kill(holder[0])
            await stack.worker("w3")
            await asyncio.wait_for(running, 40)
        finally:
            running.cancel()
        await settle(fake, users, client, redis_prefix, timeout=40)
        verdict = await verify(fake, users, client, redis_prefix, excuses=frozenset({"resent"}))
        assert verdict, "\n".join(verdict.problems[:10]) + "\n" + stack.logs()
        await until(lambda: _log_empty(client, redis_prefix), 30, "the next shipper to ship what was left")
        async with await psycopg.AsyncConnection.connect(postgres_db) as conn:
            cur = await conn.execute("SELECT user_id, direction, provider_message_id, item_id FROM messages WHERE bot = 'demo'")
            rows = await cur.fetchall()
        problems = []
        for user in users:
            mine = [r for r in rows if r[0] == user.wa_id]
            ins = sorted(r[2] for r in mine if r[1] == "in")
            outs = [r for r in mine if r[1] == "out"]
            posted = sorted(json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]["id"] for body in user.posts)
            wamids = {a.wamid for a in fake.for_user(user.wa_id)}
            if ins != posted:
                problems.append(f"{user.wa_id}: messages in {ins}, posted {posted}")
            if len(outs) != len(user.expected()) or len({r[3] for r in outs}) != len(outs):
                problems.append(f"{user.wa_id}: {len(outs)} replies logged ({len({r[3] for r in outs})} items), "
                                f"{len(user.expected())} expected")
            if not all(r[2] in wamids for r in outs):
                problems.append(f"{user.wa_id}: a reply logged without the wamid Graph gave it: {[r[2] for r in outs]}")
        assert not problems, "\n".join(problems[:10]) + "\n" + stack.logs()
        print(f"\nkilled the shipper {holder[0]}; {len(rows)} rows, {len(verdict.extra)} copy(ies) sent twice")
    finally:
        await client.aclose()


async def _log_empty(client: aioredis.Redis, prefix: str) -> bool:
    return int(await client.llen(f"{prefix}:log")) == 0
