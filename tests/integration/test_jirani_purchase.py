"""The jirani shop end to end: `flowbot serve flows/jirani` on loopback with a real PostgreSQL
(migrated, the example catalog loaded) and Redis, signed Cloud API webhooks in, replies out to
the Graph fake, payments against the Flutterwave fake.

browse → add to the cart → CHECKOUT → a pending order and its links in the chat → Flutterwave's
signed webhook → the verify call → the order processing, a ledger entry, the confirmation
received by the Graph fake → STATUS shows it; STOP → a consent row → a proactive send
suppressed → START; past 30 messages a minute, one notice."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.flutterwave import FlutterwaveFake
from fakes.graph import GraphFake
from test_serve_whatsapp import (
    NUMBER,
    SECRET,
    free_port,
    post,
    wait_until_healthy,
    webhook,
)

from engine.store.migrate import migrate
from engine.store.postgres import PostgresStore

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
HASH = "jirani-webhook-hash-5521"
API_KEY = "jirani-key-1"


@dataclass
class Shop:
    url: str
    graph: GraphFake
    flw: FlutterwaveFake
    store: PostgresStore
    log: Path

    async def say(self, user: str, text: str | None = None, button: str | None = None) -> None:
        mid = f"wamid.{uuid.uuid4().hex[:20]}"
        assert await post(self.url, webhook(user, mid, text=text, button=button)) == 200

    def texts(self, user: str) -> list[str]:
        out = []
        for m in self.graph.messages:
            body = m.body
            if body.get("to") != user:
                continue
            if body.get("type") == "text":
                out.append(body["text"]["body"])
            elif body.get("type") == "interactive":
                out.append(body["interactive"]["body"]["text"])
            elif body.get("type") == "template":
                out.append("template " + body["template"]["name"])
        return out

    async def wait_for(self, user: str, pattern: str, timeout: float = 15.0) -> list[str]:
        """The user's messages once one matches `pattern` (a regular expression)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.texts(user)
            if any(re.search(pattern, t) for t in got):
                return got
            await asyncio.sleep(0.03)
        raise AssertionError(f"no message matching {pattern!r} to the user; got {self.texts(user)}\n"
                             + self.log.read_text()[-3000:])

    async def ask(self, user: str, text: str | None = None, button: str | None = None, *, expect: str) -> str:
        """Send, and return the first new message matching `expect`."""
        before = len(self.texts(user))
        await self.say(user, text, button)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            new = self.texts(user)[before:]
            found = [t for t in new if re.search(expect, t)]
            if found:
                return found[0]
            await asyncio.sleep(0.03)
        raise AssertionError(f"after {text or button!r}: no reply matching {expect!r}; new: {self.texts(user)[before:]}\n"
                             + self.log.read_text()[-3000:])

    async def api(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.url}{path}", json=body, headers={"authorization": f"Bearer {API_KEY}"}) as r:
            return r.status, await r.json()

    async def flutterwave(self, body: dict[str, Any]) -> int:
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.url}/webhooks/flutterwave", data=json.dumps(body).encode(),
                headers={"content-type": "application/json", "verif-hash": HASH}) as r:
            return r.status

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        async with self.store.pool.connection() as conn:
            return await (await conn.execute(sql, params)).fetchall()


@pytest.fixture
async def shop(tmp_path: Path, redis_url: str, redis_prefix: str, postgres_db: str) -> AsyncIterator[Shop]:
    migrate(postgres_db)
    store = await PostgresStore.open(postgres_db, max_size=2)
    async with store.pool.connection() as conn:
        await conn.execute((ROOT / "flows" / "jirani" / "catalog.sql").read_text().encode())
    graph = await GraphFake().start()
    flw = await FlutterwaveFake().start()
    port = free_port()
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": postgres_db, "WHATSAPP_APP_SECRET": SECRET,
           "WHATSAPP_API_BASE_URL": graph.url, "WHATSAPP_TOKEN": "token-j", "WHATSAPP_PHONE_NUMBER_ID": NUMBER,
           "FLUTTERWAVE_BASE_URL": flw.url, "FLUTTERWAVE_SECRET_KEY": flw.secret_key,
           "FLUTTERWAVE_SECRET_HASH": HASH, "FLOWBOT_API_KEYS": API_KEY, "FLOWBOT_LOG_LEVEL": "info"}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "flows/jirani", "--port", str(port),  # noqa: ASYNC220
                             "--with-worker", "--prefix", redis_prefix], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(base, log_path)
        yield Shop(base, graph, flw, store, log_path)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)  # the fakes answer from this event loop: do not block it
        log.close()
        await flw.stop()
        await graph.stop()
        await store.close()


def a_user() -> str:
    return "2547" + str(uuid.uuid4().int)[:8]


async def test_a_purchase_from_browsing_to_the_payment_confirmation(shop: Shop) -> None:
    user = a_user()
    await shop.ask(user, "hi", expect="Karibu Jirani")
    await shop.ask(user, "browse", expect="What are you looking for today")
    await shop.ask(user, button="Unga & rice", expect="which one would you like")
    await shop.ask(user, button="U1", expect="How many Maize flour 2 kg")
    await shop.ask(user, "2", expect=r"Added 2 × Maize flour 2 kg")
    await shop.ask(user, "ADD D1 3", expect=r"Added 3 × Fresh milk 500 ml\. Your cart: 5 items")
    links = await shop.ask(user, "CHECKOUT", expect="Pay here")

    # a pending order, its lines, a pending transaction, and both links in the chat
    ref = re.search(r"Order (JR-[A-Z0-9]{7})", links)
    assert ref is not None, links
    order_ref = ref.group(1)
    assert await shop.rows("SELECT status, total::text, currency, user_id FROM orders WHERE bot = 'jirani'") == [
        ("pending", "615.00", "KES", user)]
    assert await shop.rows("SELECT sku, qty, unit_price::text FROM order_items WHERE order_ref = %s ORDER BY id",
                           order_ref) == [("U1", 2, "210.00"), ("D1", 3, "65.00")]
    [(tx_ref, link, tx_status)] = await shop.rows(
        "SELECT tx_ref, payment_link, status FROM transactions WHERE order_ref = %s", order_ref)
    assert tx_status == "pending" and link.startswith("https://checkout.flutterwave.com/v3/hosted/pay/")
    assert link in links and f"https://jirani.example.com/checkout?order={order_ref}" in links
    assert shop.flw.count("/v3/payments", "POST") == 1

    # Flutterwave's signed webhook; the payment is verified with its API before anything moves
    shop.flw.set_transaction(tx_ref, status="successful", amount=615, currency="KES")
    verified_before = shop.flw.count("/v3/transactions/")
    assert await shop.flutterwave(shop.flw.webhook_v3(tx_ref)) == 200
    assert shop.flw.count("/v3/transactions/") == verified_before + 1
    assert await shop.rows("SELECT status FROM orders WHERE order_ref = %s", order_ref) == [("processing",)]
    assert await shop.rows("SELECT status FROM transactions WHERE tx_ref = %s", tx_ref) == [("successful",)]
    assert await shop.rows("SELECT kind, amount::text, currency FROM ledger_entries WHERE tx_ref = %s", tx_ref) == [
        ("charge", "615.00", "KES")]
    await shop.wait_for(user, rf"Payment received: .*615\.00 for order {order_ref}")

    # a redelivered webhook changes nothing and confirms nothing twice
    assert await shop.flutterwave(shop.flw.webhook_v3(tx_ref)) == 200
    await asyncio.sleep(0.5)
    assert sum("Payment received" in t for t in shop.texts(user)) == 1
    assert len(await shop.rows("SELECT 1 FROM ledger_entries WHERE tx_ref = %s", tx_ref)) == 1

    status = await shop.ask(user, "STATUS", expect="Your latest orders")
    assert f"{order_ref}, " in status and "paid, being prepared" in status and "Pay here" not in status
    await shop.ask(user, "CART", expect="Your cart is empty")
    tracked = await shop.ask(user, f"track {order_ref.lower()}", expect=f"Order {order_ref}")
    assert "paid, being prepared" in tracked and "No delivery yet" in tracked


async def test_stop_is_recorded_and_suppresses_proactive_sends_until_start(shop: Shop) -> None:
    user = a_user()
    await shop.ask(user, "hi", expect="Karibu Jirani")
    await shop.ask(user, "STOP", expect="you won't get any more messages from Jirani")
    history = await shop.store.consent_history("jirani", user)
    assert [(h["state"], h["source"], h["detail"]) for h in history] == [("opted_out", "keyword", "STOP")]

    update = {"to": user, "flow": "order_update", "params": {"order_ref": "JR-AAAA222", "status": "on its way"}}
    code, answer = await shop.api("/api/v1/bots/jirani/conversations", {**update, "idempotency_key": "upd-1"})
    assert (code, answer) == (202, {"queued": True, "duplicate": False})
    sent_before = len(shop.texts(user))
    await asyncio.sleep(1.0)  # the turn runs, and sends nothing
    assert len(shop.texts(user)) == sent_before

    await shop.ask(user, "START", expect="Welcome back to Jirani")
    assert [h["state"] for h in await shop.store.consent_history("jirani", user)] == ["opted_out", "opted_in"]
    code, _ = await shop.api("/api/v1/bots/jirani/conversations", {**update, "idempotency_key": "upd-2"})
    assert code == 202
    await shop.wait_for(user, "Your order JR-AAAA222 is now: on its way")


async def test_past_thirty_messages_a_minute_one_notice_then_silence(shop: Shop) -> None:
    user = a_user()
    if time.time() % 60 > 45:  # the limit counts per clock minute: keep the burst inside one
        await asyncio.sleep(61 - time.time() % 60)
    for _ in range(32):
        await shop.say(user, "cart")
    await shop.wait_for(user, "sending messages faster than I can keep up")
    await asyncio.sleep(0.5)
    texts = shop.texts(user)
    assert sum("faster than I can keep up" in t for t in texts) == 1
    assert sum("Your cart is empty" in t for t in texts) <= 30
