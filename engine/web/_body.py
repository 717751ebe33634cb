"""Reading a request body safely: a size cap, and the request as adapters see it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.types import Receive, Scope

from engine.channels.base import WebhookRejected, WebhookRequest

MAX_BODY = int(os.environ.get("FLOWBOT_MAX_BODY", str(1024 * 1024)))


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refusing (413) anything over `limit` bytes before reading it all."""
    return await _capped(request.headers.get("content-length"), request.stream(), limit)


async def _capped(declared: str | None, chunks: AsyncIterator[bytes], limit: int) -> bytes:
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise WebhookRejected(413, "request body too large")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise WebhookRejected(413, "request body too large")
        parts.append(chunk)
    return b"".join(parts)


async def asgi_webhook_request(scope: Scope, receive: Receive, limit: int = MAX_BODY) -> WebhookRequest:
    """`webhook_request(request, with_url=False)` straight from ASGI, for the hot path that skips
    Starlette (engine/web/app.py)."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}  # ASGI names are lower-case

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise WebhookRejected(400, "the client went away before the body was read")
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    body = await _capped(headers.get("content-length"), chunks(), limit)
    return WebhookRequest(method=scope["method"], url="", headers=headers, body=body)


def public_url(request: Request) -> str:
    """The URL the provider called, as the deployment declares it (behind a proxy the scheme and
    host the provider used differ from ours): FLOWBOT_PUBLIC_URL + path + query."""
    base = os.environ.get("FLOWBOT_PUBLIC_URL", "").rstrip("/")
    if not base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base}{request.url.path}{query}"


async def webhook_request(request: Request, *, with_url: bool = True) -> WebhookRequest:
    """The request as adapters see it; `with_url=False` where no signature covers the URL
    (Meta signs the body only): building it was about 1 % of a loaded process in a profile."""
    body = await read_body(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    return WebhookRequest(method=request.method, url=public_url(request) if with_url else "", headers=headers,
                          body=body, query=dict(request.query_params))
