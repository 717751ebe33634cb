"""The jirani bot's SQL (flows/jirani/queries.sql) on a real PostgreSQL with the migrations and
the example catalog: each query the flows name, as the db plugin runs it; and its actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actions import jirani
from engine.store.postgres import PostgresStore
from engine.testing.plugins import context, run_action

pytestmark = pytest.mark.postgres
BOT = Path(__file__).resolve().parents[2] / "flows" / "jirani"
ME, OTHER = "254711000201", "254711000202"


@pytest.fixture
async def shop(pg_store: PostgresStore) -> PostgresStore:
    async with pg_store.pool.connection() as conn:
        await conn.execute((BOT / "catalog.sql").read_text().encode())
    return pg_store


async def db(store: PostgresStore, action: str, name: str, user: str = ME, key: str | None = None,
             **params: Any) -> Any:
    return await run_action(action, {"name": name, "params": params}, services={"db": store}, bot_root=BOT,
                            bot="jirani", user=user, idempotency_key=key)


async def test_the_catalog_by_category(shop: PostgresStore) -> None:
    categories = await db(shop, "db.query", "categories")
    assert [r["category"] for r in categories.data["rows"]] == ["Unga & rice", "Dairy", "Household"]
    assert categories.data["rows"][0]["hint"] == "3 items"
    dairy = await db(shop, "db.query", "products_in", category="Dairy")
    assert dairy.data["rows"][0] == {"sku": "D1", "name": "Fresh milk 500 ml", "price": "65.00", "currency": "KES",
                                     "label": "KES 65.00 · Brookside"}
    assert (await db(shop, "db.query", "find_product", sku="u1")).data["row"]["name"] == "Maize flour 2 kg"
    assert (await db(shop, "db.query", "find_product", sku="Z9")).outcome == "empty"
    assert (await db(shop, "db.query", "products_in", category="Dairy", user=OTHER)).data["count"] == 2
    assert (await db(shop, "db.query", "categories")).outcome == "ok"


async def test_an_order_is_priced_from_the_catalog_once_and_only_its_owner_sees_it(shop: PostgresStore) -> None:
    cart: dict[str, Any] = {}
    for sku, qty, price in (("U1", 2, "1.00"), ("D1", 3, "1.00")):  # the cart's prices are stale on purpose
        product = {"sku": sku, "name": sku, "price": price, "currency": "KES"}
        cart = (await jirani.cart_add(context(), cart, product, qty)).data
    draft = (await jirani.new_order(context(idempotency_key="turn-1"), cart)).data
    assert draft["order_ref"] == jirani.order_ref("turn-1") and draft["skus"] == ["U1", "D1"]
    params = {"order_ref": draft["order_ref"], "skus": draft["skus"], "qtys": draft["qtys"]}
    placed = await db(shop, "db.execute", "place_order", **params)
    again = await db(shop, "db.execute", "place_order", **params)  # a retried turn
    assert (placed.data["count"], again.data["count"]) == (2, 0)
    summary = (await db(shop, "db.query", "order_summary", order_ref=draft["order_ref"])).data["row"]
    assert summary == {"order_ref": draft["order_ref"], "status": "pending", "total": "615.00", "currency": "KES",
                       "lines": "2 × Maize flour 2 kg, 3 × Fresh milk 500 ml"}
    assert (await db(shop, "db.query", "order_summary", user=OTHER, order_ref=draft["order_ref"])).outcome == "empty"
    latest = (await db(shop, "db.query", "latest_orders")).data["rows"]
    assert [(o["order_ref"], o["status"], o["delivery"], o["pay_link"]) for o in latest] == [
        (draft["order_ref"], "pending", "", None)]
    assert (await db(shop, "db.query", "latest_orders", user=OTHER)).outcome == "empty"


async def test_nothing_is_placed_when_nothing_is_sold(shop: PostgresStore) -> None:
    placed = await db(shop, "db.execute", "place_order", order_ref="JR-GONE", skus=["Z9"], qtys=[1])
    assert placed.data["count"] == 0
    assert (await db(shop, "db.query", "order_summary", order_ref="JR-GONE")).outcome == "empty"


async def test_track_reads_the_delivery(shop: PostgresStore) -> None:
    await db(shop, "db.execute", "place_order", order_ref="JR-TRACK01", skus=["H2"], qtys=[1])
    bare = (await db(shop, "db.query", "track_order", order_ref="jr-track01")).data["row"]
    assert (bare["status"], bare["delivery"], bare["eta"]) == ("pending", "", None)
    async with shop.pool.connection() as conn:
        await conn.execute("INSERT INTO deliveries (bot, order_ref, status, carrier, tracking_code, eta)"
                           " VALUES ('jirani', 'JR-TRACK01', 'in_transit', 'Sendy', 'SND-1', '2026-01-05T14:00:00Z')")
    row = (await db(shop, "db.query", "track_order", order_ref="JR-TRACK01")).data["row"]
    assert (row["delivery"], row["carrier"], row["tracking_code"]) == ("in_transit", "Sendy", "SND-1")
    assert row["eta"].startswith("2026-01-05T14:00:00")
    assert (await db(shop, "db.query", "track_order", user=OTHER, order_ref="JR-TRACK01")).outcome == "empty"


@pytest.mark.parametrize(("text", "outcome", "data"), [
    ("ADD U1 2", "add", {"sku": "U1", "qty": 2}),
    ("  add   h2 ", "add", {"sku": "H2", "qty": 1}),
    ("ongeza u1, 3", "add", {"sku": "U1", "qty": 3}),
    ("add U1 0", "bad_qty", {"sku": "U1", "given": "0", "max": 99}),
    ("add U1 2 3", "bad_qty", {"sku": "U1", "given": "2 3", "max": 99}),
    ("add", "add_usage", {}),
    ("remove u1", "remove", {"sku": "U1"}),
    ("track jr-4xq7p2m", "track", {"ref": "JR-4XQ7P2M"}),
    ("TRACK", "track_usage", {}),
    ("kikapu", "cart", {}),
    ("Lipa", "checkout", {}),
    ("sugar please", "unknown", {"word": "sugar please"}),
    ("", "unknown", {"word": ""}),
])
async def test_commands(text: str, outcome: str, data: dict[str, Any]) -> None:
    result = await jirani.command(context(), text)
    assert (result.outcome, dict(result.data)) == (outcome, data)
