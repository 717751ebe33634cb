"""`flowbot serve` for real: a server process on loopback, signed Cloud API webhooks in, replies
out to the Graph fake, with Redis for sessions, queues and delivery records."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import _load
import aiohttp
import pytest
from fakes.graph import GraphFake

from engine.channels.whatsapp import signature_header

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-app-secret"
NUMBER = "1122334455667"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def webhook(user: str, mid: str, text: str | None = None, button: str | None = None) -> bytes:
    SEEN_USERS.append(user)
    return _load.webhook(user, mid, text=text, button=button)


@pytest.fixture
async def server(redis_url: str, redis_prefix: str, tmp_path: Path) -> AsyncIterator[tuple[str, GraphFake]]:
    fake = GraphFake()
    await fake.start()
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    env = {**os.environ, "REDIS_URL": redis_url, "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_VERIFY_TOKEN": "verify-me",
           "WHATSAPP_API_BASE_URL": fake.url, "WHATSAPP_TOKEN": "token-1", "WHATSAPP_PHONE_NUMBER_ID": NUMBER,
           "FLOWBOT_API_KEYS": "key-1", "FLOWBOT_LOG_LEVEL": "debug"}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "flows/demo", "--port", str(port), "--with-worker",
                             "--prefix", redis_prefix], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(base, tmp_path / "serve.log")
        yield base, fake
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)  # the fakes answer from this event loop: do not block it
        log.close()
        await fake.stop()
    logged = (tmp_path / "serve.log").read_text()
    leaked = [n for n in SEEN_USERS if n in logged] + [s for s in ("token-1", SECRET) if s in logged]
    assert not leaked, f"in clear in the logs: {leaked}"


SEEN_USERS: list[str] = []


async def wait_until_healthy(base: str, log: Path, tries: int = 300) -> None:
    """Wait for a started `flowbot serve` to answer /healthz; fail with the end of its log."""
    async with aiohttp.ClientSession() as http:
        for _ in range(tries):
            try:
                async with http.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("server did not start: " + log.read_text()[-4000:])


async def post(base: str, body: bytes, signed: bool = True, **headers: str) -> int:
    hdrs = {"content-type": "application/json", **headers}
    if signed:
        hdrs["x-hub-signature-256"] = signature_header(SECRET, body)
    data = io.BytesIO(body) if len(body) > 1024 * 1024 else body
    async with aiohttp.ClientSession() as http, http.post(f"{base}/webhooks/whatsapp", data=data, headers=hdrs) as r:
        return r.status


async def replies(fake: GraphFake, user: str, count: int, timeout: float = 15.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [m.body for m in fake.messages if m.body.get("to") == user]
        if len(got) >= count:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} replies to {user}, got {[m.body for m in fake.messages]}")


async def test_a_signed_message_gets_its_reply_through_the_graph_api(server) -> None:  # type: ignore[no-untyped-def]
    base, fake = server
    user = "2547" + str(uuid.uuid4().int)[:8]
    assert await post(base, webhook(user, "wamid.A1", text="hi")) == 200
    got = await replies(fake, user, 2)
    assert got[0]["type"] == "text" and "Haraka" in got[0]["text"]["body"]  # type: ignore[index]
    assert got[1]["type"] == "interactive"
    buttons = got[1]["interactive"]["action"]["buttons"]  # type: ignore[index]
    assert len(buttons) == 3
    assert fake.messages[0].authorization == "Bearer token-1" and fake.messages[0].phone_number_id == NUMBER


async def test_a_redelivered_message_is_answered_once(server) -> None:  # type: ignore[no-untyped-def]
    base, fake = server
    user = "2547" + str(uuid.uuid4().int)[:8]
    body = webhook(user, "wamid.DUP", text="hi")
    for _ in range(3):
        assert await post(base, body) == 200
    await replies(fake, user, 2)
    await asyncio.sleep(0.5)
    assert len([m for m in fake.messages if m.body.get("to") == user]) == 2


async def test_bad_webhooks_get_4xx_never_500(server) -> None:  # type: ignore[no-untyped-def]
    base, fake = server
    body = webhook("254700000009", "wamid.X", text="hi")
    assert await post(base, body, signed=False) == 403
    assert await post(base, body, signed=False, **{"x-hub-signature-256": "sha256=" + "0" * 64}) == 403
    garbage = b"{not json"
    assert await post(base, garbage, **{"x-hub-signature-256": signature_header(SECRET, garbage)}) == 400
    wrong = json.dumps({"object": "page", "entry": []}).encode()
    assert await post(base, wrong, **{"x-hub-signature-256": signature_header(SECRET, wrong)}) == 400
    huge = b'{"object":"whatsapp_business_account","entry":[' + b" " * (2 * 1024 * 1024) + b"]}"
    assert await post(base, huge, **{"x-hub-signature-256": signature_header(SECRET, huge)}) == 413
    not_json = b'{"object":"whatsapp_business_account","entry":[NaN]}'
    assert await post(base, not_json, **{"x-hub-signature-256": signature_header(SECRET, not_json)}) == 400
    lone = b'{"object":"whatsapp_business_account","entry":[{"id":"\\ud800"}]}'  # a lone surrogate escape
    assert await post(base, lone, **{"x-hub-signature-256": signature_header(SECRET, lone)}) == 400
    assert await post(base, body, **{"content-type": "text/plain"}) == 415

    async def endless():  # no Content-Length: the cap holds while the body streams in
        for _ in range(40):
            yield b" " * 65536

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/webhooks/whatsapp", data=endless(), headers={"content-type": "application/json"}) as r:
            assert r.status == 413
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"}) as r:
            assert r.status == 200 and await r.text() == "42"
        async with http.get(f"{base}/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "42"}) as r:
            assert r.status == 403


async def test_the_proactive_api_starts_a_flow_once_per_key(server) -> None:  # type: ignore[no-untyped-def]
    base, fake = server
    user = "2547" + str(uuid.uuid4().int)[:8]
    payload = {"to": f"+{user}", "flow": "parcel_update", "params": {"code": "HD-1236", "status": "delivered"},
               "idempotency_key": "k-" + user}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/bots/demo/conversations", json=payload) as r:
            assert r.status == 401
        auth = {"authorization": "Bearer key-1"}
        async with http.post(f"{base}/api/v1/bots/demo/conversations", json=payload, headers=auth) as r:
            assert r.status == 202 and (await r.json())["queued"] is True
        async with http.post(f"{base}/api/v1/bots/demo/conversations", json=payload, headers=auth) as r:
            assert r.status == 200 and (await r.json())["duplicate"] is True
        async with http.post(f"{base}/api/v1/bots/demo/conversations", json={**payload, "flow": "nope"}, headers=auth) as r:
            assert r.status == 422
    got = await replies(fake, user, 1)
    await asyncio.sleep(0.3)
    assert len([m for m in fake.messages if m.body.get("to") == user]) == 1  # once, though asked twice
    template = got[0]["template"]  # the user never wrote: only the approved template may go out
    assert template["name"] == "haraka_parcel_update_v1"  # type: ignore[index]
    assert template["components"][0]["parameters"] == [{"type": "text", "text": "HD-1236"}, {"type": "text", "text": "delivered"}]  # type: ignore[index]


def status_webhook(wamid: str, user: str, status: str, error: int | None = None) -> bytes:
    entry: dict[str, object] = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": user}
    if error is not None:
        entry["errors"] = [{"code": error, "title": "Re-engagement message", "message": "Re-engagement message"}]
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001", "phone_number_id": NUMBER},
        "statuses": [entry]}}]}]}
    return json.dumps(body).encode()


async def test_statuses_move_the_delivery_record_forward_only(server, redis_url: str, redis_prefix: str) -> None:  # type: ignore[no-untyped-def]
    import redis.asyncio as aioredis

    from engine.delivery.records import RedisDeliveryRecords

    base, fake = server
    user = "2547" + str(uuid.uuid4().int)[:8]
    await post(base, webhook(user, "wamid.S1", text="hi"))
    await replies(fake, user, 2)
    client = aioredis.Redis.from_url(redis_url)
    records = RedisDeliveryRecords(client, redis_prefix)
    wamid = ""  # the fake answered each send with a fresh wamid: find this user's in the records
    async for key in client.scan_iter(f"{redis_prefix}:dr:wamid*"):
        candidate = key.decode().split(":dr:", 1)[1]
        if (await records.get(candidate) or {}).get("user") == user:
            wamid = candidate
            break
    assert wamid
    for status in ("delivered", "read", "sent"):  # "sent" arrives last, out of order
        assert await post(base, status_webhook(wamid, user, status)) == 200
    await asyncio.sleep(0.2)
    record = await records.get(wamid)
    assert record is not None and record["status"] == "read" and record["user"] == user
    assert {"at_sent", "at_delivered", "at_read"} <= set(record)
    assert await post(base, status_webhook(wamid, user, "failed", error=131047)) == 200
    await asyncio.sleep(0.2)
    record = await records.get(wamid)
    assert record is not None and record["status"] == "failed" and record["error_code"] == "131047"
    await client.aclose()
