"""`flowbot serve` with no REDIS_URL: it starts its own Redis (append-only, in .flowbot/redis/)
and runs the workers in process; a message gets its reply and survives a restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from engine.channels.whatsapp import signature_header
from fakes.graph import GraphFake

ROOT = Path(__file__).resolve().parents[2]


def body(user: str, mid: str, text: str) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": "99"},
        "contacts": [{"profile": {"name": "A"}, "wa_id": user}],
        "messages": [{"from": user, "id": mid, "timestamp": "1", "type": "text", "text": {"body": text}}]}}]}]}).encode()


async def serve_once(cwd: Path, fake: GraphFake, port: int, posts: list[bytes], want: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(WHATSAPP_APP_SECRET="s", WHATSAPP_API_BASE_URL=fake.url, WHATSAPP_TOKEN="t", WHATSAPP_PHONE_NUMBER_ID="99",
               FLOWBOT_LOG_LEVEL="warning")
    log = (cwd / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", str(ROOT / "flows" / "demo"), "--port", str(port)],
                            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            for raw in posts:
                async with http.post(f"http://127.0.0.1:{port}/webhooks/whatsapp", data=raw,
                                     headers={"content-type": "application/json", "x-hub-signature-256": signature_header("s", raw)}) as r:
                    assert r.status == 200
        deadline = time.monotonic() + 15
        while len(fake.messages) < want and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its private Redis
        proc.wait(10)
        log.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_embedded_default_needs_no_redis_and_keeps_the_conversation(tmp_path: Path) -> None:
    fake = GraphFake()
    await fake.start()
    try:
        await serve_once(tmp_path, fake, free_port(), [body("254700000123", "wamid.E1", "hi")], want=2)
        assert [m.body["type"] for m in fake.messages] == ["text", "interactive"]
        assert (tmp_path / ".flowbot" / "redis" / "appendonlydir").exists() or list((tmp_path / ".flowbot" / "redis").glob("*.aof*"))
        # a second run on the same folder: the session survived, so "book" continues the conversation
        await serve_once(tmp_path, fake, free_port(), [body("254700000123", "wamid.E2", "Book a delivery")], want=4)
        texts = [m.body.get("text", {}).get("body", "") for m in fake.messages[2:]]
        assert any("book a pickup" in t for t in texts), texts
    finally:
        await fake.stop()
