"""GraphFake: a Graph-compatible WhatsApp Cloud API server on loopback, for tests and development.

It answers like Graph — same paths, same success bodies, same `{"error": {...}}` objects — so
the product is pointed at it only through `WHATSAPP_API_BASE_URL`. Failure controls make the
error paths reachable: `fail_next`, `delay`, `expire_token`, `rate_limit_next`,
`outside_window_for`.

    fake = GraphFake(); await fake.start()      # or: async with GraphFake() as fake:
    client = GraphClient("token", "123", base_url=fake.url)
    ...; fake.messages[-1].body                 # what Graph received

Run it alone with `python tests/fakes/graph.py --port 8090`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

try:
    from fakes._loopback import LoopbackFake
    from fakes.graph_rules import check_message, graph_error, missing, unknown_object
    from fakes.graph_templates import TemplateRoutes
except ImportError:  # run as a script
    from _loopback import LoopbackFake  # type: ignore[no-redef]
    from graph_rules import check_message, graph_error, missing, unknown_object  # type: ignore[no-redef]
    from graph_templates import TemplateRoutes  # type: ignore[no-redef]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted `/messages` request."""

    phone_number_id: str
    authorization: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredMedia:
    data: bytes
    mime: str
    filename: str
    phone_number_id: str


class GraphFake(LoopbackFake):
    """`messages` holds accepted sends, `reads` accepted mark-as-read calls, `requests` every
    request as (method, path, Authorization header); `media` maps media ids to uploads;
    `templates` holds message templates by id (tests/fakes/graph_templates.py)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.messages: list[Received] = []
        self.reads: list[Received] = []
        self.requests: list[tuple[str, str, str]] = []
        self.media: dict[str, StoredMedia] = {}
        self.templates: dict[str, dict[str, Any]] = {}  # message templates by id (graph_templates.py)
        self._canned: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._delay = 0.0
        self._valid_token: str | None = None
        self._outside_window: set[str] = set()

    # ── failure controls ──────────────────────────────────────────────────────────────────
    def fail_next(self, n: int = 1, status: int = 500, body: dict[str, Any] | None = None) -> None:
        """The next `n` requests get `status` with `body` (default: Graph's unexpected error)."""
        answer = body if body is not None else graph_error(1, "An unexpected error occurred")
        self._canned.extend((status, answer, {}) for _ in range(n))

    def rate_limit_next(self, n: int = 1, retry_after: float | None = None) -> None:
        """The next `n` requests get 400 / 130429 (throughput reached)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        body = graph_error(130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached.",
                           subcode=2494055)
        self._canned.extend((400, body, headers) for _ in range(n))

    def delay(self, seconds: float) -> None:
        """Answer every request `seconds` late (0 to stop)."""
        self._delay = seconds

    def expire_token(self, until_token: str = "new") -> None:
        """From now on only `until_token` is accepted; any other bearer gets 401 / 190."""
        self._valid_token = until_token

    def outside_window_for(self, wa_id: str) -> None:
        """Non-template sends to `wa_id` get 400 / 131047 (24-hour window closed)."""
        self._outside_window.add(wa_id)

    # ── lifecycle ─────────────────────────────────────────────────────────────────────────
    def app(self) -> web.Application:
        return web.Application(middlewares=[self._faults], client_max_size=100 * 1024 * 1024)

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/_fake/media/{media_id}", self._download)
        router.add_post("/{version}/{phone_number_id}/messages", self._send)
        router.add_post("/{version}/{phone_number_id}/media", self._upload)
        router.add_get("/{version}/{media_id}", self._media_info)
        router.add_delete("/{version}/{media_id}", self._media_delete)
        TemplateRoutes(self.templates).add_to(router)  # /{waba_id}/message_templates, POST /{template_id}

    # ── request handling ──────────────────────────────────────────────────────────────────
    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        authorization = request.headers.get("Authorization", "")
        self.requests.append((request.method, request.path, authorization))
        if self._delay:
            await asyncio.sleep(self._delay)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _json(401, graph_error(104, "An access token is required to request this resource"))
        if self._valid_token is not None and token != self._valid_token:
            return _json(401, graph_error(
                190, "Error validating access token: Session has expired.", subcode=463))
        if self._canned:
            status, body, headers = self._canned.popleft()
            return _json(status, body, headers)
        return await handler(request)

    async def _send(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _json(400, graph_error(100, "Invalid JSON in request body"))
        problem = check_message(body)
        if problem is not None:
            return _json(400, graph_error(problem.code, problem.message, problem.details))
        received = Received(request.match_info["phone_number_id"], request.headers["Authorization"], body)
        if body.get("status") == "read":
            self.reads.append(received)
            return _json(200, {"success": True})
        to = body["to"]
        if to in self._outside_window and body.get("type") != "template":
            return _json(400, graph_error(
                131047, "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the customer "
                "last replied to this number."))
        self.messages.append(received)
        wamid = "wamid." + secrets.token_urlsafe(32)
        return _json(200, {"messaging_product": "whatsapp",
                           "contacts": [{"input": to, "wa_id": _wa_id(to)}],
                           "messages": [{"id": wamid}]})

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp":
            return _json(400, graph_error(*missing("messaging_product")))
        if not isinstance(upload, web.FileField):
            return _json(400, graph_error(*missing("file")))
        mime = str(form.get("type") or upload.content_type)
        media_id = str(secrets.randbelow(10**15) + 10**15)
        self.media[media_id] = StoredMedia(upload.file.read(), mime, upload.filename,
                                           request.match_info["phone_number_id"])
        return _json(200, {"id": media_id})

    async def _media_info(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        stored = self.media.get(media_id)
        if stored is None:
            return _json(400, unknown_object(media_id))
        return _json(200, {"messaging_product": "whatsapp", "url": f"{self.url}/_fake/media/{media_id}",
                           "mime_type": stored.mime, "sha256": hashlib.sha256(stored.data).hexdigest(),
                           "file_size": len(stored.data), "id": media_id})

    async def _media_delete(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        if self.media.pop(media_id, None) is None:
            return _json(400, unknown_object(media_id))
        return _json(200, {"success": True})

    async def _download(self, request: web.Request) -> web.Response:
        stored = self.media.get(request.match_info["media_id"])
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored.data, content_type=stored.mime.split(";")[0])


def _wa_id(to: str) -> str:
    """Graph normalizes a phone number to digits; anything else (a BSUID) is echoed."""
    return re.sub(r"\D", "", to) if re.fullmatch(r"\+?[\d\s().-]+", to) else to


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


async def _serve(port: int) -> None:
    async with GraphFake(port=port) as fake:
        print(f"GraphFake listening on {fake.url} (WHATSAPP_API_BASE_URL={fake.url})", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    asyncio.run(_serve(parser.parse_args().port))
