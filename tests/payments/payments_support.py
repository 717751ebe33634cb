"""What the payments tests share: the shop bot, the webhook secret, an action context, and the
served app with helpers to post webhooks and read what changed."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from engine.delivery.queue import Wake
from engine.delivery.turns import TurnWorker
from engine.deployment import Deployment
from engine.runtime.actions import ActionContext
from engine.store.postgres import PostgresStore

SECRET_HASH = "my-very-own-secret-hash-0931"

BOT = """\
bot: shop
start: main
languages: [en]
proactive: [paid]
actions: [payments]
settings:
  currency: KES
  payments:
    confirm_flow: paid
    redirect_url: https://shop.example/thanks
    email: orders@shop.example
    title: Duka
"""

MAIN = """\
flow: main
start: how
slots:
  method: {type: text}
  payment: {description: what payments.checkout returned}
steps:
  how:
    ask: "Order A-1 comes to KES 1500. How would you like to pay?"
    choices: [{id: link, title: Card}, {id: mobile_money, title: M-Pesa}]
    into: method
    next: pay
  pay:
    action: payments.checkout
    with: {order_ref: A-1, amount: 1500, currency: KES, method: "{{ slots.method }}"}
    into: payment
    on: {ok: sent, failed: sorry}
    on_error: {say: "Payments are unavailable just now.", next: sorry}
  sent:
    say: "{% if slots.payment.link %}Pay here: {{ slots.payment.link }}{% else %}Approve the M-Pesa request on your phone.{% endif %}"
    end: true
  sorry:
    say: "Sorry, the payment could not start."
    end: true
"""

PAID = """\
flow: paid
start: thanks
slots:
  order_ref: {type: text}
  amount: {type: text}
  currency: {type: text}
steps:
  thanks:
    say: "Payment received: {{ slots.currency }} {{ slots.amount }} for order {{ slots.order_ref }}. Thank you!"
    end: true
"""


def context(store: Any, key: str | None = None, user: str = "254712345678", **settings: Any) -> ActionContext:
    payments = {"redirect_url": "https://shop.example/thanks", "email": "orders@shop.example", **settings}
    return ActionContext(bot="shop", user=user, lang="en", slots={}, settings={"payments": payments},
                         idempotency_key=key or uuid.uuid4().hex, flow="main", step="pay",
                         services={} if store is None else {"db": store})


@dataclass
class Served:
    url: str
    deployment: Deployment
    store: PostgresStore

    async def post(self, body: bytes | dict[str, Any] | list[Any], headers: dict[str, str] | None = None,
                   *, hash_: str | None = SECRET_HASH) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"content-type": "application/json", **({"verif-hash": hash_} if hash_ is not None else {}),
                **(headers or {})}
        async with aiohttp.ClientSession() as http, http.post(f"{self.url}/webhooks/flutterwave", data=raw,
                                                             headers=sent) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text.startswith("{") else {"text": text})

    async def inbox(self, user: str) -> list[dict[str, Any]]:
        return await self.deployment.queue.all("shop", user, "in")

    async def run_turns(self, user: str) -> list[dict[str, Any]]:
        """Run the user's queued turns as a worker would; the outbox afterwards."""
        runtimes = {name: host.runtime for name, host in self.deployment.bots.items()}
        await TurnWorker(self.deployment.queue, runtimes).drain(Wake("0-0", "shop", user))
        return await self.deployment.queue.all("shop", user, "out")

    async def state(self) -> dict[str, Any]:
        """Everything the webhook may change, to compare before and after."""
        async with self.store.pool.connection() as conn:
            txs = await (await conn.execute(
                "SELECT tx_ref, status, provider_tx_id, amount, currency FROM transactions ORDER BY id")).fetchall()
            orders = await (await conn.execute("SELECT order_ref, status FROM orders ORDER BY id")).fetchall()
            ledger = await (await conn.execute(
                "SELECT tx_ref, kind, amount, currency FROM ledger_entries ORDER BY id")).fetchall()
            audit = await (await conn.execute("SELECT action, subject FROM audit_log ORDER BY id")).fetchall()
        return {"transactions": txs, "orders": orders, "ledger": ledger, "audit": audit}


