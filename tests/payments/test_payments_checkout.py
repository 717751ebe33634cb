"""payments.checkout against a real PostgreSQL and the Flutterwave fake over real HTTP."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from fakes.flutterwave import FlutterwaveFake
from payments_support import Served, context

from actions.payments import ACTIONS, parse_amount
from actions.payments.store import tx_ref_for
from engine.delivery.turns import inbound_event
from engine.messages import Inbound
from engine.runtime.actions import ActionError, call
from engine.store.postgres import PostgresStore

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
CHECKOUT = next(a for a in ACTIONS if a.name == "payments.checkout")
LINK = "https://checkout.flutterwave.com/v3/hosted/pay/"


async def rows(store: PostgresStore, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    async with store.pool.connection() as conn:
        return await (await conn.execute(sql)).fetchall()


async def test_checkout_creates_one_pending_transaction_and_returns_the_link(pg_store, flw: FlutterwaveFake) -> None:  # type: ignore[no-untyped-def]
    ctx = context(pg_store)
    result = await call(CHECKOUT, ctx, {"order_ref": "A-1", "amount": "1,500", "currency": "KES"}, 10, 0)
    assert result.outcome == "ok"
    assert result.data["link"].startswith(LINK) and result.data["mode"] == "redirect"
    assert result.data["tx_ref"] == tx_ref_for(ctx.idempotency_key)
    assert await rows(pg_store, "SELECT tx_ref, status, method, amount, currency, payment_link, order_ref FROM transactions") == [
        (result.data["tx_ref"], "pending", "link", Decimal("1500.00"), "KES", result.data["link"], "A-1")]
    assert await rows(pg_store, "SELECT order_ref, status, total, currency, user_id FROM orders") == [
        ("A-1", "pending", Decimal("1500.00"), "KES", "254712345678")]
    [sent] = flw.requests
    assert (sent.method, sent.path, sent.authorization) == ("POST", "/v3/payments", f"Bearer {flw.secret_key}")
    assert sent.body["tx_ref"] == result.data["tx_ref"] and sent.body["amount"] == 1500
    assert sent.body["currency"] == "KES" and sent.body["redirect_url"] == "https://shop.example/thanks"
    assert sent.body["customer"] == {"email": "orders@shop.example", "phone_number": "254712345678"}
    assert sent.body["customizations"]["description"] == "Order A-1"


async def test_a_retried_turn_gets_the_same_link_without_a_second_call(pg_store, flw: FlutterwaveFake) -> None:  # type: ignore[no-untyped-def]
    key = uuid.uuid4().hex
    args = {"order_ref": "A-1", "amount": 1500, "currency": "KES", "method": "link"}
    first = await call(CHECKOUT, context(pg_store, key), args, 10, 0)
    again = await call(CHECKOUT, context(pg_store, key), args, 10, 0)
    assert again == first
    assert flw.count("/v3/payments") == 1
    assert await rows(pg_store, "SELECT count(*) FROM transactions") == [(1,)]
    # another turn (another key) is another attempt at the same order
    other = await call(CHECKOUT, context(pg_store), args, 10, 0)
    assert other.data["tx_ref"] != first.data["tx_ref"] and flw.count("/v3/payments") == 2
    assert await rows(pg_store, "SELECT count(*) FROM orders") == [(1,)]


async def test_mpesa_is_pushed_to_the_phone_once(pg_store, flw: FlutterwaveFake) -> None:  # type: ignore[no-untyped-def]
    key = uuid.uuid4().hex
    args = {"order_ref": "A-2", "amount": "250.50", "currency": "KES", "method": "mobile_money", "phone": "+254 712 000111"}
    first = await call(CHECKOUT, context(pg_store, key), args, 10, 0)
    assert first.outcome == "ok" and first.data["mode"] == "push" and first.data["link"] is None
    [sent] = flw.requests
    assert sent.path == "/v3/charges" and sent.query == {"type": "mobile_money_mpesa"}
    assert sent.body["phone_number"] == "254712000111" and sent.body["amount"] == 250.5
    assert sent.body["email"] == "orders@shop.example" and sent.body["tx_ref"] == first.data["tx_ref"]
    record = flw.by_reference(first.data["tx_ref"])
    assert await rows(pg_store, "SELECT provider_tx_id, status FROM transactions") == [(str(record["id"]), "pending")]
    again = await call(CHECKOUT, context(pg_store, key), args, 10, 0)
    assert again == first and flw.count("/v3/charges") == 1


@pytest.mark.parametrize("currency,kind,extra", [
    ("GHS", "ghana", {"network": "mtn"}), ("UGX", "uganda", {}), ("RWF", "rwanda", {}), ("ZMW", "zambia", {}),
])
async def test_redirect_wallets_give_the_authorization_link(pg_store, flw: FlutterwaveFake, currency: str, kind: str,
                                                            extra: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    args = {"order_ref": "G-1", "amount": 20, "currency": currency, "method": "mobile_money", **extra}
    result = await call(CHECKOUT, context(pg_store), args, 10, 0)
    assert result.outcome == "ok" and result.data["mode"] == "redirect"
    assert result.data["link"].startswith("https://ravemodal-dev.herokuapp.com/captcha/verify/")
    assert flw.requests[0].query == {"type": f"mobile_money_{kind}"}
    if extra:
        assert flw.requests[0].body["network"] == "MTN"


async def test_francophone_wallets_take_the_country_from_the_number(pg_store, flw: FlutterwaveFake) -> None:  # type: ignore[no-untyped-def]
    args = {"order_ref": "F-1", "amount": 5000, "currency": "XAF", "method": "mobile_money", "phone": "237670000020"}
    result = await call(CHECKOUT, context(pg_store, user="237670000020"), args, 10, 0)
    assert result.outcome == "ok" and result.data["mode"] == "push"
    assert flw.requests[0].query == {"type": "mobile_money_franco"} and flw.requests[0].body["country"] == "CM"


async def test_flutterwave_refusing_the_charge_is_outcome_failed(pg_store, flw: FlutterwaveFake) -> None:  # type: ignore[no-untyped-def]
    flw.fail_next(1, 400, "/v3/payments")
    key = uuid.uuid4().hex
    result = await call(CHECKOUT, context(pg_store, key), {"order_ref": "A-1", "amount": 10, "currency": "KES"}, 10, 0)
    assert result.outcome == "failed" and result.data["reason"] == "Request failed"
    assert await rows(pg_store, "SELECT status FROM transactions") == [("failed",)]
    again = await call(CHECKOUT, context(pg_store, key), {"order_ref": "A-1", "amount": 10, "currency": "KES"}, 10, 0)
    assert again.outcome == "failed" and flw.count("/v3/payments") == 1


async def test_flutterwave_down_raises_and_the_retry_asks_again_with_the_same_reference(pg_store, flw: FlutterwaveFake) -> None:  # type: ignore[no-untyped-def]
    flw.fail_next(1, 503)
    args = {"order_ref": "A-1", "amount": 10, "currency": "KES"}
    ctx = context(pg_store)
    with pytest.raises(ActionError, match="Flutterwave did not answer"):
        await call(CHECKOUT, ctx, args, 10, 0)
    assert await rows(pg_store, "SELECT status, payment_link FROM transactions") == [("pending", None)]
    result = await call(CHECKOUT, ctx, args, 10, 0)  # the step's retry, or the retried turn
    assert result.outcome == "ok" and flw.count("/v3/payments") == 2
    assert {r.body["tx_ref"] for r in flw.requests} == {result.data["tx_ref"]}


async def test_a_wrong_secret_key_is_an_error_not_a_failed_payment(pg_store, flw: FlutterwaveFake, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FLUTTERWAVE_SECRET_KEY", "FLWSECK_TEST-wrong-X")
    with pytest.raises(ActionError, match="secret key"):
        await call(CHECKOUT, context(pg_store), {"order_ref": "A-1", "amount": 10, "currency": "KES"}, 10, 0)
    assert await rows(pg_store, "SELECT status FROM transactions") == [("pending",)]


async def test_an_order_of_another_amount_or_user_is_not_charged(pg_store, flw: FlutterwaveFake) -> None:  # type: ignore[no-untyped-def]
    await call(CHECKOUT, context(pg_store), {"order_ref": "A-1", "amount": 10, "currency": "KES"}, 10, 0)
    other_amount = await call(CHECKOUT, context(pg_store), {"order_ref": "A-1", "amount": 9, "currency": "KES"}, 10, 0)
    assert other_amount.outcome == "failed" and "not KES 9.00" in other_amount.data["reason"]
    other_user = await call(CHECKOUT, context(pg_store, user="254700000001"), {"order_ref": "A-1", "amount": 10, "currency": "KES"}, 10, 0)
    assert other_user.outcome == "failed" and "another user" in other_user.data["reason"]
    assert flw.count("/v3/payments") == 1


async def test_without_a_database_the_error_says_what_to_do(flw: FlutterwaveFake) -> None:
    with pytest.raises(ActionError, match=r"needs PostgreSQL: the host injects it as services\['db'\]"):
        await call(CHECKOUT, context(None), {"order_ref": "A-1", "amount": 10, "currency": "KES"}, 10, 0)
    assert flw.requests == []


async def test_the_db_service_may_be_a_bare_pool(pg_store, flw: FlutterwaveFake) -> None:  # type: ignore[no-untyped-def]
    result = await call(CHECKOUT, context(pg_store.pool), {"order_ref": "A-1", "amount": 10, "currency": "KES"}, 10, 0)
    assert result.outcome == "ok"


@pytest.mark.parametrize("args,message", [
    ({"order_ref": "A-1", "amount": 0, "currency": "KES"}, "more than 0"),
    ({"order_ref": "A-1", "amount": "10.001", "currency": "KES"}, "two decimals"),
    ({"order_ref": "A-1", "amount": "ten", "currency": "KES"}, "must be a number"),
    ({"order_ref": "A-1", "amount": 10, "currency": "shillings"}, "three-letter"),
    ({"order_ref": "A 1; drop", "amount": 10, "currency": "KES"}, "order_ref"),
    ({"order_ref": "A-1", "amount": 10, "currency": "KES", "method": "cash"}, "method"),
    ({"order_ref": "A-1", "amount": 10, "currency": "NGN", "method": "mobile_money"}, "no mobile money"),
    ({"order_ref": "A-1", "amount": 10, "currency": "GHS", "method": "mobile_money"}, "network"),
])
async def test_bad_arguments_are_errors_before_anything_is_written(pg_store, flw: FlutterwaveFake, args, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ActionError, match=message):
        await call(CHECKOUT, context(pg_store), args, 10, 0)
    assert await rows(pg_store, "SELECT count(*) FROM transactions") == [(0,)]
    assert flw.requests == []


def test_amounts_are_read_to_the_cent() -> None:
    assert parse_amount(1500) == Decimal("1500.00") and parse_amount("99.5") == Decimal("99.50")
    with pytest.raises(ActionError):
        parse_amount(True)


async def test_a_flow_sends_the_payment_link(served: Served, flw: FlutterwaveFake) -> None:
    user = "2547" + str(uuid.uuid4().int)[:8]
    queue = served.deployment.queue
    await queue.enqueue("shop", user, inbound_event(Inbound(user=user, text="hi", message_id="wamid.1")), "wamid.1")
    out = await served.run_turns(user)
    assert out[-1]["o"]["buttons"] == [["link", "Card"], ["mobile_money", "M-Pesa"]]
    reply = Inbound(user=user, kind="interactive", text="Card", reply_id="link", message_id="wamid.2")
    await queue.enqueue("shop", user, inbound_event(reply), "wamid.2")
    out = await served.run_turns(user)
    assert out[-1]["o"]["text"].startswith(f"Pay here: {LINK}")
    assert flw.count("/v3/payments") == 1
    assert await rows(served.store, "SELECT status, user_id FROM transactions") == [("pending", user)]


def test_the_bot_with_payments_lints_clean(shop: Path) -> None:
    from engine.flow.lint import lint_paths

    assert [str(p) for p in lint_paths([shop])] == []
