"""Reading a request body safely: a size cap, and the request as adapters see it."""

from __future__ import annotations

import os

from starlette.requests import Request

from engine.channels.base import WebhookRejected, WebhookRequest

MAX_BODY = int(os.environ.get("FLOWBOT_MAX_BODY", str(1024 * 1024)))


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refusing (413) anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise WebhookRejected(413, "request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookRejected(413, "request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


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
