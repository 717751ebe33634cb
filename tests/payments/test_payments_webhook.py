"""POST /webhooks/flutterwave on uvicorn (real HTTP on loopback), with a real PostgreSQL, a real
Redis for the queue and the Flutterwave fake behind the verify API."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fakes.flutterwave import FlutterwaveFake
from payments_support import SECRET_HASH, Served, context

from actions.payments import ACTIONS
from engine.delivery.turns import inbound_event
from engine.messages import Inbound
from engine.runtime.actions import call
from engine.web.payments import signature

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
CHECKOUT = next(a for a in ACTIONS if a.name == "payments.checkout")


async def checkout(served: Served, amount: Any = 1500, currency: str = "KES", order_ref: str = "A-1",
                   method: str = "link") -> tuple[str, str]:
    """A pending transaction, as a turn of the shop bot makes it: (user, tx_ref)."""
    user = "2547" + str(uuid.uuid4().int)[:8]
    result = await call(CHECKOUT, context(served.store, user=user),
                        {"order_ref": order_ref, "amount": amount, "currency": currency, "method": method}, 10, 0)
    assert result.outcome == "ok"
    return user, result.data["tx_ref"]


def verify_calls(flw: FlutterwaveFake) -> int:
    return flw.count("/v3/transactions/")


async def checkout_in_a_conversation(served: Served) -> tuple[str, str]:
    """The customer chats with the shop bot and taps Card: (user, tx_ref)."""
    user = "2547" + str(uuid.uuid4().int)[:8]
    queue = served.deployment.queue
    await queue.enqueue("shop", user, inbound_event(Inbound(user=user, text="hi", message_id="wamid.1")), "wamid.1")
    await served.run_turns(user)
    tap = Inbound(user=user, kind="interactive", text="Card", reply_id="link", message_id="wamid.2")
    await queue.enqueue("shop", user, inbound_event(tap), "wamid.2")
    out = await served.run_turns(user)
    assert out[-1]["o"]["text"].startswith("Pay here: https://checkout.flutterwave.com/v3/hosted/pay/")
    [transaction] = (await served.state())["transactions"]
    return user, transaction[0]


async def test_a_verified_payment_is_recorded_and_the_customer_told(served: Served, flw: FlutterwaveFake) -> None:
    user, tx_ref = await checkout_in_a_conversation(served)
    record = flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    status, answer = await served.post(flw.webhook_v3(tx_ref))
    assert (status, answer["result"]) == (200, "recorded")
    assert verify_calls(flw) == 1 and flw.requests[-1].path == f"/v3/transactions/{record['id']}/verify"
    state = await served.state()
    assert state["transactions"] == [(tx_ref, "successful", str(record["id"]), Decimal("1500.00"), "KES")]
    assert state["orders"] == [("A-1", "processing")]
    assert state["ledger"] == [(tx_ref, "charge", Decimal("1500.00"), "KES")]
    assert state["audit"] == [("payment.successful", f"tx:{tx_ref}")]
    assert await served.inbox(user) == [{"k": "start", "f": "paid", "id": f"paid:{tx_ref}",
                                         "p": {"order_ref": "A-1", "amount": "1500.00", "currency": "KES"}}]
    # the worker turns it into the bot's confirmation, in the outbox
    out = await served.run_turns(user)
    assert out[-1]["o"]["text"] == "Payment received: KES 1500.00 for order A-1. Thank you!"


async def test_redelivery_changes_nothing_twice(served: Served, flw: FlutterwaveFake) -> None:
    user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    body = flw.webhook_v3(tx_ref)
    assert (await served.post(body))[0] == 200
    once = await served.state()
    results = await asyncio.gather(*(served.post(body) for _ in range(4)))  # redelivered, concurrently too
    assert {(s, a["result"]) for s, a in results} == {(200, "already recorded")}
    assert await served.state() == once
    assert len(once["ledger"]) == 1 and len(await served.inbox(user)) == 1
    assert verify_calls(flw) == 1  # a recorded payment is not verified again


async def test_concurrent_first_deliveries_record_once(served: Served, flw: FlutterwaveFake) -> None:
    user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    body = flw.webhook_v3(tx_ref)
    results = await asyncio.gather(*(served.post(body) for _ in range(5)))
    assert {s for s, _ in results} == {200}
    state = await served.state()
    assert len(state["ledger"]) == 1 and state["orders"] == [("A-1", "processing")]
    assert [a for a in state["audit"] if a[0] == "payment.successful"] == [("payment.successful", f"tx:{tx_ref}")]
    assert len(await served.inbox(user)) == 1


async def test_a_lost_confirmation_is_queued_by_the_redelivery(served: Served, flw: FlutterwaveFake) -> None:
    user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    assert (await served.post(flw.webhook_v3(tx_ref)))[0] == 200
    # as if the process died after the database commit and before the queue write
    await served.deployment.redis.delete(served.deployment.queue.key("shop", user, "in"),
                                         served.deployment.queue.key("shop", user, "seen"))
    assert (await served.post(flw.webhook_v3(tx_ref)))[0] == 200
    assert len(await served.inbox(user)) == 1 and len((await served.state())["ledger"]) == 1


@pytest.mark.parametrize("headers,hash_", [
    ({}, "not-the-secret"),
    ({}, None),
    ({}, SECRET_HASH[:-1]),
    ({}, SECRET_HASH.upper()),
    ({"flutterwave-signature": "bm90IGEgc2lnbmF0dXJl"}, None),
])
async def test_a_wrong_hash_is_refused_and_changes_nothing(served: Served, flw: FlutterwaveFake, caplog,
                                                          headers: dict[str, str], hash_: str | None) -> None:  # type: ignore[no-untyped-def]
    user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    before = await served.state()
    with caplog.at_level(logging.WARNING, logger="flowbot.payments"):
        status, _ = await served.post(flw.webhook_v3(tx_ref), headers, hash_=hash_)
    assert status == 401
    assert await served.state() == before and await served.inbox(user) == [] and verify_calls(flw) == 0
    assert any("flutterwave webhook refused" in r.getMessage() for r in caplog.records)
    assert not any(SECRET_HASH in r.getMessage() for r in caplog.records)


async def test_the_hmac_signature_is_accepted(served: Served, flw: FlutterwaveFake) -> None:
    _user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    raw = json.dumps(flw.webhook_v3(tx_ref)).encode()
    status, answer = await served.post(raw, {"flutterwave-signature": signature(SECRET_HASH, raw)}, hash_=None)
    assert (status, answer["result"]) == (200, "recorded")
    # the same signature over another body is not
    other = raw.replace(b'"successful"', b'"successful" ')
    assert (await served.post(other, {"flutterwave-signature": signature(SECRET_HASH, raw)}, hash_=None))[0] == 401


async def test_the_secret_hash_in_flutterwave_signature_is_accepted(served: Served, flw: FlutterwaveFake) -> None:
    _user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    status, _ = await served.post(flw.webhook_v3(tx_ref), {"flutterwave-signature": SECRET_HASH}, hash_=None)
    assert status == 200 and (await served.state())["orders"] == [("A-1", "processing")]


@pytest.mark.parametrize("verified,problem", [
    ({"amount": 1499.99}, "amount is 1499.99, less than 1500.00"),
    ({"amount": 15}, "amount is 15"),
    ({"currency": "NGN"}, "currency is 'NGN', not 'KES'"),
    ({"status": "failed"}, "status is 'failed'"),
    ({"status": "pending"}, "status is 'pending'"),
])
async def test_a_payment_flutterwave_does_not_confirm_changes_nothing(served: Served, flw: FlutterwaveFake, caplog,
                                                                      verified: dict[str, Any], problem: str) -> None:  # type: ignore[no-untyped-def]
    user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, **{"status": "successful", "amount": 1500, "currency": "KES", **verified})
    # the body claims the full amount, in KES, successful: only the verify API counts
    body = flw.webhook_v3(tx_ref, amount=1500, currency="KES", status="successful")
    before = await served.state()
    with caplog.at_level(logging.WARNING, logger="flowbot.payments"):
        status, answer = await served.post(body)
    assert (status, answer["result"]) == (200, "verification mismatch")
    after = await served.state()
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
    assert after["audit"] == [("payment.rejected", f"tx:{tx_ref}")]
    assert await served.inbox(user) == []
    assert any(problem in r.getMessage() and "nothing changed" in r.getMessage() for r in caplog.records)


async def test_the_id_of_another_payment_does_not_pay_this_one(served: Served, flw: FlutterwaveFake) -> None:
    user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="pending", amount=1500, currency="KES")
    elsewhere = flw.set_transaction("someone-elses-order", status="successful", amount=1500, currency="KES")
    status, answer = await served.post(flw.webhook_v3(tx_ref, id=elsewhere["id"], status="successful"))
    assert (status, answer["result"]) == (200, "verification mismatch")
    assert (await served.state())["transactions"][0][1] == "pending" and await served.inbox(user) == []


async def test_an_unknown_reference_is_acknowledged_and_changes_nothing(served: Served, flw: FlutterwaveFake, caplog) -> None:  # type: ignore[no-untyped-def]
    await checkout(served)
    flw.set_transaction("not-ours-123", status="successful", amount=10, currency="KES")
    before = await served.state()
    with caplog.at_level(logging.WARNING, logger="flowbot.payments"):
        status, answer = await served.post(flw.webhook_v3("not-ours-123"))
    assert (status, answer["result"]) == (200, "unknown transaction")
    assert await served.state() == before and verify_calls(flw) == 0
    assert any("unknown tx_ref" in r.getMessage() for r in caplog.records)


async def test_a_failed_charge_is_acknowledged_and_changes_nothing(served: Served, flw: FlutterwaveFake) -> None:
    _user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="failed", amount=1500, currency="KES")
    before = await served.state()
    status, answer = await served.post(flw.webhook_v3(tx_ref))
    assert (status, answer["result"]) == (200, "not successful")
    assert await served.state() == before and verify_calls(flw) == 0
    # the customer tries again under the same reference and pays: that one counts
    flw.set_transaction(tx_ref, status="successful")
    assert (await served.post(flw.webhook_v3(tx_ref)))[1]["result"] == "recorded"


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"event": "charge.completed"}',
                                 b'{"data": {"tx_ref": "x"}}', b""])
async def test_a_malformed_body_is_a_400(served: Served, flw: FlutterwaveFake, raw: bytes) -> None:
    await checkout(served)
    before = await served.state()
    status, answer = await served.post(raw)
    assert (status, answer["result"]) == (400, "malformed body")
    assert await served.state() == before


async def test_a_huge_body_is_refused_unread(served: Served, flw: FlutterwaveFake) -> None:
    status, _ = await served.post(b'{"event": "' + b"x" * (300 * 1024) + b'"}')
    assert status == 413


async def test_other_events_are_acknowledged(served: Served, flw: FlutterwaveFake) -> None:
    status, answer = await served.post({"event": "transfer.completed", "data": {"id": 1, "reference": "x"}})
    assert (status, answer["result"]) == (200, "ignored")


async def test_verify_api_down_is_a_503_and_the_retry_records(served: Served, flw: FlutterwaveFake) -> None:
    _user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    before = await served.state()
    flw.fail_next(1, 502, "/v3/transactions/")
    status, answer = await served.post(flw.webhook_v3(tx_ref))
    assert (status, answer["result"]) == (503, "verification unavailable")
    assert await served.state() == before
    assert (await served.post(flw.webhook_v3(tx_ref)))[1]["result"] == "recorded"


async def test_a_v4_webhook_is_verified_by_reference(served: Served, flw: FlutterwaveFake) -> None:
    _user, tx_ref = await checkout(served, amount=2500)
    flw.set_transaction(tx_ref, status="successful", amount=2500, currency="KES", payment_type="mobilemoney")
    body = {"data": {"amount": 2500, "currency": "KES", "id": "chg_Hq4oBRTJ4r", "reference": tx_ref,
                     "status": "succeeded", "payment_method": {"type": "mobile_money"}},
            "id": "wbk_W5p6ktwU0jQ8RO4By860", "timestamp": 1735116884019, "type": "charge.completed"}
    raw = json.dumps(body).encode()
    status, answer = await served.post(raw, {"flutterwave-signature": signature(SECRET_HASH, raw)}, hash_=None)
    assert (status, answer["result"]) == (200, "recorded")
    assert flw.requests[-1].path == "/v3/transactions/verify_by_reference" and flw.requests[-1].query == {"tx_ref": tx_ref}
    assert (await served.state())["ledger"] == [(tx_ref, "charge", Decimal("2500.00"), "KES")]


async def test_an_overpayment_is_recorded_as_received(served: Served, flw: FlutterwaveFake) -> None:
    _user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1600, currency="KES")
    assert (await served.post(flw.webhook_v3(tx_ref)))[1]["result"] == "recorded"
    assert (await served.state())["ledger"] == [(tx_ref, "charge", Decimal("1600.00"), "KES")]


async def test_a_second_payment_of_a_paid_order_is_recorded_but_moves_nothing(served: Served, flw: FlutterwaveFake, caplog) -> None:  # type: ignore[no-untyped-def]
    user, first = await checkout(served)
    second = (await call(CHECKOUT, context(served.store, user=user),
                         {"order_ref": "A-1", "amount": 1500, "currency": "KES"}, 10, 0)).data["tx_ref"]
    for tx_ref in (first, second):
        flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    with caplog.at_level(logging.WARNING, logger="flowbot.payments"):
        for tx_ref in (first, second):
            assert (await served.post(flw.webhook_v3(tx_ref)))[1]["result"] == "recorded"
    state = await served.state()
    assert state["orders"] == [("A-1", "processing")] and len(state["ledger"]) == 2
    assert any("was not pending" in r.getMessage() for r in caplog.records)


async def test_without_the_secret_hash_configured_nothing_is_accepted(served: Served, flw: FlutterwaveFake, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    monkeypatch.delenv("FLUTTERWAVE_SECRET_HASH")
    status, _ = await served.post(flw.webhook_v3(tx_ref), hash_="")
    assert status == 503 and (await served.state())["orders"] == [("A-1", "pending")]


@pytest.mark.parametrize("evil", ["x' OR '1'='1", "'); DROP TABLE transactions; --", "a\u0000b", "\ud800"])
async def test_a_hostile_reference_is_just_an_unknown_one(served: Served, flw: FlutterwaveFake, evil: str) -> None:
    await checkout(served)
    before = await served.state()
    body = json.dumps({"event": "charge.completed", "data": {"id": 1, "tx_ref": evil, "status": "successful"}}).encode()
    status, answer = await served.post(body)
    assert (status, answer["result"]) == (200, "unknown transaction")
    assert await served.state() == before


async def test_the_app_opens_its_database_from_database_url(served: Served, flw: FlutterwaveFake, postgres_db: str,
                                                            monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _user, tx_ref = await checkout(served)
    flw.set_transaction(tx_ref, status="successful", amount=1500, currency="KES")
    served.deployment.store = None
    monkeypatch.setenv("DATABASE_URL", postgres_db)
    results = await asyncio.gather(*(served.post(flw.webhook_v3(tx_ref)) for _ in range(3)))
    assert sorted(a["result"] for _, a in results).count("recorded") >= 1
    opened = served.deployment.store
    assert opened is not None and opened is not served.store  # one pool, opened once, closed with the deployment
    assert (await served.state())["orders"] == [("A-1", "processing")]
