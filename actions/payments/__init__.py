"""Built-in plugin `payments`: take payments through Flutterwave from a flow.

    steps:
      pay:
        action: payments.checkout
        with: {order_ref: "{{ slots.order.ref }}", amount: "{{ slots.order.total }}", currency: KES, method: link}
        into: payment
        on: {ok: send_link, failed: payment_failed}
        on_error: {say: errors.try_later, next: menu}

`payments.checkout` records the order (pending, if new) and a pending transaction, then asks
Flutterwave for a hosted payment link (`method: link`: card, and whatever the account enables) or
pushes a mobile money charge to the payer's phone (`method: mobile_money`: M-Pesa for KES, Ghana
for GHS, ... see MOBILE_MONEY in flutterwave.py). The transaction's reference (`tx_ref`) is
derived from the turn's idempotency key: a retried turn finds its transaction and returns the
same link without asking Flutterwave again.

The money arrives later: Flutterwave calls POST /webhooks/flutterwave (engine/web/payments.py),
which re-verifies the transaction with Flutterwave, records it once, moves the order to
`processing` and starts the bot's confirmation flow for the customer.

Configuration: FLUTTERWAVE_SECRET_KEY (required), FLUTTERWAVE_BASE_URL (default
https://api.flutterwave.com), FLUTTERWAVE_SECRET_HASH (the webhook's secret hash), and in the
bot manifest `settings.payments`: redirect_url, email, title, logo, confirm_flow. The database is
`services["db"]` (a PostgresStore or an AsyncConnectionPool): the host injects it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from actions.payments import store
from actions.payments.flutterwave import (
    MOBILE_MONEY,
    Flutterwave,
    FlutterwaveError,
    FlutterwaveRejected,
    FlutterwaveUnavailable,
    mobile_money_kind,
)
from engine.runtime.actions import Action, ActionContext, ActionError, ActionResult

METHODS = ("link", "mobile_money")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_ORDER_REF = re.compile(r"^[A-Za-z0-9._:/-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def settings_of(ctx: ActionContext) -> Mapping[str, Any]:
    found = (ctx.settings or {}).get("payments") or {}
    return found if isinstance(found, Mapping) else {}


def parse_amount(value: Any) -> Decimal:
    """A positive amount with at most two decimals, from a number or a string ("1,500.00" too)."""
    if isinstance(value, bool):
        raise ActionError(f"amount must be a number, not {value!r}")
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise ActionError(f"amount must be a number, not {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ActionError(f"amount must be more than 0, not {value!r}")
    if amount != amount.quantize(Decimal("0.01")):
        raise ActionError(f"amount has more than two decimals: {value!r}")
    if amount >= Decimal("1e12"):
        raise ActionError(f"amount is too large: {value!r}")
    return amount.quantize(Decimal("0.01"))


def _client(ctx: ActionContext) -> Flutterwave:
    injected = ctx.services.get("flutterwave")
    if injected is not None:
        return injected  # type: ignore[no-any-return]
    try:
        return Flutterwave.from_env(session=ctx.services.get("http"))
    except FlutterwaveError as exc:  # no secret key: a configuration error, said plainly
        raise ActionError(str(exc)) from exc


def _country(phone: str, given: str | None) -> str | None:
    if given:
        return given.upper()
    import phonenumbers

    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse("+" + phone.lstrip("+"))) or None
    except phonenumbers.NumberParseException:
        return None


def _result(tx: store.Transaction) -> ActionResult:
    data = {"tx_ref": tx.tx_ref, "order_ref": tx.order_ref, "amount": str(tx.amount), "currency": tx.currency,
            "method": tx.method, "link": tx.payment_link, "status": tx.status,
            # redirect: the payer opens `link`; push: the payer approves the charge on their phone
            "mode": "redirect" if tx.payment_link else "push"}
    if tx.status in ("failed", "cancelled"):
        return ActionResult(outcome="failed", data={**data, "reason": f"the payment is {tx.status}"})
    return ActionResult(outcome="ok", data=data)


async def checkout(ctx: ActionContext, order_ref: str, amount: Any, currency: str, method: str = "link",
                   phone: str | None = None, network: str | None = None, country: str | None = None,
                   email: str | None = None, name: str | None = None,
                   redirect_url: str | None = None) -> ActionResult:
    pool = _pool(ctx)
    order_ref = str(order_ref).strip()
    if not _ORDER_REF.match(order_ref):
        raise ActionError(f"order_ref must be 1 to 64 letters, digits or ._:/- (got {order_ref!r})")
    money = parse_amount(amount)
    currency = str(currency).strip().upper()
    if not _CURRENCY.match(currency):
        raise ActionError(f"currency must be a three-letter code like KES, not {currency!r}")
    if method not in METHODS:
        raise ActionError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    settings = settings_of(ctx)
    payer = re.sub(r"[^0-9]", "", str(phone or ctx.user))
    email = email or settings.get("email")
    if not email or not _EMAIL.match(str(email)):
        raise ActionError("Flutterwave needs the payer's email: pass `email`, or set settings.payments.email "
                          "(an address of the shop's, used when the customer gave none)")
    if method == "mobile_money":
        try:
            kind = mobile_money_kind(currency)
        except ValueError as exc:
            raise ActionError(str(exc)) from None
        if kind == "franco":
            country = _country(payer, country)
        if kind == "ghana" and not network:
            raise ActionError("a Ghana mobile money charge needs `network` (MTN, VODAFONE or AIRTELTIGO)")
        if kind == "franco" and not country:
            raise ActionError("a francophone mobile money charge needs `country` (CM, CI, SN, BF, ...)")
    else:
        redirect_url = redirect_url or settings.get("redirect_url")
        if not redirect_url or not str(redirect_url).startswith(("https://", "http://")):
            raise ActionError("a payment link needs `redirect_url` (or settings.payments.redirect_url): where "
                              "Flutterwave sends the payer after paying")

    try:
        tx = await store.open_transaction(
            pool, bot=ctx.bot, user=ctx.user, order_ref=order_ref, amount=money, currency=currency, method=method,
            tx_ref=store.tx_ref_for(ctx.idempotency_key), idempotency_key=ctx.idempotency_key)
    except store.OrderMismatch as exc:
        ctx.log.warning("payments.checkout refused for order %s of bot %s: %s", order_ref, ctx.bot, exc)
        return ActionResult(outcome="failed", data={"order_ref": order_ref, "reason": str(exc)})
    if tx.called:  # a retried turn: same answer, no second charge
        return _result(tx)

    client = _client(ctx)
    try:
        if tx.method == "link":
            link = await client.create_payment_link(
                tx_ref=tx.tx_ref, amount=tx.amount, currency=tx.currency, redirect_url=str(redirect_url),
                customer={k: v for k, v in (("email", email), ("phone_number", payer), ("name", name)) if v},
                customizations={k: v for k, v in (("title", settings.get("title")),
                                                  ("description", f"Order {tx.order_ref}"),
                                                  ("logo", settings.get("logo"))) if v},
                meta={"order_ref": tx.order_ref, "bot": ctx.bot})
            provider_id = None
        else:
            answer = await client.charge_mobile_money(
                kind=mobile_money_kind(tx.currency), tx_ref=tx.tx_ref, amount=tx.amount, currency=tx.currency,
                phone_number=payer, email=str(email), fullname=name, network=network, country=country,
                redirect_url=redirect_url or settings.get("redirect_url"))
            link, provider_id = _authorization(answer)
    except FlutterwaveRejected as exc:
        if exc.status in (401, 403):  # our configuration, not the payment: the row stays pending
            raise ActionError("Flutterwave refused the secret key (FLUTTERWAVE_SECRET_KEY): "
                              f"{_message(exc)}") from exc
        ctx.log.warning("Flutterwave refused the charge %s: %s", tx.tx_ref, exc)
        await store.provider_refused(pool, tx.tx_ref, str(exc))
        return ActionResult(outcome="failed", data={"tx_ref": tx.tx_ref, "order_ref": tx.order_ref,
                                                    "reason": _message(exc)})
    except FlutterwaveUnavailable as exc:  # the step's retries, then its on_error; the row stays pending
        raise ActionError(f"Flutterwave did not answer: {exc}") from exc
    await store.provider_answered(pool, tx.tx_ref, link=link, provider_tx_id=provider_id)
    done = await store.by_tx_ref(pool, tx.tx_ref)
    assert done is not None
    return _result(done)


def _pool(ctx: ActionContext) -> Any:
    try:
        return store.pool_of(ctx.services.get("db"))
    except store.PaymentsDbMissing as exc:
        raise ActionError(str(exc)) from None


def _message(exc: FlutterwaveRejected) -> str:
    body = exc.body if isinstance(exc.body, Mapping) else {}
    return str(body.get("message") or exc)


def _authorization(answer: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The link the payer opens (if any) and Flutterwave's transaction id (if given) of a charge
    answer. `meta.authorization` is at the top level in some answers and inside `data` in others."""
    data = answer.get("data") if isinstance(answer.get("data"), Mapping) else {}
    meta = answer.get("meta") if isinstance(answer.get("meta"), Mapping) else data.get("meta")
    auth = meta.get("authorization") if isinstance(meta, Mapping) else None
    link = None
    if isinstance(auth, Mapping) and auth.get("mode") == "redirect":
        link = auth.get("redirect") or auth.get("redirect_url")
    ident = data.get("id")
    return (str(link) if link else None), (str(ident) if ident not in (None, "") else None)


_TEXTISH = {"type": "string"}

ACTIONS = [
    Action(
        name="payments.checkout",
        fn=checkout,
        args={
            "type": "object",
            "properties": {
                "order_ref": {"type": "string", "description": "The bot's reference of the order (unique per bot)."},
                "amount": {"type": ["number", "string"], "description": "The amount in the currency's main unit (1500, \"99.50\")."},
                "currency": {"type": "string", "description": "ISO 4217 code: KES, NGN, GHS, UGX, ..."},
                "method": {"type": "string", "enum": list(METHODS),
                           "description": "link: a hosted checkout link (card and more); mobile_money: a charge pushed "
                                          f"to the payer's phone ({', '.join(sorted(MOBILE_MONEY))})."},
                "phone": {"type": "string", "description": "The payer's number; default the user's WhatsApp number."},
                "network": {"type": "string", "description": "The wallet's network (Ghana: MTN, VODAFONE, AIRTELTIGO)."},
                "country": {"type": "string", "description": "The payer's country for XAF/XOF mobile money (CM, CI, SN)."},
                "email": {"type": "string", "description": "The payer's email; default settings.payments.email."},
                "name": {"type": "string", "description": "The payer's name."},
                "redirect_url": {"type": "string", "description": "Where the payer lands after paying; default settings.payments.redirect_url."},
            },
            "required": ["order_ref", "amount", "currency"],
            "additionalProperties": False,
        },
        result={"tx_ref": _TEXTISH, "link": {"type": ["string", "null"]}, "status": _TEXTISH, "mode": _TEXTISH},
        outcomes=("ok", "failed"),
        description="Start a Flutterwave payment for an order: a payment link or a mobile money charge",
    ),
]
