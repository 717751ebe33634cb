"""With DATABASE_URL, every message in and out and every status lands in the PostgreSQL
messaging log, written in batches off the reply path by the log shipper."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from engine.store.migrate import migrate
from engine.store.postgres import PostgresStore
from fakes.graph import GraphFake
from test_serve_whatsapp import NUMBER, SECRET, free_port, post, replies, status_webhook, webhook

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]


async def test_messages_and_statuses_reach_the_log(tmp_path: Path, redis_url: str, redis_prefix: str, postgres_db: str) -> None:
    migrate(postgres_db)
    fake = GraphFake()
    await fake.start()
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": postgres_db, "WHATSAPP_APP_SECRET": SECRET,
           "WHATSAPP_API_BASE_URL": fake.url, "WHATSAPP_TOKEN": "t", "WHATSAPP_PHONE_NUMBER_ID": NUMBER, "FLOWBOT_LOG_LEVEL": "warning"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "flows/demo", "--port", str(port), "--with-worker",
                             "--prefix", redis_prefix], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    store = await PostgresStore.open(postgres_db, max_size=2)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        user = "2547" + str(uuid.uuid4().int)[:8]
        assert await post(base, webhook(user, "wamid.LOG1", text="hi")) == 200
        await replies(fake, user, 2)
        history: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            history = await store.history("demo", user)
            if len(history) >= 3 and all(h["provider_id"] for h in history):
                break
            await asyncio.sleep(0.1)
        assert [h["direction"] for h in history] == ["in", "out", "out"], history
        assert history[0]["provider_id"] == "wamid.LOG1" and history[0]["kind"] == "text"
        assert all(h["status"] == "sent" for h in history[1:])
        wamid = str(history[1]["provider_id"])
        assert await post(base, status_webhook(wamid, user, "read")) == 200
        assert await post(base, status_webhook(wamid, user, "delivered")) == 200  # late and out of order
        deadline = time.monotonic() + 10
        record = None
        while time.monotonic() < deadline:
            record = await store.get(wamid)
            if record and record["status"] == "read":
                break
            await asyncio.sleep(0.1)
        assert record is not None and record["status"] == "read"
    finally:
        await store.close()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)  # the fakes answer from this event loop: do not block it
        log.close()
        await fake.stop()
