"""Running a deployment: the web app (`flowbot serve`) and the workers (`flowbot worker`).

`flowbot worker` runs, in one event loop: the turn worker, the sender, and the timer scheduler
(which turns due reminders into inbox events, so timers are processed in order with messages).
Run as many worker processes as you like against one Redis. `flowbot serve` runs the web app;
with `--with-worker` (the default on the embedded Redis) it runs the workers in the same
process, which is all a laptop needs. With no REDIS_URL and no DATABASE_URL it also starts the
embedded PostgreSQL (.flowbot/postgres), migrates it and stops it on exit: the embedded default.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from engine.delivery.sender import Sender
from engine.delivery.turns import TurnWorker
from engine.deployment import Deployment, lock_lease_ms

if TYPE_CHECKING:
    from engine.store.embedded import EmbeddedPostgres

log = logging.getLogger("flowbot.serve")


def redis_url() -> tuple[str, bool]:
    """REDIS_URL, or the embedded Redis; and whether it is the embedded one."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url, False
    from engine import embedded

    return embedded.start(), True


def embedded_database() -> EmbeddedPostgres | None:
    """The embedded default's PostgreSQL (.flowbot/postgres): started, migrated, and exported as
    DATABASE_URL, which every part of serve reads (messaging log, consent, `db`, `storage`,
    payments and media routes). None, with a warning that says how to get one, when it cannot
    start (no server binaries on a bare machine, say): serve then runs without the store."""
    from engine.store.embedded import (
        DEFAULT_DIRECTORY,
        HOWTO,
        EmbeddedPostgres,
        EmbeddedPostgresError,
    )
    from engine.store.migrate import migrate

    server = EmbeddedPostgres(DEFAULT_DIRECTORY)
    try:
        url = server.start()
    except EmbeddedPostgresError as exc:
        how = "" if HOWTO in str(exc) else f"; to get a store: {HOWTO}"
        log.warning("the PostgreSQL store is off (no messaging log, consent records, db, storage or payments "
                    "actions): the embedded PostgreSQL did not start: %s%s", exc, how)
        return None
    try:
        migrate(url)
    except BaseException:
        if server.started_here:
            server.stop()
        raise
    os.environ["DATABASE_URL"] = url
    log.info("embedded PostgreSQL in %s (%s)", server.directory,
             "started" if server.started_here else "already running")
    return server


async def schedule_timers(deployment: Deployment, stop: asyncio.Event, every: float = 1.0) -> None:
    """Due reminders and expiries become `timer` events in the users' inboxes (deduplicated by
    due time, so several schedulers may run)."""
    import time

    from engine.delivery._consumer import UNREACHABLE

    while not stop.is_set():
        now = time.time()
        try:
            for name in deployment.bots:
                key = f"{deployment.prefix}:{name}:due"
                for user, due in await deployment.redis.zrangebyscore(key, "-inf", now, start=0, num=500, withscores=True):
                    user = user.decode()
                    await deployment.queue.enqueue(name, user, {"k": "timer"}, f"timer:{due}")
        except UNREACHABLE as exc:  # Redis restarting: the due timers are still there next round
            log.warning("timers: redis unreachable (%s); trying again", type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass


def loops(deployment: Deployment) -> list[object]:
    runtimes = {name: host.runtime for name, host in deployment.bots.items()}
    adapters = {name: host.adapter for name, host in deployment.bots.items()}
    accounts = {name: host.account for name, host in deployment.bots.items()}
    # a wake-up a dead process left pending is taken over after FLOWBOT_VISIBILITY_MS; its user's
    # turn and send locks free themselves after FLOWBOT_LOCK_LEASE_MS (docs/operations.md, "Tuning")
    visibility = int(os.environ.get("FLOWBOT_VISIBILITY_MS", "30000"))
    sender = Sender(deployment.queue, adapters, deployment.records, deployment.throughput(), accounts,
                    concurrency=int(os.environ.get("FLOWBOT_SEND_CONCURRENCY", "64")), visibility_ms=visibility,
                    lease_ms=lock_lease_ms())
    worker = TurnWorker(deployment.queue, runtimes, concurrency=int(os.environ.get("FLOWBOT_TURN_CONCURRENCY", "64")),
                        visibility_ms=visibility, sender=sender)
    return [worker, sender]


async def run_workers(deployment: Deployment, stop: asyncio.Event) -> None:
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops(deployment)]  # type: ignore[attr-defined]
    tasks.append(asyncio.create_task(schedule_timers(deployment, stop)))
    store = media = None
    import aiohttp

    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))  # ActionContext.http: one pool for all plugins
    for host in deployment.bots.values():
        host.runtime.services["http"] = http
    if os.environ.get("DATABASE_URL"):
        from actions.storage.service import MediaStorage
        from engine.delivery.logship import LogShipper
        from engine.store.postgres import PostgresStore

        store = await PostgresStore.open(os.environ["DATABASE_URL"])
        tasks.append(asyncio.create_task(LogShipper(deployment.redis, deployment.prefix, store).run(stop)))
        media = MediaStorage.for_bots(store, deployment.bots)  # the `storage` plugin: files users send

        async def forget(bot: str, user: str) -> None:
            await store.forget_user(bot, user, reason="the user asked (delete my data)")

        for host in deployment.bots.values():
            host.runtime.forgetters.append(forget)
            host.runtime.forgetters.append(media.forget)  # their stored files, rows and access log
            host.runtime.consent = store  # STOP/START recorded; proactive starts checked against it
            host.runtime.services["db"] = store  # the `db` action plugin's connections
            host.runtime.services["storage"] = media
    try:
        await asyncio.gather(*tasks)
    finally:
        await http.close()
        if media is not None:
            await media.close()
        if store is not None:
            await store.close()


def worker_main(bot_dirs: list[Path], prefix: str) -> None:
    from engine.logmask import configure_logging

    configure_logging()
    url, _ = redis_url()
    deployment = Deployment.open(bot_dirs, url, prefix)
    tune_gc()
    from engine.metrics import serve_worker_metrics

    metrics_port = serve_worker_metrics()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if metrics_port is not None:
            log.info("worker metrics on port %d (GET /metrics)", metrics_port)
        log.info("worker running for %s", ", ".join(deployment.bots))
        try:
            await run_workers(deployment, stop)
        finally:
            await deployment.close()

    asyncio.run(main())


def serve_main(bot_dirs: list[Path], host: str, port: int, prefix: str, with_worker: bool | None) -> None:
    from engine.logmask import configure_logging

    configure_logging()
    url, embedded = redis_url()
    # uvicorn ends a graceful shutdown on SIGTERM by raising the signal again, which would kill the
    # process past every `finally` and atexit hook (the embedded servers' stop): make it an exit
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    database = embedded_database() if embedded and not os.environ.get("DATABASE_URL") else None
    try:
        _serve(Deployment.open(bot_dirs, url, prefix), host, port, embedded if with_worker is None else with_worker)
    finally:
        if database is not None and database.started_here:  # one another process started is its to stop
            database.stop()
            log.info("embedded PostgreSQL stopped")


def tune_gc() -> None:
    """Once loaded: what was imported and built at start-up (bots, templates, modules) is frozen
    out of the cyclic collector's scans, and the youngest generation is collected every
    FLOWBOT_GC_THRESHOLD allocations (CPython's default: 700). A message allocates thousands of
    short-lived objects that reference counting frees; at the default the collector ran several
    times per message, walking the same young objects again."""
    import gc

    gc.freeze()
    threshold = int(os.environ.get("FLOWBOT_GC_THRESHOLD", "50000"))
    if threshold > 0:
        _, second, third = gc.get_threshold()
        gc.set_threshold(threshold, second, third)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _serve(deployment: Deployment, host: str, port: int, inline: bool) -> None:
    from contextlib import asynccontextmanager

    import uvicorn

    from engine.logmask import MaskingFilter
    from engine.web import build_app

    app = build_app(deployment)

    @asynccontextmanager
    async def lifespan(_app):  # type: ignore[no-untyped-def]
        stop = asyncio.Event()
        task = asyncio.create_task(run_workers(deployment, stop)) if inline else None
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            await deployment.close()

    app.router.lifespan_context = lifespan
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # access lines carry query strings
        logging.getLogger(name).addFilter(MaskingFilter())
    tune_gc()
    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("FLOWBOT_LOG_LEVEL", "info").lower(), log_config=None)
