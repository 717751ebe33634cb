"""The built-in `http` and `notify` plugins, over real HTTP and a real Redis queue."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from aiohttp import web

from actions import http as http_plugin
from actions import notify
from engine.runtime.actions import ActionContext, ActionError, call


def context(services: dict[str, Any] | None = None) -> ActionContext:
    return ActionContext(bot="demo", user="254712345678", lang="en", slots={}, settings={}, idempotency_key="idem-123",
                         flow="main", step="tell", services=services or {})


@pytest.fixture
async def receiver():  # type: ignore[no-untyped-def]
    seen: list[tuple[dict[str, str], bytes]] = []
    answers: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        status = answers.pop(0) if answers else 200
        return web.json_response({"accepted": status < 300}, status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", seen, answers
    await runner.cleanup()


async def test_http_post_signs_the_body_and_passes_the_idempotency_key(receiver, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url, seen, _ = receiver
    monkeypatch.setenv("CRM_SECRET", "s3cret")
    action = http_plugin.ACTIONS[0]
    result = await call(action, context(), {"url": url, "json": {"order": "A1", "qty": 2}, "secret_env": "CRM_SECRET"}, 5, 0)
    assert result.outcome == "ok" and result.data == {"status": 200, "json": {"accepted": True}}
    headers, body = seen[0]
    assert json.loads(body) == {"order": "A1", "qty": 2}
    assert headers["idempotency-key"] == "idem-123"
    assert headers["x-flowbot-signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


async def test_http_post_4xx_is_an_outcome_5xx_is_retried_then_an_error(receiver) -> None:  # type: ignore[no-untyped-def]
    url, seen, answers = receiver
    action = http_plugin.ACTIONS[0]
    answers[:] = [422]
    assert (await call(action, context(), {"url": url, "json": {}}, 5, 0)).outcome == "rejected"
    answers[:] = [503, 200]
    assert (await call(action, context(), {"url": url, "json": {}}, 5, 1)).outcome == "ok"  # retried once
    answers[:] = [500, 500]
    with pytest.raises(ActionError, match="answered 500"):
        await call(action, context(), {"url": url, "json": {}}, 5, 1)
    assert len(seen) == 5
    assert all(h["idempotency-key"] == "idem-123" for h, _ in seen)  # retries reuse the key


async def test_http_post_refuses_other_schemes_and_missing_secrets(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    action = http_plugin.ACTIONS[0]
    with pytest.raises(ActionError, match="not an http"):
        await call(action, context(), {"url": "file:///etc/passwd"}, 5, 0)
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    with pytest.raises(ActionError, match="NOPE_SECRET"):
        await call(action, context(), {"url": "https://example.invalid/x", "secret_env": "NOPE_SECRET"}, 5, 0)


@pytest.mark.redis
async def test_notify_start_queues_a_flow_for_another_user_once(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    from engine.delivery.queue import RedisQueue

    client = aioredis.Redis.from_url(redis_url)
    queue = RedisQueue(client, redis_prefix)
    await queue.setup()
    action = notify.ACTIONS[0]
    args = {"to": "+254 700 000 111", "flow": "parcel_update", "params": {"code": "HD-1"}}
    assert (await call(action, context({"queue": queue}), args, 5, 0)).data == {"queued": True}
    assert (await call(action, context({"queue": queue}), args, 5, 0)).data == {"queued": False}  # a retried turn
    inbox = await queue.all("demo", "254700000111", "in")
    assert inbox == [{"k": "start", "f": "parcel_update", "p": {"code": "HD-1"}, "id": "idem-123"}]
    with pytest.raises(ActionError, match="needs the delivery queue"):
        await call(action, context(), args, 5, 0)
    await client.aclose()
