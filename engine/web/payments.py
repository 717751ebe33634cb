"""POST /webhooks/flutterwave: a payment is recorded only once Flutterwave's API confirms it.

1. The body is read with a size cap; the request must carry the account's secret hash
   (FLUTTERWAVE_SECRET_HASH): `verif-hash` equal to it (v3), or `flutterwave-signature` equal to
   it or to the base64 HMAC-SHA256 of the raw body keyed with it (v4). Else 401, logged.
2. The body is parsed (v3 `{"event": "charge.completed", "data": {tx_ref, id, ...}}` or v4
   `{"type": "charge.completed", "data": {reference, id, ...}}`); not JSON or not that shape: 400.
3. The transaction is looked up by its reference. Unknown: 200, logged, nothing changes.
4. The webhook body is never trusted: the transaction is fetched again from Flutterwave's
   verify API, and must be `successful`, with our tx_ref, our currency and at least our amount.
   Else nothing changes (logged, and an audit entry when Flutterwave's own answer disagrees).
5. In one database transaction, once (`WHERE status = 'pending'`): the transaction becomes
   successful, its order processing, the ledger gets a charge, the audit log an entry.
6. The customer's confirmation is queued: a `start` event of the bot's confirmation flow
   (`settings.payments.confirm_flow`, default `payment_confirmed`) with event id
   `paid:<tx_ref>`, which the queue takes once. A redelivered webhook queues it again under the
   same id, which is a no-op, so a crash between steps 5 and 6 still ends in one confirmation.

Flutterwave treats any answer but 200 as a failure and retries (when retries are enabled):
so a 200 answers everything that asking again cannot change, and a 503 what it can (our
database or Flutterwave's API unreachable).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from actions.payments import store as payments
from actions.payments.flutterwave import (
    Flutterwave,
    FlutterwaveError,
    FlutterwaveRejected,
    FlutterwaveUnavailable,
)
from engine.channels.base import WebhookRejected
from engine.deployment import Deployment
from engine.web._body import read_body

log = logging.getLogger("flowbot.payments")
MAX_BODY = 256 * 1024  # a charge.completed event is a few kB
DEFAULT_CONFIRM_FLOW = "payment_confirmed"
SUCCEEDED = frozenset({"successful", "succeeded"})  # v3, v4


def _answer(status: int, result: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"ok": status < 400, "result": result, **extra}, status_code=status)


# ─── authentication ─────────────────────────────────────────────────────────────────────────


def signature(secret_hash: str, body: bytes) -> str:
    """The `flutterwave-signature` HMAC variant: base64(HMAC-SHA256(key=secret hash, raw body))."""
    return base64.b64encode(hmac.new(secret_hash.encode(), body, hashlib.sha256).digest()).decode()


def authentic(headers: Mapping[str, str], body: bytes, secret_hash: str) -> bool:
    """`verif-hash` equals the secret hash, or `flutterwave-signature` equals the secret hash or
    the HMAC of the body (both behaviours are documented). Constant-time comparisons."""
    secret = secret_hash.encode()
    given = headers.get("verif-hash", "")
    if given and hmac.compare_digest(given.encode(), secret):
        return True
    signed = headers.get("flutterwave-signature", "")
    if not signed:
        return False
    expected = signature(secret_hash, body).encode()
    ok_equal = hmac.compare_digest(signed.encode(), secret)
    ok_hmac = hmac.compare_digest(signed.encode(), expected)
    return ok_equal or ok_hmac


# ─── parsing ────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class ChargeEvent:
    event: str  # charge.completed, ...
    version: str  # "v3" or "v4"
    tx_ref: str  # our reference
    provider_id: str  # Flutterwave's transaction id (v3: a number; v4: chg_...)
    status: str  # as the webhook says: only a hint, the verify API decides
    amount: Any
    currency: Any


def parse_event(payload: Any) -> ChargeEvent:
    """The fields the handler needs from a v3 or v4 webhook body; ValueError if it is neither."""
    if not isinstance(payload, dict):
        raise ValueError("the body is not a JSON object")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ValueError("the body has no `data` object")
    if isinstance(payload.get("event"), str):
        version, event, ref = "v3", payload["event"], data.get("tx_ref")
    elif isinstance(payload.get("type"), str):
        version, event, ref = "v4", payload["type"], data.get("reference")
    else:
        raise ValueError("the body names no `event` (v3) or `type` (v4)")
    ident = data.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (int, str)):
        ident = ""
    return ChargeEvent(event=event, version=version, tx_ref=ref if isinstance(ref, str) else "",
                       provider_id=str(ident), status=str(data.get("status") or ""),
                       amount=data.get("amount"), currency=data.get("currency"))


# ─── checking what Flutterwave's API says ───────────────────────────────────────────────────


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        return None
    return found if found.is_finite() else None


def disagreements(verified: Mapping[str, Any], tx: payments.Transaction) -> list[str]:
    """Why the verified transaction does not pay `tx` (empty: it does)."""
    problems = []
    if verified.get("status") != "successful":
        problems.append(f"status is {verified.get('status')!r}, not 'successful'")
    if verified.get("tx_ref") != tx.tx_ref:
        problems.append("tx_ref differs")
    if verified.get("currency") != tx.currency:
        problems.append(f"currency is {verified.get('currency')!r}, not {tx.currency!r}")
    amount = _decimal(verified.get("amount"))
    if amount is None or amount < tx.amount:
        problems.append(f"amount is {verified.get('amount')!r}, less than {tx.amount}")
    return problems


# ─── the store and the client ───────────────────────────────────────────────────────────────


async def payments_store(app: Starlette) -> Any:
    """The deployment's PostgresStore: `deployment.store`, else opened once from DATABASE_URL
    (and closed with the deployment). None without a database."""
    deployment: Deployment = app.state.deployment
    if deployment.store is not None:
        return deployment.store
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    lock = getattr(app.state, "payments_store_lock", None)
    if lock is None:
        lock = app.state.payments_store_lock = asyncio.Lock()
    async with lock:
        if deployment.store is None:
            from engine.store.postgres import PostgresStore

            deployment.store = await PostgresStore.open(url, max_size=int(os.environ.get("FLOWBOT_PAYMENTS_DB_POOL", "4")))
    return deployment.store


def _client(app: Starlette) -> Flutterwave:
    injected = getattr(app.state, "flutterwave", None)  # a host or a test may set its own
    return injected if injected is not None else Flutterwave.from_env()


async def _verify(client: Flutterwave, event: ChargeEvent, tx_ref: str) -> dict[str, Any]:
    """The transaction as Flutterwave's API has it: by id when the webhook gave a v3 (numeric)
    id, else by our reference."""
    if event.provider_id.isdigit():
        return await client.verify_transaction(event.provider_id)
    return await client.verify_by_reference(tx_ref)


# ─── the confirmation ───────────────────────────────────────────────────────────────────────


def confirm_flow(deployment: Deployment, bot: str) -> str:
    host = deployment.bots.get(bot)
    if host is None:
        log.warning("payment for bot %s, which this deployment does not run: queued with the default flow", bot)
        return DEFAULT_CONFIRM_FLOW
    settings = host.loaded.bot.settings.get("payments") or {}
    flow = settings.get("confirm_flow") if isinstance(settings, Mapping) else None
    return str(flow or DEFAULT_CONFIRM_FLOW)


async def queue_confirmation(deployment: Deployment, tx: payments.Transaction) -> bool | None:
    """Start the confirmation flow for the customer: True when queued now, False when it was
    queued before, None when the queue (Redis) cannot be reached."""
    key = f"paid:{tx.tx_ref}"
    event = {"k": "start", "f": confirm_flow(deployment, tx.bot),
             "p": {"order_ref": tx.order_ref, "amount": str(tx.amount), "currency": tx.currency}, "id": key}
    try:
        return await deployment.queue.enqueue(tx.bot, tx.user_id, event, key)
    except Exception as exc:  # noqa: BLE001 - Redis down: Flutterwave's retry queues it
        log.error("payment %s: cannot queue the confirmation (%s); the next delivery will", tx.tx_ref, type(exc).__name__)
        return None


# ─── the handler ────────────────────────────────────────────────────────────────────────────


async def flutterwave(request: Request) -> JSONResponse:
    deployment: Deployment = request.app.state.deployment
    secret_hash = os.environ.get("FLUTTERWAVE_SECRET_HASH", "")
    if not secret_hash:
        log.error("flutterwave webhook refused: FLUTTERWAVE_SECRET_HASH is not set, so no webhook can be checked")
        return _answer(503, "not configured")
    try:
        body = await read_body(request, MAX_BODY)
    except WebhookRejected as exc:
        log.warning("flutterwave webhook refused: %s", exc.reason)
        return _answer(exc.status, exc.reason)
    headers = {k.lower(): v for k, v in request.headers.items()}
    if not authentic(headers, body, secret_hash):
        which = [h for h in ("verif-hash", "flutterwave-signature") if h in headers]
        log.warning("flutterwave webhook refused: %s", f"wrong {' and '.join(which)}" if which else "no verif-hash")
        return _answer(401, "wrong or missing verif-hash")
    try:
        event = parse_event(json.loads(body))
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        log.warning("flutterwave webhook refused: malformed body (%s)", type(exc).__name__ if not str(exc) else exc)
        return _answer(400, "malformed body")
    if event.event != "charge.completed":
        log.info("flutterwave webhook %s ignored", event.event)
        return _answer(200, "ignored")
    if not event.tx_ref:
        log.warning("flutterwave %s webhook without a reference: ignored", event.event)
        return _answer(200, "no reference")
    if event.status not in SUCCEEDED:
        log.info("flutterwave webhook: %s is %s; nothing to record", event.tx_ref, event.status or "without status")
        return _answer(200, "not successful")

    db = await payments_store(request.app)
    if db is None:
        log.error("flutterwave webhook for %s: no database (DATABASE_URL) to record it in", event.tx_ref)
        return _answer(503, "no database")
    pool = payments.pool_of(db)
    try:
        tx = await payments.by_tx_ref(pool, event.tx_ref)
    except Exception as exc:  # noqa: BLE001 - the database is down: Flutterwave retries
        log.error("flutterwave webhook for %s: database error %s", event.tx_ref, type(exc).__name__)
        return _answer(503, "database unavailable")
    if tx is None:
        log.warning("flutterwave webhook for an unknown tx_ref %r: nothing changed", event.tx_ref[:80])
        return _answer(200, "unknown transaction")
    if tx.status == "successful":  # a redelivery: recorded already; make sure the customer is told
        fresh = await queue_confirmation(deployment, tx)
        if fresh is None:
            return _answer(503, "queue unavailable")
        log.info("flutterwave webhook for %s again: recorded already%s", tx.tx_ref,
                 "; its confirmation was missing and is now queued" if fresh else "")
        return _answer(200, "already recorded")
    if tx.status != "pending":
        log.warning("flutterwave webhook says %s succeeded, but it is %s here: nothing changed", tx.tx_ref, tx.status)
        await payments.audit(pool, "payment.rejected", tx.tx_ref, {"reason": f"transaction is {tx.status}"})
        return _answer(200, f"transaction {tx.status}")

    try:
        verified = await _verify(_client(request.app), event, tx.tx_ref)
    except FlutterwaveRejected as exc:
        log.warning("flutterwave webhook for %s: the verify API does not confirm it (%s): nothing changed", tx.tx_ref, exc)
        await payments.audit(pool, "payment.rejected", tx.tx_ref, {"reason": "verify refused", "status": exc.status})
        return _answer(200, "not verified")
    except (FlutterwaveUnavailable, FlutterwaveError) as exc:
        log.error("flutterwave webhook for %s: cannot verify now (%s); Flutterwave will retry", tx.tx_ref, exc)
        return _answer(503, "verification unavailable")
    problems = disagreements(verified, tx)
    if problems:
        log.warning("flutterwave webhook for %s does not pay it: %s; nothing changed", tx.tx_ref, "; ".join(problems))
        await payments.audit(pool, "payment.rejected", tx.tx_ref,
                             {"reason": "; ".join(problems), "bot": tx.bot, "order_ref": tx.order_ref,
                              "provider_tx_id": str(verified.get("id") or "")})
        return _answer(200, "verification mismatch")

    received = _decimal(verified.get("amount")) or tx.amount
    settled = await payments.settle(
        pool, tx, provider_tx_id=str(verified.get("id") or event.provider_id or "") or None,
        received=received.quantize(Decimal("0.01")),
        details={"webhook": event.version, "flw_ref": str(verified.get("flw_ref") or ""),
                 "payment_type": str(verified.get("payment_type") or "")})
    if settled is None:
        log.info("flutterwave webhook for %s: recorded by a concurrent delivery", tx.tx_ref)
    else:
        if not settled.order_updated:
            log.warning("payment %s recorded, but order %s of bot %s was not pending (paid twice? cancelled?)",
                        tx.tx_ref, tx.order_ref, tx.bot)
        if received > tx.amount:
            log.warning("payment %s: received %s %s, more than the %s asked", tx.tx_ref, received, tx.currency, tx.amount)
        log.info("payment %s recorded: %s %s for order %s of bot %s", tx.tx_ref, received, tx.currency,
                 tx.order_ref, tx.bot)
    if await queue_confirmation(deployment, tx) is None:
        return _answer(503, "queue unavailable")  # recorded; the redelivery queues the confirmation
    return _answer(200, "recorded")
