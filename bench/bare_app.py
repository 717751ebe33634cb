"""The floor for bench/e2e_load.py: a bare Starlette app that verifies the webhook signature,
answers 200 and sends one echo per message through Graph with aiohttp, in a background task.

No queue, no session, no order, no record: what any WhatsApp bot has to do at the least, on
the same server (uvicorn) and the same HTTP client (aiohttp, one shared session) as flowbot.

    GRAPH_URL=http://127.0.0.1:8090 APP_SECRET=... python bench/bare_app.py --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

SECRET = os.environ.get("APP_SECRET", "bench-app-secret").encode()
VERIFY_TOKEN = os.environ.get("VERIFY_TOKEN", "bench-verify")
GRAPH = os.environ.get("GRAPH_URL", "http://127.0.0.1:8090").rstrip("/")
NUMBER = os.environ.get("PHONE_NUMBER_ID", "1122334455667")
TOKEN = os.environ.get("TOKEN", "bench-token")
URL = f"{GRAPH}/v23.0/{NUMBER}/messages"

_http: aiohttp.ClientSession | None = None
_tasks: set[asyncio.Task[None]] = set()


async def send_echo(user: str, text: str) -> None:
    assert _http is not None
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": user, "type": "text",
            "text": {"body": f"You said: {text}"}}
    try:
        async with _http.post(URL, json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            await r.read()
    except aiohttp.ClientError:
        pass  # a bare app: no retry, no record


async def webhook(request: Request) -> Response:
    body = await request.body()
    header = request.headers.get("x-hub-signature-256", "")
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, header):
        return PlainTextResponse("bad signature", status_code=403)
    try:
        data = json.loads(body)
        for entry in data["entry"]:
            for change in entry["changes"]:
                for message in change["value"].get("messages", ()):
                    kind = message.get("type")
                    if kind == "text":
                        text = message["text"]["body"]
                    elif kind == "interactive":
                        reply = message["interactive"]
                        text = (reply.get("button_reply") or reply.get("list_reply") or {}).get("title", "")
                    else:
                        text = kind or "?"
                    task = asyncio.create_task(send_echo(message["from"], text))
                    _tasks.add(task)
                    task.add_done_callback(_tasks.discard)
    except (ValueError, KeyError, TypeError):
        return PlainTextResponse("bad body", status_code=400)
    return PlainTextResponse("ok")


async def challenge(request: Request) -> Response:
    q = request.query_params
    if q.get("hub.mode") == "subscribe" and q.get("hub.verify_token") == VERIFY_TOKEN:
        return PlainTextResponse(q.get("hub.challenge", ""))
    return PlainTextResponse("forbidden", status_code=403)


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette):  # type: ignore[no-untyped-def]
    global _http
    _http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
    yield
    await _http.close()


app = Starlette(routes=[Route("/webhooks/whatsapp", webhook, methods=["POST"]),
                        Route("/webhooks/whatsapp", challenge, methods=["GET"])],
                lifespan=lifespan)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, log_config=None)
