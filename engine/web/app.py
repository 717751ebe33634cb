"""The Starlette app, built from lists: routes in, nothing registered by import side effects."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from engine import metrics
from engine.deployment import Deployment
from engine.web import api, payments, webhooks
from engine.web._body import asgi_webhook_request
from engine.web.media import ROUTES as MEDIA_ROUTES


async def health(request: Request) -> JSONResponse:
    deployment: Deployment = request.app.state.deployment
    try:
        await deployment.redis.ping()
    except Exception as exc:  # noqa: BLE001 - health reports, it does not fail
        return JSONResponse({"ok": False, "redis": str(exc)}, status_code=503)
    return JSONResponse({"ok": True, "bots": sorted(deployment.bots)})


UNAVAILABLE, RETRY_AFTER = "temporarily unavailable", "1"  # the 503 while Redis is unreachable


def _unreachable(exc: Exception) -> None:
    logging.getLogger("flowbot.web").warning("redis unreachable, answered 503: %s: %s", type(exc).__name__, exc)


async def redis_unreachable(request: Request, exc: Exception) -> Response:
    """Redis is restarting or gone: nothing was queued, so say "try again" (providers redeliver
    on any non-2xx; a 503 says it is us, for a while, not their request)."""
    _unreachable(exc)
    return PlainTextResponse(UNAVAILABLE, status_code=503, headers={"Retry-After": RETRY_AFTER})


class App(Starlette):
    """The Starlette app, with one shortcut: `POST /webhooks/whatsapp`, every message of every
    WhatsApp bot, is answered straight from ASGI (`webhooks.handle_whatsapp`). Starlette's
    routing, middleware, request and response objects were a noticeable share of a loaded
    process for a route that reads a body and answers "ok" (docs/decisions/0002). Everything
    else goes through Starlette."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/webhooks/whatsapp" and scope["method"] == "POST":
            await self._whatsapp(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/webhooks/"):
            await super().__call__(scope, receive, _counted(send, scope["path"].split("/")[2]))
        else:
            await super().__call__(scope, receive, send)

    async def _whatsapp(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = []
        try:
            status, text = await webhooks.handle_whatsapp(self.state.deployment, lambda: asgi_webhook_request(scope, receive))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            status, text, headers = 503, UNAVAILABLE, [(b"retry-after", RETRY_AFTER.encode())]
            _unreachable(exc)
        except Exception:  # what Starlette's ServerErrorMiddleware would do: log it, answer 500
            logging.getLogger("flowbot.web").exception("POST /webhooks/whatsapp failed")
            status, text = 500, "Internal Server Error"
        metrics.count(metrics.WEBHOOKS, "whatsapp", str(status))
        body = text.encode()
        headers += [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _counted(send: Send, provider: str) -> Send:
    """`send`, counting the webhook's answer by provider and status (flowbot_webhooks_total)."""
    label = metrics.provider_label(provider)

    async def counting(message: Message) -> None:
        if message["type"] == "http.response.start":
            metrics.count(metrics.WEBHOOKS, label, str(message["status"]))
        await send(message)

    return counting


async def metrics_page(request: Request) -> Response:
    """GET /metrics (Prometheus). With FLOWBOT_METRICS_TOKEN set, for a bearer of that token from
    anywhere; without it, only for a scraper on this machine (404 to everyone else): queue
    depths and traffic are nobody else's business."""
    token = os.environ.get("FLOWBOT_METRICS_TOKEN", "")
    if token:
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()):
            return PlainTextResponse("unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"})
    elif not _local(request):
        return PlainTextResponse("Not Found", status_code=404)
    deployment: Deployment = request.app.state.deployment
    await metrics.refresh_queues(deployment.redis, deployment.prefix)
    body, content_type = metrics.exposition()
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def _local(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:  # a test client's made-up host
        return False


def build_app(deployment: Deployment) -> Starlette:
    routes = [
        Route("/healthz", health, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        Route("/webhooks/whatsapp", webhooks.whatsapp_verify, methods=["GET"]),
        # POST /webhooks/whatsapp: App.__call__
        Route("/webhooks/flutterwave", payments.flutterwave, methods=["POST"]),
        Route("/webhooks/{provider:str}/{bot:str}", webhooks.provider, methods=["POST"]),
        Route("/api/v1/bots/{bot:str}/conversations", api.start_conversation, methods=["POST"]),
        Route("/api/v1/bots/{bot:str}/conversations/{user:str}/release", api.release_conversation, methods=["POST"]),
        *MEDIA_ROUTES,  # GET /media/public/{id}, GET /media/{token}: stored files (the storage plugin)
    ]
    app = App(routes=routes, exception_handlers={RedisConnectionError: redis_unreachable,
                                                 RedisTimeoutError: redis_unreachable})
    app.state.deployment = deployment
    return app
