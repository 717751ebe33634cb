"""InteraktFake: Interakt's public message API on loopback, for tests and development.

`POST /v1/public/message/` with `Authorization: Basic <API key>` and a JSON body; answers 201
`{"result": true, "message": "Message created successfully", "id": ...}`, errors as
`{"result": false, "message": ...}`. The shape follows Interakt's prose docs (no recorded exchange
was available: tests/fixtures/interakt/NOTES.md), so this fake encodes the same assumptions as
the adapter; it checks what the adapter sends is self-consistent, not that Interakt accepts it.
Point the adapter at it with `INTERAKT_API_BASE_URL` (or `base_url=`).

Failure controls: `fail_next(n, status)`, `delay(seconds)`. Run it alone with
`python tests/fakes/interakt.py --port 8093`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

try:
    from fakes._loopback import LoopbackFake
except ImportError:  # run as a script
    from _loopback import LoopbackFake  # type: ignore[no-redef]


@dataclass(frozen=True, slots=True)
class Received:
    authorization: str
    body: dict[str, Any]


class InteraktFake(LoopbackFake):
    def __init__(self, api_key: str = "a2V5Og==", host: str = "127.0.0.1", port: int = 0) -> None:
        self.api_key = api_key
        super().__init__(host, port)
        self.messages: list[Received] = []
        self.requests: list[tuple[str, str]] = []
        self._canned: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._delay = 0.0

    def fail_next(self, n: int = 1, status: int = 500, body: dict[str, Any] | None = None, *,
                  retry_after: float | None = None) -> None:
        answer = body if body is not None else {"result": False, "message": f"Error {status}"}
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self._canned.extend((status, answer, headers) for _ in range(n))

    def delay(self, seconds: float) -> None:
        self._delay = seconds

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/public/message/", self._create)

    async def _create(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if self._delay:
            await asyncio.sleep(self._delay)
        authorization = request.headers.get("Authorization", "")
        if authorization != f"Basic {self.api_key}":
            return web.json_response({"result": False, "message": "Unauthorized"}, status=401)
        if self._canned:
            status, answer, headers = self._canned.popleft()
            return web.json_response(answer, status=status, headers=headers)
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        problem = _check(body)
        if problem:
            return web.json_response({"result": False, "message": problem}, status=400)
        self.messages.append(Received(authorization, body))
        return web.json_response({"result": True, "message": "Message created successfully",
                                  "id": str(uuid.uuid4())}, status=201)


def _check(body: Any) -> str:
    if not isinstance(body, dict):
        return "Invalid JSON body"
    if not str(body.get("countryCode", "")).startswith("+") or not str(body.get("phoneNumber", "")).isdigit():
        return "countryCode (+CC) and phoneNumber (digits) are required"
    if body.get("type") == "Text":
        return "" if isinstance(body.get("data"), dict) and body["data"].get("message") else "data.message is required"
    if body.get("type") == "Template":
        template = body.get("template")
        return "" if isinstance(template, dict) and template.get("name") and template.get("languageCode") \
            else "template.name and template.languageCode are required"
    return f"unsupported type {body.get('type')!r}"


async def _serve(port: int) -> None:
    async with InteraktFake(port=port) as fake:
        print(f"InteraktFake listening on {fake.url} (INTERAKT_API_BASE_URL={fake.url}, key {fake.api_key})",
              flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8093)
    asyncio.run(_serve(parser.parse_args().port))
