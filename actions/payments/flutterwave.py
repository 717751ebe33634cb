"""A small Flutterwave v3 client on aiohttp: hosted payment links, mobile money charges, and
transaction verification.

    client = Flutterwave.from_env()                   # FLUTTERWAVE_SECRET_KEY, FLUTTERWAVE_BASE_URL
    link = await client.create_payment_link(tx_ref="fb-…", amount=Decimal("1500"), currency="KES", ...)
    data = await client.verify_transaction(285959875)  # GET /v3/transactions/{id}/verify
    data = await client.verify_by_reference("fb-…")    # GET /v3/transactions/verify_by_reference?tx_ref=

Every answer is Flutterwave's envelope `{"status": "success" | "error", "message", "data"}`.
A 4xx (or `status: error`) raises `FlutterwaveRejected`: asking again will not help. A 5xx, a
timeout, a network failure or an answer that is not the envelope raises
`FlutterwaveUnavailable`: ask again later. The secret key only ever travels in the
`Authorization: Bearer` header and is never logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp

DEFAULT_BASE_URL = "https://api.flutterwave.com"

# Which mobile money charge (POST /v3/charges?type=mobile_money_<kind>) collects which currency.
# XAF and XOF are the francophone wallets (Cameroon, Côte d'Ivoire, Senegal, Burkina Faso, ...),
# which also need the payer's `country`.
MOBILE_MONEY: dict[str, str] = {
    "KES": "mpesa",
    "GHS": "ghana",
    "UGX": "uganda",
    "RWF": "rwanda",
    "ZMW": "zambia",
    "TZS": "tanzania",
    "XAF": "franco",
    "XOF": "franco",
}
NETWORK_REQUIRED = frozenset({"ghana"})  # Ghana charges name the wallet's network (MTN, VODAFONE, ...)


class FlutterwaveError(Exception):
    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class FlutterwaveRejected(FlutterwaveError):
    """Flutterwave refused the request (4xx or `status: error`): asking again will not help."""


class FlutterwaveUnavailable(FlutterwaveError):
    """No usable answer (5xx, timeout, network, not JSON): ask again later."""


def mobile_money_kind(currency: str) -> str:
    """The charge type for a currency's mobile money, e.g. KES -> mpesa."""
    try:
        return MOBILE_MONEY[currency]
    except KeyError:
        raise ValueError(f"no mobile money charge collects {currency} (Flutterwave collects "
                         f"{', '.join(sorted(MOBILE_MONEY))} by mobile money)") from None


def _amount(value: Decimal) -> int | float:
    """Money as a JSON number in the main unit (1500, 99.5)."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class Flutterwave:
    secret_key: str
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 20.0
    session: aiohttp.ClientSession | None = None  # shared by the host; else one per request
    requests_made: int = field(default=0, repr=False)

    @classmethod
    def from_env(cls, session: aiohttp.ClientSession | None = None) -> Flutterwave:
        key = os.environ.get("FLUTTERWAVE_SECRET_KEY", "")
        if not key:
            raise FlutterwaveError("FLUTTERWAVE_SECRET_KEY is not set: the payments plugin needs the account's "
                                   "secret key (FLWSECK-... or FLWSECK_TEST-...)")
        base = os.environ.get("FLUTTERWAVE_BASE_URL", "") or DEFAULT_BASE_URL
        timeout = float(os.environ.get("FLUTTERWAVE_TIMEOUT", "20"))
        return cls(secret_key=key, base_url=base.rstrip("/"), timeout=timeout, session=session)

    # ─── the endpoints ────────────────────────────────────────────────────────────────────

    async def create_payment_link(self, *, tx_ref: str, amount: Decimal, currency: str, redirect_url: str,
                                  customer: Mapping[str, Any], customizations: Mapping[str, Any] | None = None,
                                  meta: Mapping[str, Any] | None = None,
                                  payment_options: str | None = None) -> str:
        """POST /v3/payments (Flutterwave Standard): the hosted checkout link (`data.link`)."""
        body: dict[str, Any] = {"tx_ref": tx_ref, "amount": _amount(amount), "currency": currency,
                                "redirect_url": redirect_url, "customer": dict(customer)}
        if customizations:
            body["customizations"] = dict(customizations)
        if meta:
            body["meta"] = dict(meta)
        if payment_options:
            body["payment_options"] = payment_options
        answer = await self._request("POST", "/v3/payments", json_body=body)
        data = answer.get("data")
        link = data.get("link") if isinstance(data, Mapping) else None
        if not isinstance(link, str) or not link.startswith(("https://", "http://")):
            raise FlutterwaveUnavailable("POST /v3/payments answered without data.link", 200, answer)
        return link

    async def charge_mobile_money(self, *, kind: str, tx_ref: str, amount: Decimal, currency: str,
                                  phone_number: str, email: str, fullname: str | None = None,
                                  network: str | None = None, country: str | None = None,
                                  redirect_url: str | None = None,
                                  meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST /v3/charges?type=mobile_money_<kind>. The whole envelope: `data` (id, status
        `pending`, ...) and/or `meta.authorization` (`mode: redirect` with a `redirect` URL the
        payer opens, or `callback`: the payer approves on the phone)."""
        if kind not in set(MOBILE_MONEY.values()):
            raise ValueError(f"unknown mobile money kind {kind!r}")
        if kind in NETWORK_REQUIRED and not network:
            raise ValueError(f"a mobile_money_{kind} charge needs the payer's network (e.g. MTN, VODAFONE)")
        if kind == "franco" and not country:
            raise ValueError("a mobile_money_franco charge needs the payer's country (CM, CI, SN, BF, ...)")
        body: dict[str, Any] = {"tx_ref": tx_ref, "amount": _amount(amount), "currency": currency,
                                "phone_number": phone_number, "email": email}
        for key, value in (("fullname", fullname), ("network", network.upper() if network else None),
                           ("country", country), ("redirect_url", redirect_url)):
            if value:
                body[key] = value
        if meta:
            body["meta"] = dict(meta)
        return await self._request("POST", "/v3/charges", params={"type": f"mobile_money_{kind}"}, json_body=body)

    async def verify_transaction(self, transaction_id: int | str) -> dict[str, Any]:
        """GET /v3/transactions/{id}/verify: the transaction as Flutterwave has it (`data`)."""
        ident = str(transaction_id)
        if not ident.isdigit():
            raise ValueError(f"a v3 transaction id is a number, not {ident!r}")
        return self._data(await self._request("GET", f"/v3/transactions/{ident}/verify"))

    async def verify_by_reference(self, tx_ref: str) -> dict[str, Any]:
        """GET /v3/transactions/verify_by_reference?tx_ref=...: the transaction with our reference."""
        return self._data(await self._request("GET", "/v3/transactions/verify_by_reference",
                                              params={"tx_ref": tx_ref}))

    # ─── transport ────────────────────────────────────────────────────────────────────────

    @staticmethod
    def _data(answer: Mapping[str, Any]) -> dict[str, Any]:
        data = answer.get("data")
        if not isinstance(data, dict):
            raise FlutterwaveUnavailable("the verify answer has no `data` object", 200, answer)
        return data

    async def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                       json_body: Any = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.secret_key}", "Accept": "application/json"}
        own = self.session is None
        session = self.session or aiohttp.ClientSession()
        self.requests_made += 1
        try:
            async with session.request(method, f"{self.base_url}{path}", params=params, json=json_body,
                                       headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
                status = response.status
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FlutterwaveUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            if own:
                await session.close()
        try:
            answer = json.loads(text) if text else None
        except ValueError:
            answer = None
        message = answer.get("message") if isinstance(answer, dict) else None
        if status >= 500 or status == 429:
            raise FlutterwaveUnavailable(f"{method} {path} answered {status}: {message or text[:200]}", status, answer)
        if not isinstance(answer, dict) or "status" not in answer:
            raise FlutterwaveUnavailable(f"{method} {path} answered {status} with no Flutterwave envelope", status, text[:500])
        if status >= 400 or answer.get("status") != "success":
            raise FlutterwaveRejected(f"{method} {path} answered {status}: {message or 'error'}", status, answer)
        return answer
