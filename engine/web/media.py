"""GET /media/<token> (private files, signed URLs) and GET /media/public/<id> (public files).

Private: the token must carry a valid signature (FLOWBOT_MEDIA_SECRET) and must not have
expired, else 403; an object that is not there (any more) is 404. Every request, granted or
refused, writes a row in `media_access_log` (actions/storage/service.py). Files are sent with
`nosniff` and a sandboxing Content-Security-Policy, so a file can never run as a page of ours.

A client address refused more than FLOWBOT_MEDIA_REFUSED_PER_MINUTE times (default 30) in a
minute — guessing tokens or ids, replaying expired links — gets 429 for the rest of that
minute, before any lookup and without a row per request: one `throttled` row per address and
minute. The count is in Redis, shared by every web process; with Redis away nothing is
throttled (the files are still served).

The storage service is `app.state.media_storage` when the host set one; else it is built on
first use from the environment, on the deployment's PostgresStore (`deployment.store`, opened
from DATABASE_URL when nobody opened it yet).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from actions.storage import records
from actions.storage.records import MediaDbMissing
from actions.storage.service import MediaStorage, Served
from actions.storage.signing import MediaSecretMissing

log = logging.getLogger("flowbot.media")
_STATUS = {"granted": 200, "expired": 403, "bad_signature": 403, "missing": 404, "unavailable": 503}
_SAFE = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
         "Referrer-Policy": "no-referrer"}
_TEXT = {"expired": "forbidden", "bad_signature": "forbidden", "missing": "not found",
         "unavailable": "temporarily unavailable"}
REFUSED = frozenset({"expired", "bad_signature", "missing"})  # what a client can cause by guessing
WINDOW = 60  # seconds


class RefusalLimit:
    """Refused media requests per client address and minute (see the module docstring)."""

    def __init__(self, redis: Any, prefix: str, per_minute: int) -> None:
        self.redis, self.prefix, self.per_minute = redis, prefix, per_minute

    @classmethod
    def of(cls, app: Starlette) -> RefusalLimit | None:
        deployment = getattr(app.state, "deployment", None)
        if deployment is None:
            return None
        limit = getattr(app.state, "media_refusals", None)
        if limit is None:
            per_minute = int(os.environ.get("FLOWBOT_MEDIA_REFUSED_PER_MINUTE", "30"))
            limit = app.state.media_refusals = cls(deployment.redis, deployment.prefix, per_minute)
        return limit  # type: ignore[no-any-return]

    def _key(self, ip: str, what: str) -> tuple[str, int]:
        window = int(time.time() // WINDOW)
        return f"{self.prefix}:media:{what}:{ip}:{window}", WINDOW - int(time.time() % WINDOW)

    async def wait(self, ip: str | None) -> tuple[int, bool] | None:
        """None when `ip` may go on; else the seconds until it may, and whether this is the first
        request turned away in this minute (the one that gets a row)."""
        if ip is None or self.per_minute <= 0:
            return None
        key, left = self._key(ip, "refused")
        try:
            count = int(await self.redis.get(key) or 0)
            if count < self.per_minute:
                return None
            first = bool(await self.redis.set(self._key(ip, "throttled")[0], 1, nx=True, ex=WINDOW * 2))
        except Exception as exc:  # noqa: BLE001 - Redis away: serve, unthrottled
            log.warning("media refusals not counted (%s: %s)", type(exc).__name__, exc)
            return None
        return left, first

    async def refused(self, ip: str | None) -> None:
        if ip is None or self.per_minute <= 0:
            return
        key, _ = self._key(ip, "refused")
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW * 2)
                await pipe.execute()
        except Exception as exc:  # noqa: BLE001
            log.warning("media refusals not counted (%s: %s)", type(exc).__name__, exc)


async def _guarded(request: Request, storage: MediaStorage, open_it: Any, *, public: bool) -> Response:
    """Answer a media request through `open_it(**who)`, unless its address is throttled."""
    who = _who(request)
    limit = RefusalLimit.of(request.app)
    waiting = await limit.wait(who["ip"]) if limit is not None else None
    if limit is not None and waiting is not None:
        seconds, first = waiting
        if first:
            log.warning("media requests from %s throttled for %d s: over %d refused a minute", who["ip"], seconds,
                        limit.per_minute)
            await records.log_access(storage.pool, "throttled", ip=who["ip"], user_agent=who["user_agent"])
        return PlainTextResponse("too many requests", status_code=429,
                                 headers={"Retry-After": str(seconds), "Cache-Control": "no-store"})
    served = await open_it(**who)
    if served.outcome in REFUSED and limit is not None:
        await limit.refused(who["ip"])
    return _answer(served, public=public)


async def media_storage(app: Starlette) -> MediaStorage:
    found = getattr(app.state, "media_storage", None)
    if found is not None:
        return found  # type: ignore[no-any-return]
    lock = getattr(app.state, "media_lock", None)
    if lock is None:
        lock = app.state.media_lock = asyncio.Lock()
    async with lock:
        found = getattr(app.state, "media_storage", None)
        if found is None:
            found = app.state.media_storage = MediaStorage.from_env(await _db(app))
    return found  # type: ignore[no-any-return]


async def _db(app: Starlette) -> Any:
    deployment = getattr(app.state, "deployment", None)
    store = getattr(deployment, "store", None)
    if store is None and os.environ.get("DATABASE_URL"):
        from engine.store.postgres import PostgresStore

        store = await PostgresStore.open(os.environ["DATABASE_URL"], max_size=4)
        if deployment is not None:
            deployment.store = store  # closed with the deployment
    return store


def _answer(served: Served, *, public: bool) -> Response:
    if served.outcome != "granted" or served.data is None or served.obj is None:
        outcome = served.outcome if served.outcome != "granted" else "missing"
        return PlainTextResponse(_TEXT[outcome], status_code=_STATUS[outcome], headers={"Cache-Control": "no-store"})
    cache = "public, max-age=86400" if public else "private, no-store"
    return Response(served.data, media_type=served.obj.content_type,
                    headers={**_SAFE, "Cache-Control": cache, "ETag": f'"{served.obj.sha256}"'})


def _who(request: Request) -> dict[str, Any]:
    return {"ip": request.client.host if request.client else None, "user_agent": request.headers.get("user-agent")}


async def private(request: Request) -> Response:
    try:
        storage = await media_storage(request.app)
        return await _guarded(request, storage, lambda **who: storage.open_private(request.path_params["token"], **who),
                              public=False)
    except (MediaDbMissing, MediaSecretMissing) as exc:
        log.error("GET /media refused: %s", exc)
        return PlainTextResponse("media is not configured", status_code=503)


async def public(request: Request) -> Response:
    try:
        storage = await media_storage(request.app)
        return await _guarded(request, storage, lambda **who: storage.open_public(request.path_params["id"], **who),
                              public=True)
    except MediaDbMissing as exc:
        log.error("GET /media/public refused: %s", exc)
        return PlainTextResponse("media is not configured", status_code=503)


ROUTES = [
    Route("/media/public/{id:str}", public, methods=["GET"]),
    Route("/media/{token:str}", private, methods=["GET"]),
]
