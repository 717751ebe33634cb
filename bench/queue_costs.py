"""What one message costs to pass through a durable queue with per-user order, three ways, on one
core: CPU per message (this client process plus the server's processes) and wall time.

- flowbot: the Redis queue as the product uses it (engine/delivery/queue.py): enqueue (stream
  wake-up + dedup script + the user's inbox), XREADGROUP, the inbox head, the commit
  transaction (session + outbox + pop), ack. Without the user lock, the turn and the sender.
- stream: a plain Redis stream with a consumer group: XADD the payload, XREADGROUP, XACK+XDEL.
  At-least-once, but no per-user order across consumers and no dedup.
- postgres: a PostgreSQL job table worked the way procrastinate 3 does (its statements,
  approximated here: procrastinate itself is not installed): INSERT with a per-user `lock`
  and NOTIFY, a fetch that skips jobs whose lock has an earlier job todo/doing (FOR UPDATE SKIP
  LOCKED), then the job marked succeeded; with synchronous_commit on (every enqueue waits for
  the WAL on disk) and off (comparable to Redis appendfsync everysec).

    python bench/queue_costs.py [--messages 3000] [--users 200] [--concurrency 16] [--cpu 1]

Redis runs without persistence and with appendonly everysec; PostgreSQL is a private embedded
server (engine/store/embedded.py) in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLK = os.sysconf("SC_CLK_TCK")


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK
        except OSError:
            pass
    return total


def event(n: int, user: str) -> dict[str, object]:
    return {"k": "in", "m": {"user": user, "kind": "text", "text": "A1234", "message_id": f"wamid.q{n:09d}",
                             "name": "Amina", "extra": {"account": "1122334455667"}}, "t": time.time()}


async def run_jobs(n: int, users: int, concurrency: int, one) -> float:  # type: ignore[no-untyped-def]
    """`one(i, user)` n times, `concurrency` at a time; returns wall seconds."""
    sem = asyncio.Semaphore(concurrency)

    async def go(i: int) -> None:
        async with sem:
            await one(i, f"2547{i % users:08d}")

    t = time.perf_counter()
    await asyncio.gather(*(go(i) for i in range(n)))
    return time.perf_counter() - t


async def redis_cases(args: argparse.Namespace, aof: bool) -> list[tuple[str, float, float, float]]:
    import redis.asyncio as aioredis
    from redis.exceptions import ResponseError

    from engine.delivery.queue import RedisQueue

    folder = Path(tempfile.mkdtemp(prefix="qc-redis-"))
    sock = folder / "r.sock"
    persist = ["--appendonly", "yes", "--appendfsync", "everysec"] if aof else ["--appendonly", "no"]
    proc = subprocess.Popen(["taskset", "-c", args.cpu, shutil.which("redis-server") or "redis-server", "--port", "0",
                             "--unixsocket", str(sock), "--save", "", "--dir", str(folder), *persist],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = aioredis.Redis(unix_socket_path=str(sock))
    for _ in range(100):
        try:
            await client.ping()
            break
        except Exception:  # noqa: BLE001 - starting
            await asyncio.sleep(0.05)
    results = []
    try:
        queue = RedisQueue(client, "qc")
        await queue.setup()

        async def flowbot(i: int, user: str) -> None:
            await queue.enqueue("shop", user, event(i, user), f"wamid.q{i:09d}")
            wakes = await queue.read(queue.turns, "workers", "c1", 1, 1000)
            for wake in wakes:
                head = await queue.head(wake.bot, wake.user)
                if head is not None:
                    await queue.commit_turn(wake.bot, wake.user, b'{"l":"en","k":[]}', 3600, [{"id": "x", "o": {"text": "hi"}}], 1)
                    await client.lpop(queue.key(wake.bot, wake.user, "out"))  # the sender's pop, roughly
                await queue.ack(queue.turns, "workers", wake.entry_id)

        with contextlib.suppress(ResponseError):  # BUSYGROUP: made by an earlier case
            await client.xgroup_create("qc:plain", "g", id="0", mkstream=True)

        async def stream(i: int, user: str) -> None:
            await client.xadd("qc:plain", {"u": user, "e": json.dumps(event(i, user))})
            reply = await client.xreadgroup("g", "c1", {"qc:plain": ">"}, count=1, block=1000)
            for _, entries in reply or []:
                for eid, _fields in entries:
                    async with client.pipeline(transaction=False) as pipe:
                        pipe.xack("qc:plain", "g", eid)
                        pipe.xdel("qc:plain", eid)
                        await pipe.execute()

        for name, case in (("flowbot queue", flowbot), ("plain stream", stream)):
            await run_jobs(200, args.users, args.concurrency, case)  # warm
            c0, s0 = time.process_time(), cpu_of([proc.pid])
            wall = await run_jobs(args.messages, args.users, args.concurrency, case)
            cpu_client, cpu_server = time.process_time() - c0, cpu_of([proc.pid]) - s0
            label = f"redis {'aof everysec' if aof else 'no persistence'}: {name}"
            results.append((label, cpu_client / args.messages, cpu_server / args.messages, wall / args.messages))
    finally:
        await client.aclose()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    return results


SCHEMA = """
CREATE TABLE IF NOT EXISTS qc_jobs (
  id bigserial PRIMARY KEY, queue_name text NOT NULL, task_name text NOT NULL, lock text,
  args jsonb NOT NULL, status text NOT NULL DEFAULT 'todo', scheduled_at timestamptz,
  attempts int NOT NULL DEFAULT 0, worker_id bigint);
CREATE INDEX IF NOT EXISTS qc_jobs_fetch ON qc_jobs (queue_name, id) WHERE status = 'todo';
CREATE INDEX IF NOT EXISTS qc_jobs_lock ON qc_jobs (lock, id) WHERE status IN ('todo', 'doing');
TRUNCATE qc_jobs;
"""
FETCH = """
WITH candidate AS (
  SELECT jobs.id FROM qc_jobs AS jobs
  WHERE jobs.status = 'todo' AND jobs.queue_name = 'turns'
    AND NOT EXISTS (SELECT 1 FROM qc_jobs AS earlier WHERE jobs.lock IS NOT NULL AND earlier.lock = jobs.lock
                    AND earlier.status IN ('todo', 'doing') AND earlier.id < jobs.id)
  ORDER BY jobs.id LIMIT 1 FOR UPDATE OF jobs SKIP LOCKED)
UPDATE qc_jobs SET status = 'doing', attempts = attempts + 1, worker_id = 1
FROM candidate WHERE qc_jobs.id = candidate.id RETURNING qc_jobs.id, qc_jobs.args
"""


async def postgres_cases(args: argparse.Namespace) -> list[tuple[str, float, float, float]]:
    import psycopg
    from psycopg.types.json import Jsonb

    from engine.store import embedded

    folder = Path(tempfile.mkdtemp(prefix="qc-pg-"))
    os.sched_setaffinity(0, {int(args.cpu)})  # the server inherits it
    server = embedded.EmbeddedPostgres(folder)
    url = server.start()
    results = []
    try:
        for sync in ("on", "off"):
            conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(args.concurrency)]
            await conns[0].execute(SCHEMA)
            for c in conns:
                await c.execute(f"SET synchronous_commit = {sync}")
            free: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
            for c in conns:
                free.put_nowait(c)
            pids = [c.info.backend_pid for c in conns]

            async def job(i: int, user: str, free: asyncio.Queue[psycopg.AsyncConnection] = free) -> None:
                conn = await free.get()
                try:
                    async with conn.transaction():  # defer: the insert and its notification
                        await conn.execute("INSERT INTO qc_jobs (queue_name, task_name, lock, args) VALUES ('turns', 'turn', %s, %s)",
                                           (user, Jsonb(event(i, user))))
                        await conn.execute("NOTIFY qc_jobs")
                    row = await (await conn.execute(FETCH)).fetchone()
                    if row is not None:
                        await conn.execute("UPDATE qc_jobs SET status = 'succeeded' WHERE id = %s", (row[0],))
                finally:
                    free.put_nowait(conn)

            await run_jobs(200, args.users, args.concurrency, job)
            c0, s0 = time.process_time(), cpu_of(pids)
            wall = await run_jobs(args.messages, args.users, args.concurrency, job)
            cpu_client, cpu_server = time.process_time() - c0, cpu_of(pids) - s0
            results.append((f"postgres synchronous_commit={sync}: procrastinate-style job",
                            cpu_client / args.messages, cpu_server / args.messages, wall / args.messages))
            for c in conns:
                await c.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return results


async def main_async(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {int(args.cpu)})
    rows = await redis_cases(args, aof=False) + await redis_cases(args, aof=True)
    if not args.no_postgres:
        rows += await postgres_cases(args)
    print(f"{args.messages} messages, {args.users} users, {args.concurrency} at a time, client and servers on cpu {args.cpu}")
    print(f"{'queue':<62} {'client CPU':>11} {'server CPU':>11} {'wall/msg':>9}")
    for label, client, server, wall in rows:
        print(f"{label:<62} {client * 1e6:>8.0f} µs {server * 1e6:>8.0f} µs {wall * 1e6:>6.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cpu", default="1")
    parser.add_argument("--no-postgres", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
