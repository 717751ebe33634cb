"""FlutterwaveFake: a server speaking Flutterwave's v3 API on loopback, for tests and development.

It answers in Flutterwave's envelope (`{"status": "success" | "error", "message", "data"}`) on
the paths the payments plugin uses, behind secret-key auth (`Authorization: Bearer
FLWSECK_TEST-...`; anything else is a 401 "Invalid authorization key"):

- POST /v3/payments: checks tx_ref, amount, currency, redirect_url, customer.email; answers
  `{"status": "success", "message": "Hosted Link", "data": {"link": ".../v3/hosted/pay/<id>"}}`.
- POST /v3/charges?type=mobile_money_<kind>: checks the fields; M-Pesa, Tanzania and the
  francophone wallets answer `data` (id, status `pending`) as the docs' samples do (franco with
  `meta.authorization.mode: callback`); Ghana, Uganda, Rwanda and Zambia answer only
  `meta.authorization` `{mode: redirect, redirect: <URL>}`.
- GET /v3/transactions/{id}/verify and GET /v3/transactions/verify_by_reference?tx_ref=...:
  the transaction as the test set it (`set_transaction`), in the shape of the docs' verify
  sample; unknown: 400 `{"status": "error", "message": "No transaction was found for this id"}`.

A second mobile money charge with a tx_ref the fake already has answers 400 "Duplicate
transaction reference": an assumption (what the real API does then was not confirmed), which
keeps a test honest about never charging twice. A charge or a link records a pending transaction; the test then decides what Flutterwave
"saw" with `set_transaction(tx_ref, status=..., amount=..., currency=...)` (a lower amount or
another currency is how tampering looks from the verify API). `webhook_v3(tx_ref)` builds a
`charge.completed` body for it in the shape of the v3 docs' sample (tests/fixtures/flutterwave/).

    async with FlutterwaveFake() as flw:
        monkeypatch.setenv("FLUTTERWAVE_BASE_URL", flw.url); monkeypatch.setenv("FLUTTERWAVE_SECRET_KEY", flw.secret_key)

`python tests/fakes/flutterwave.py --port 8092` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

try:
    from fakes._loopback import LoopbackFake
except ImportError:  # run as a script
    from _loopback import LoopbackFake  # type: ignore[no-redef]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY = web.RequestKey("body", dict)
MOBILE_MONEY_KINDS = ("mpesa", "ghana", "uganda", "rwanda", "zambia", "tanzania", "franco")
_REDIRECT_ONLY = ("ghana", "uganda", "rwanda", "zambia")
_PAYMENT_TYPES = {"mpesa": "mpesa", "tanzania": "mobilemoneytz", "franco": "mobilemoneysn",
                  "ghana": "mobilemoneygh", "uganda": "mobilemoneyug", "rwanda": "mobilemoneyrw",
                  "zambia": "mobilemoneyzm"}


def envelope(data: Any, message: str, status: str = "success", **extra: Any) -> dict[str, Any]:
    return {"status": status, "message": message, "data": data, **extra}


def error(http: int, message: str) -> web.Response:
    return web.json_response(envelope(None, message, "error"), status=http)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _number(value: Any) -> int | float:
    found = Decimal(str(value))
    return int(found) if found == found.to_integral_value() else float(found)


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str


class FlutterwaveFake(LoopbackFake):
    def __init__(self, secret_key: str = "FLWSECK_TEST-5b3c0f1d9a7e4c2b8d6f0a1e3c5b7d9f-X", host: str = "127.0.0.1",
                 port: int = 0) -> None:
        super().__init__(host, port)
        self.secret_key = secret_key
        self.requests: list[Received] = []
        self.transactions: dict[int, dict[str, Any]] = {}  # Flutterwave id -> the verify answer's data
        self._failures: list[tuple[str | None, int]] = []
        self._ids = itertools.count(285959875)

    # ── what the test sets ────────────────────────────────────────────────────────────────
    def set_transaction(self, tx_ref: str, *, status: str = "successful", amount: Any = None,
                        currency: str | None = None, payment_type: str = "card", **extra: Any) -> dict[str, Any]:
        """Flutterwave's record of the latest transaction with `tx_ref` (created if none), as
        the verify API will answer it. Returns the record (its `id` is what webhooks carry)."""
        record = self.by_reference(tx_ref)
        if record is None:
            ident = next(self._ids)
            record = {"id": ident, "tx_ref": tx_ref, "flw_ref": f"FLW-MOCK-{ident}", "device_fingerprint": "N/A",
                      "amount": 0, "currency": "NGN", "charged_amount": 0, "app_fee": 0, "merchant_fee": 0,
                      "processor_response": "", "auth_model": "AUTH", "ip": "127.0.0.1",
                      "narration": "Flowbot test", "status": "pending", "payment_type": payment_type,
                      "created_at": _now(), "account_id": 17321, "meta": None, "amount_settled": None,
                      "customer": {"id": 215604089, "name": "Test Customer", "phone_number": "N/A",
                                   "email": "customer@example.com", "created_at": _now()}}
            self.transactions[ident] = record
        if amount is not None:
            record["amount"] = record["charged_amount"] = _number(amount)
        if currency is not None:
            record["currency"] = currency
        record["status"] = status
        if status == "successful":
            record["processor_response"] = "Approved by Financial Institution"
            record["app_fee"] = round(float(record["amount"]) * 0.014, 2)
            record["amount_settled"] = round(float(record["amount"]) - record["app_fee"], 2)
        record.update(extra)
        return record

    def by_reference(self, tx_ref: str) -> dict[str, Any] | None:
        found = [t for t in self.transactions.values() if t["tx_ref"] == tx_ref]
        return found[-1] if found else None

    def webhook_v3(self, tx_ref: str, **overrides: Any) -> dict[str, Any]:
        """A v3 `charge.completed` body for the transaction with `tx_ref`, as the docs' sample
        is shaped; `overrides` replace fields of `data` (what a tampered body would say)."""
        record = self.by_reference(tx_ref)
        if record is None:
            raise KeyError(f"no transaction {tx_ref!r}: set_transaction it first")
        data = {k: record[k] for k in ("id", "tx_ref", "flw_ref", "device_fingerprint", "amount", "currency",
                                       "charged_amount", "app_fee", "merchant_fee", "processor_response",
                                       "auth_model", "ip", "narration", "status", "payment_type", "created_at",
                                       "account_id", "customer")}
        data.update(overrides)
        return {"event": "charge.completed", "data": data}

    def fail_next(self, n: int = 1, status: int = 500, path: str | None = None) -> None:
        """The next `n` requests (to paths starting with `path`, when given) answer `status`."""
        self._failures.extend((path, status) for _ in range(n))

    def count(self, path: str, method: str | None = None) -> int:
        return sum(1 for r in self.requests if r.path.startswith(path) and (method is None or r.method == method))

    # ── lifecycle ─────────────────────────────────────────────────────────────────────────
    def app(self) -> web.Application:
        return web.Application(middlewares=[self._front])

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v3/payments", self._payments)
        router.add_post("/v3/charges", self._charges)
        router.add_get("/v3/transactions/verify_by_reference", self._verify_by_reference)
        router.add_get("/v3/transactions/{id}/verify", self._verify)

    # ── request handling ──────────────────────────────────────────────────────────────────
    @web.middleware
    async def _front(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        auth = request.headers.get("Authorization", "")
        self.requests.append(Received(request.method, request.path, dict(request.query), body, auth))
        for i, (path, status) in enumerate(self._failures):
            if path is None or request.path.startswith(path):
                del self._failures[i]
                return error(status, "Internal server error" if status >= 500 else "Request failed")
        if auth != f"Bearer {self.secret_key}":
            return error(401, "Invalid authorization key")
        if request.method == "POST" and not isinstance(body, dict):
            return error(400, "Invalid JSON body")
        request[BODY] = body
        return await handler(request)

    @staticmethod
    def _missing(body: dict[str, Any], *fields: str) -> web.Response | None:
        for name in fields:
            if body.get(name) in (None, ""):
                return error(400, f"{name} is required")
        try:
            if Decimal(str(body["amount"])) <= 0:
                return error(400, "amount must be greater than 0")
        except ArithmeticError:
            return error(400, "amount must be a number")
        return None

    async def _payments(self, request: web.Request) -> web.Response:
        body = request[BODY]
        refused = self._missing(body, "tx_ref", "amount", "currency", "redirect_url", "customer")
        if refused is not None:
            return refused
        if not isinstance(body["customer"], dict) or not body["customer"].get("email"):
            return error(400, "customer.email is required")
        record = self.set_transaction(body["tx_ref"], status="pending", amount=body["amount"], currency=body["currency"])
        record["customer"]["email"] = body["customer"]["email"]
        token = secrets.token_hex(10)
        return web.json_response(envelope({"link": f"https://checkout.flutterwave.com/v3/hosted/pay/{token}"},
                                          "Hosted Link"))

    async def _charges(self, request: web.Request) -> web.Response:
        kind = request.query.get("type", "")
        if not kind.startswith("mobile_money_") or kind[len("mobile_money_"):] not in MOBILE_MONEY_KINDS:
            return error(400, "Invalid charge type passed")
        kind = kind[len("mobile_money_"):]
        body = request[BODY]
        refused = self._missing(body, "tx_ref", "amount", "currency", "phone_number", "email")
        if refused is not None:
            return refused
        if kind == "ghana" and not body.get("network"):
            return error(400, "network is required")
        if kind == "franco" and not body.get("country"):
            return error(400, "country is required")
        if self.by_reference(body["tx_ref"]) is not None:
            return error(400, "Duplicate transaction reference")  # an assumption: see the module doc
        record = self.set_transaction(body["tx_ref"], status="pending", amount=body["amount"], currency=body["currency"],
                                      payment_type=_PAYMENT_TYPES[kind], auth_model="MOBILEMONEY")
        record["customer"]["phone_number"] = body["phone_number"]
        if kind in _REDIRECT_ONLY:
            redirect = f"https://ravemodal-dev.herokuapp.com/captcha/verify/lang-en/{record['id']}:{secrets.token_hex(16)}"
            return web.json_response({"status": "success", "message": "Charge initiated",
                                      "meta": {"authorization": {"redirect": redirect, "mode": "redirect"}}})
        data = {k: record[k] for k in ("id", "tx_ref", "flw_ref", "device_fingerprint", "amount", "charged_amount",
                                       "app_fee", "merchant_fee", "processor_response", "auth_model", "currency",
                                       "ip", "narration", "status", "payment_type", "created_at", "account_id",
                                       "customer")}
        data.update({"auth_url": "N/A", "fraud_status": "ok", "charge_type": "normal"})
        answer: dict[str, Any] = envelope(data, "Charge initiated")
        if kind == "franco":
            answer["meta"] = {"authorization": {"mode": "callback", "redirect_url": None}}
        return web.json_response(answer)

    async def _verify(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        record = self.transactions.get(int(ident)) if ident.isdigit() else None
        if record is None:
            return error(400, "No transaction was found for this id")
        return web.json_response(envelope(record, "Transaction fetched successfully"))

    async def _verify_by_reference(self, request: web.Request) -> web.Response:
        record = self.by_reference(request.query.get("tx_ref", ""))
        if record is None:
            return error(400, "No transaction was found for this tx_ref")
        return web.json_response(envelope(record, "Transaction fetched successfully"))


async def _main(port: int) -> None:
    async with FlutterwaveFake(port=port) as fake:
        print(f"FLUTTERWAVE_BASE_URL={fake.url} FLUTTERWAVE_SECRET_KEY={fake.secret_key}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8092)
    asyncio.run(_main(parser.parse_args().port))
