"""The real webhook bodies of Flutterwave's docs (tests/fixtures/flutterwave/, see SOURCES.md)
parse, authenticate, and pay a transaction with their reference, byte for byte."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from fakes.flutterwave import FlutterwaveFake
from payments_support import SECRET_HASH, Served

from engine.web.payments import authentic, parse_event, signature

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "flutterwave"
V3 = FIXTURES / "charge_completed_v3_card.json"
V4 = FIXTURES / "charge_completed_v4_mobile_money.json"


def test_the_v3_card_sample_parses() -> None:
    event = parse_event(json.loads(V3.read_bytes()))
    assert (event.version, event.event, event.tx_ref, event.provider_id, event.status) == (
        "v3", "charge.completed", "Links-616626414629", "285959875", "successful")
    assert (event.amount, event.currency) == (100, "NGN")


def test_the_v4_mobile_money_sample_parses() -> None:
    event = parse_event(json.loads(V4.read_bytes()))
    assert (event.version, event.event, event.tx_ref, event.provider_id, event.status) == (
        "v4", "charge.completed", "49c3c6f5-aedd-4443-9eb4-92c51758f04a", "chg_Hq4oBRTJ4r", "succeeded")
    assert (event.amount, event.currency) == (2500, "KES")


@pytest.mark.parametrize("path", [V3, V4], ids=["v3", "v4"])
def test_both_header_kinds_authenticate_the_raw_bytes(path: Path) -> None:
    raw = path.read_bytes()
    assert authentic({"verif-hash": SECRET_HASH}, raw, SECRET_HASH)
    assert authentic({"flutterwave-signature": signature(SECRET_HASH, raw)}, raw, SECRET_HASH)
    assert authentic({"flutterwave-signature": SECRET_HASH}, raw, SECRET_HASH)
    assert not authentic({"flutterwave-signature": signature(SECRET_HASH, raw + b" ")}, raw, SECRET_HASH)
    assert not authentic({"verif-hash": "x" + SECRET_HASH}, raw, SECRET_HASH)
    assert not authentic({}, raw, SECRET_HASH)


async def seed(served: Served, tx_ref: str, amount: int, currency: str) -> None:
    """A pending order and transaction with the sample's reference, as checkout would leave them."""
    async with served.store.pool.connection() as conn, conn.transaction():
        await conn.execute("INSERT INTO orders (bot, user_id, order_ref, total, currency) VALUES ('shop', %s, 'S-1', %s, %s)",
                           ("254712345678", amount, currency))
        await conn.execute("INSERT INTO transactions (bot, user_id, order_ref, tx_ref, amount, currency, method, idempotency_key)"
                           " VALUES ('shop', %s, 'S-1', %s, %s, %s, 'link', %s)",
                           ("254712345678", tx_ref, amount, currency, "seed-" + tx_ref))


@pytest.mark.postgres
@pytest.mark.redis
async def test_the_v3_sample_pays_its_transaction(served: Served, flw: FlutterwaveFake) -> None:
    await seed(served, "Links-616626414629", 100, "NGN")
    record = flw.set_transaction("Links-616626414629", status="successful", amount=100, currency="NGN")
    assert record["id"] == 285959875  # the sample's data.id: verified by id
    status, answer = await served.post(V3.read_bytes())
    assert (status, answer["result"]) == (200, "recorded")
    assert flw.requests[-1].path == "/v3/transactions/285959875/verify"
    assert (await served.state())["ledger"] == [("Links-616626414629", "charge", Decimal("100.00"), "NGN")]


@pytest.mark.postgres
@pytest.mark.redis
async def test_the_v4_sample_pays_its_transaction(served: Served, flw: FlutterwaveFake) -> None:
    ref = "49c3c6f5-aedd-4443-9eb4-92c51758f04a"
    await seed(served, ref, 2500, "KES")
    flw.set_transaction(ref, status="successful", amount=2500, currency="KES")
    raw = V4.read_bytes()
    status, answer = await served.post(raw, {"flutterwave-signature": signature(SECRET_HASH, raw)}, hash_=None)
    assert (status, answer["result"]) == (200, "recorded")
    assert flw.requests[-1].query == {"tx_ref": ref}
    assert (await served.state())["orders"] == [("S-1", "processing")]
