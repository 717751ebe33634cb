"""The Starlette app, built from lists: routes in, nothing registered by import side effects."""

from __future__ import annotations

import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from engine.deployment import Deployment
from engine.web import api, payments, webhooks
from engine.web.media import ROUTES as MEDIA_ROUTES


async def health(request: Request) -> JSONResponse:
    deployment: Deployment = request.app.state.deployment
    try:
        await deployment.redis.ping()
    except Exception as exc:  # noqa: BLE001 - health reports, it does not fail
        return JSONResponse({"ok": False, "redis": str(exc)}, status_code=503)
    return JSONResponse({"ok": True, "bots": sorted(deployment.bots)})


async def redis_unreachable(request: Request, exc: Exception) -> Response:
    """Redis is restarting or gone: nothing was queued, so say "try again" (providers redeliver
    on any non-2xx; a 503 says it is us, for a while, not their request)."""
    logging.getLogger("flowbot.web").warning("redis unreachable, answered 503: %s: %s", type(exc).__name__, exc)
    return PlainTextResponse("temporarily unavailable", status_code=503, headers={"Retry-After": "1"})


def build_app(deployment: Deployment) -> Starlette:
    routes = [
        Route("/healthz", health, methods=["GET"]),
        Route("/webhooks/whatsapp", webhooks.whatsapp_verify, methods=["GET"]),
        Route("/webhooks/whatsapp", webhooks.whatsapp, methods=["POST"]),
        Route("/webhooks/flutterwave", payments.flutterwave, methods=["POST"]),
        Route("/webhooks/{provider:str}/{bot:str}", webhooks.provider, methods=["POST"]),
        Route("/api/v1/bots/{bot:str}/conversations", api.start_conversation, methods=["POST"]),
        Route("/api/v1/bots/{bot:str}/conversations/{user:str}/release", api.release_conversation, methods=["POST"]),
        *MEDIA_ROUTES,  # GET /media/public/{id}, GET /media/{token}: stored files (the storage plugin)
    ]
    app = Starlette(routes=routes, exception_handlers={RedisConnectionError: redis_unreachable,
                                                       RedisTimeoutError: redis_unreachable})
    app.state.deployment = deployment
    return app
