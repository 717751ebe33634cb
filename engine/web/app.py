"""The Starlette app, built from lists: routes in, nothing registered by import side effects."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.deployment import Deployment
from engine.web import api, webhooks


async def health(request: Request) -> JSONResponse:
    deployment: Deployment = request.app.state.deployment
    try:
        await deployment.redis.ping()
    except Exception as exc:  # noqa: BLE001 - health reports, it does not fail
        return JSONResponse({"ok": False, "redis": str(exc)}, status_code=503)
    return JSONResponse({"ok": True, "bots": sorted(deployment.bots)})


def build_app(deployment: Deployment) -> Starlette:
    routes = [
        Route("/healthz", health, methods=["GET"]),
        Route("/webhooks/whatsapp", webhooks.whatsapp_verify, methods=["GET"]),
        Route("/webhooks/whatsapp", webhooks.whatsapp, methods=["POST"]),
        Route("/webhooks/{provider:str}/{bot:str}", webhooks.provider, methods=["POST"]),
        Route("/api/v1/bots/{bot:str}/conversations", api.start_conversation, methods=["POST"]),
        Route("/api/v1/bots/{bot:str}/conversations/{user:str}/release", api.release_conversation, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.deployment = deployment
    return app
