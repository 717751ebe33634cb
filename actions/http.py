"""Built-in plugin `http`: call another system's webhook from a flow.

    steps:
      tell_crm:
        action: http.post
        with: {url: "https://crm.example.com/hooks/orders", json: {order: "{{ slots.order }}"}, secret_env: CRM_SECRET}
        timeout: 5s
        retries: 2
        on: {ok: done, rejected: sorry}
        on_error: {say: errors.try_later, next: done}

The body is signed (`X-Flowbot-Signature: sha256=<hex HMAC-SHA256 of the body>` with the secret
read from the environment variable named by `secret_env`, never from YAML) and carries
`Idempotency-Key`: the same for a retried turn, so the receiver can drop duplicates. A 2xx is
outcome `ok` (data: status, json), a 4xx is `rejected` (a retry will not help), a 5xx or a
network failure raises, so the step's `retries` and then its `on_error` apply.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import aiohttp

from engine.runtime.actions import Action, ActionContext, ActionResult


class HttpFailure(Exception):
    pass


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post(ctx: ActionContext, url: str, json_body: Any = None, headers: dict[str, str] | None = None,
               secret_env: str | None = None, signature_header: str = "X-Flowbot-Signature") -> ActionResult:
    if not url.startswith(("https://", "http://")):
        raise HttpFailure(f"not an http(s) URL: {url!r}")
    body = json.dumps(json_body if json_body is not None else {}, separators=(",", ":"), ensure_ascii=False).encode()
    sent = {"content-type": "application/json", "idempotency-key": ctx.idempotency_key, **(headers or {})}
    if secret_env:
        secret = os.environ.get(secret_env, "")
        if not secret:
            raise HttpFailure(f"the environment variable {secret_env} holding the signing secret is not set")
        sent[signature_header] = signature(secret, body)
    session = ctx.services.get("http")
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        async with session.post(url, data=body, headers=sent) as response:
            text = await response.text()
            status = response.status
    except aiohttp.ClientError as exc:
        raise HttpFailure(f"{type(exc).__name__}: {exc}") from exc
    finally:
        if own:
            await session.close()
    if status >= 500:
        raise HttpFailure(f"{url} answered {status}")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    return ActionResult(outcome="ok" if status < 300 else "rejected", data={"status": status, "json": data})


async def _post(ctx: ActionContext, url: str, json: Any = None, headers: dict[str, str] | None = None,  # noqa: A002
                secret_env: str | None = None, signature_header: str = "X-Flowbot-Signature") -> ActionResult:
    return await post(ctx, url, json, headers, secret_env, signature_header)


ACTIONS = [
    Action(
        name="http.post",
        fn=_post,
        args={
            "url": {"type": "string", "description": "The webhook URL (http or https)."},
            "json": {"description": "The JSON body to send."},
            "headers": {"type": "object", "description": "Extra request headers."},
            "secret_env": {"type": "string", "description": "Name of the environment variable holding the HMAC secret."},
            "signature_header": {"type": "string", "description": "The header carrying the signature."},
        },
        outcomes=("ok", "rejected"),
        description="POST JSON to another system's webhook, signed, with an idempotency key",
    ),
]
