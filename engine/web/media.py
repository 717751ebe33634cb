"""GET /media/<token> (private files, signed URLs) and GET /media/public/<id> (public files).

Private: the token must carry a valid signature (FLOWBOT_MEDIA_SECRET) and must not have
expired, else 403; an object that is not there (any more) is 404. Every request, granted or
refused, writes a row in `media_access_log` (actions/storage/service.py). Files are sent with
`nosniff` and a sandboxing Content-Security-Policy, so a file can never run as a page of ours.

The storage service is `app.state.media_storage` when the host set one; else it is built on
first use from the environment, on the deployment's PostgresStore (`deployment.store`, opened
from DATABASE_URL when nobody opened it yet).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from actions.storage.records import MediaDbMissing
from actions.storage.service import MediaStorage, Served
from actions.storage.signing import MediaSecretMissing

log = logging.getLogger("flowbot.media")
_STATUS = {"granted": 200, "expired": 403, "bad_signature": 403, "missing": 404, "unavailable": 503}
_SAFE = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
         "Referrer-Policy": "no-referrer"}
_TEXT = {"expired": "forbidden", "bad_signature": "forbidden", "missing": "not found",
         "unavailable": "temporarily unavailable"}


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
        served = await storage.open_private(request.path_params["token"], **_who(request))
    except (MediaDbMissing, MediaSecretMissing) as exc:
        log.error("GET /media refused: %s", exc)
        return PlainTextResponse("media is not configured", status_code=503)
    return _answer(served, public=False)


async def public(request: Request) -> Response:
    try:
        storage = await media_storage(request.app)
        served = await storage.open_public(request.path_params["id"], **_who(request))
    except MediaDbMissing as exc:
        log.error("GET /media/public refused: %s", exc)
        return PlainTextResponse("media is not configured", status_code=503)
    return _answer(served, public=True)


ROUTES = [
    Route("/media/public/{id:str}", public, methods=["GET"]),
    Route("/media/{token:str}", private, methods=["GET"]),
]
