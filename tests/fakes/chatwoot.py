"""ChatwootFake: Chatwoot's create-message API on loopback, for tests and development.

`POST /api/v1/accounts/{account_id}/conversations/{conversation_id}/messages` with the
`api_access_token` header and a JSON body; answers 200 with the created message (shape of the
docs' sample response, tests/fixtures/chatwoot/create_message_response_example.json) and errors
as `{"error": ...}`. Point the adapter at it with `CHATWOOT_BASE_URL` (or `base_url=`).

    async with ChatwootFake(token="tok") as fake:
        adapter = ChatwootAdapter(fake.url, "tok")
        ...; fake.messages[-1].body["content_type"]

`signed_headers()` builds the headers a signing Chatwoot (v4.11.2+) sends with a webhook.
Failure controls: `fail_next(n, status)`, `delay(seconds)`, `conversations` (a set: when given,
other conversation ids get 404). Run it alone with `python tests/fakes/chatwoot.py --port 8092`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

try:
    from fakes._loopback import LoopbackFake
except ImportError:  # run as a script
    from _loopback import LoopbackFake  # type: ignore[no-redef]

MESSAGES_PATH = "/api/v1/accounts/{account_id}/conversations/{conversation_id}/messages"
DEFAULT_ERRORS = {401: "Invalid Access Token", 404: "Resource could not be found",
                  429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}


@dataclass(frozen=True, slots=True)
class Received:
    account_id: str
    conversation_id: str
    token: str
    body: dict[str, Any]


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """`X-Chatwoot-Timestamp` and `X-Chatwoot-Signature` (HMAC-SHA256 of "{timestamp}.{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Chatwoot-Timestamp": ts, "X-Chatwoot-Signature": f"sha256={digest}"}


class ChatwootFake(LoopbackFake):
    def __init__(self, token: str = "token", host: str = "127.0.0.1", port: int = 0,
                 conversations: set[str] | None = None) -> None:
        self.token = token
        super().__init__(host, port)
        self.conversations = conversations
        self.messages: list[Received] = []
        self.requests: list[tuple[str, str]] = []
        self._ids = itertools.count(1001)
        self._canned: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._delay = 0.0

    def fail_next(self, n: int = 1, status: int = 500, body: dict[str, Any] | None = None, *,
                  retry_after: float | None = None) -> None:
        answer = body if body is not None else {"error": DEFAULT_ERRORS.get(status, "Error")}
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self._canned.extend((status, answer, headers) for _ in range(n))

    def delay(self, seconds: float) -> None:
        self._delay = seconds

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(MESSAGES_PATH, self._create)

    async def _create(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if self._delay:
            await asyncio.sleep(self._delay)
        token = request.headers.get("api_access_token", "")
        if token != self.token:
            return web.json_response({"error": "Invalid Access Token"}, status=401)
        if self._canned:
            status, answer, headers = self._canned.popleft()
            return web.json_response(answer, status=status, headers=headers)
        account_id, conversation_id = request.match_info["account_id"], request.match_info["conversation_id"]
        if self.conversations is not None and conversation_id not in self.conversations:
            return web.json_response({"error": "Resource could not be found"}, status=404)
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict) or request.content_type != "application/json":
            return web.json_response({"error": "Invalid JSON"}, status=400)
        if not isinstance(body.get("content"), str) or not body["content"]:
            return web.json_response({"message": "Content can't be blank"}, status=422)
        self.messages.append(Received(account_id, conversation_id, token, body))
        return web.json_response({
            "id": next(self._ids), "content": body["content"], "inbox_id": 1,
            "conversation_id": int(conversation_id) if conversation_id.isdigit() else conversation_id,
            "message_type": 1 if body.get("message_type", "outgoing") == "outgoing" else 0,
            "content_type": body.get("content_type", "text"),
            "content_attributes": body.get("content_attributes", {}), "created_at": int(time.time()),
            "private": bool(body.get("private", False)), "source_id": None,
            "sender": {"id": 1, "name": "flowbot", "type": "agent_bot"},
        })


async def _serve(port: int) -> None:
    async with ChatwootFake(port=port) as fake:
        print(f"ChatwootFake listening on {fake.url} (CHATWOOT_BASE_URL={fake.url}, token {fake.token})", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8092)
    asyncio.run(_serve(parser.parse_args().port))
