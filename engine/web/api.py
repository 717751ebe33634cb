"""The proactive API: other systems start a flow for a user (receipts, order updates, OTPs).

    POST /api/v1/bots/{bot}/conversations
    Authorization: Bearer <key>          (FLOWBOT_API_KEYS, comma-separated)
    {"to": "254712345678", "flow": "receipt", "params": {"amount": "1500"}, "idempotency_key": "rcpt-991"}

Answers 202 once queued; the same idempotency key again answers 200 and queues nothing. A user
who opted out gets nothing (the turn records why).
"""

from __future__ import annotations

import hmac
import json
import re

from starlette.requests import Request
from starlette.responses import JSONResponse

from engine.channels.base import WebhookRejected
from engine.deployment import Deployment
from engine.web._body import read_body

_USER = re.compile(r"^\+?[0-9A-Za-z._:-]{3,64}$")


def _authorized(request: Request, keys: frozenset[str]) -> bool:
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    return bool(given) and any(hmac.compare_digest(given, key) for key in keys)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def start_conversation(request: Request) -> JSONResponse:
    deployment: Deployment = request.app.state.deployment
    if not _authorized(request, deployment.api_keys):
        return _error(401, "missing or wrong API key")
    name = request.path_params["bot"]
    host = deployment.bots.get(name)
    if host is None:
        return _error(404, f"no bot {name!r}")
    try:
        data = json.loads(await read_body(request, 64 * 1024))
    except WebhookRejected as exc:
        return _error(exc.status, exc.reason)
    except ValueError:
        return _error(400, "the body is not JSON")
    if not isinstance(data, dict):
        return _error(400, "the body must be a JSON object")
    to, flow, params, key = data.get("to"), data.get("flow"), data.get("params") or {}, data.get("idempotency_key")
    if not isinstance(to, str) or not _USER.match(to):
        return _error(422, "`to` must be the user's WhatsApp id or phone number")
    allowed = host.loaded.bot.proactive
    if not isinstance(flow, str) or flow not in allowed:
        return _error(422, f"`flow` must be one of the bot's proactive flows: {', '.join(allowed) or '(none listed in bot.yaml)'}")
    if not isinstance(params, dict):
        return _error(422, "`params` must be an object")
    if not isinstance(key, str) or not 1 <= len(key) <= 200:
        return _error(422, "`idempotency_key` is required (1 to 200 characters)")
    user = to.lstrip("+")
    fresh = await deployment.queue.enqueue(name, user, {"k": "start", "f": flow, "p": params, "id": key}, f"api:{key}")
    return JSONResponse({"queued": fresh, "duplicate": not fresh}, status_code=202 if fresh else 200)


async def release_conversation(request: Request) -> JSONResponse:
    """An agent hands a conversation back to the bot."""
    deployment: Deployment = request.app.state.deployment
    if not _authorized(request, deployment.api_keys):
        return _error(401, "missing or wrong API key")
    name = request.path_params["bot"]
    if name not in deployment.bots:
        return _error(404, f"no bot {name!r}")
    await deployment.queue.enqueue(name, request.path_params["user"], {"k": "release"})
    return JSONResponse({"queued": True}, status_code=202)
