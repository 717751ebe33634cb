"""The built-in `db` plugin: query files parsed with file:line errors, placeholders converted
safely, and the actions against a real PostgreSQL (tables made here), through the plugin
authors' helpers (engine.testing.plugins) and a tiny bot's conversation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from psycopg_pool import AsyncConnectionPool

from actions.db import QueryFileError, convert, load_queries, parse
from engine.clock import FakeClock
from engine.flow.loader import load_bot
from engine.messages import Inbound
from engine.runtime import MemoryStore, Runtime
from engine.runtime.actions import ActionError
from engine.store.postgres import PostgresStore
from engine.testing.plugins import play_transcript, run_action

QUERIES = """\
-- The shop bot's queries.

-- name: find_product
-- Find a product by its SKU.
SELECT sku, name, price, added FROM products WHERE sku = :sku;

-- name: products_over
SELECT sku FROM products WHERE price > :min ORDER BY sku;

-- name: add_product!
INSERT INTO products (sku, name, price) VALUES (:sku, :name, :price);

-- name: add_to_cart!
INSERT INTO cart_items (bot, user_id, sku, qty) VALUES (:bot, :user, :sku, :qty)
ON CONFLICT (bot, user_id, sku) DO UPDATE SET qty = cart_items.qty + EXCLUDED.qty;

-- name: my_cart
SELECT sku, qty FROM cart_items WHERE bot = :bot AND user_id = :user ORDER BY sku;

-- name: place_order!
-- A retried turn has the same idempotency key: the second insert does nothing.
INSERT INTO orders (idempotency_key, bot, user_id, sku) VALUES (:idempotency_key, :bot, :user, :sku)
ON CONFLICT (idempotency_key) DO NOTHING;

-- name: tricky
SELECT ':sku' AS literal, :sku::text AS cast_param, 'it''s 100% :sku' AS quoted, $$ :sku $$ AS dollar,
       E'\\' :sku' AS escaped, 1::int AS one  -- :sku in a comment
"""

SCHEMA = """
CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL, price numeric(10, 2) NOT NULL,
                       added date NOT NULL DEFAULT DATE '2026-01-05');
CREATE TABLE cart_items (bot text, user_id text, sku text, qty int, PRIMARY KEY (bot, user_id, sku));
CREATE TABLE orders (idempotency_key text PRIMARY KEY, bot text, user_id text, sku text);
INSERT INTO products (sku, name, price) VALUES ('A1', 'Maize flour', 12.50), ('B2', 'Beans', 30);
"""

BOT = """\
bot: shop
start: main
languages: [en]
actions: [db]
"""

MAIN = """\
flow: main
start: ask_sku
slots:
  sku: {type: text}
  product: {}
  order: {}
steps:
  ask_sku:
    ask: Which product?
    into: sku
    next: find
  find:
    action: db.query
    with: {name: find_product, params: {sku: "{{ slots.sku }}"}}
    into: product
    on: {ok: order, empty: unknown}
    on_error: {say: "Sorry, the shop is closed.", next: end}
  unknown:
    say: "No product {{ slots.sku }}."
    end: true
  order:
    action: db.execute
    with: {name: place_order, params: {sku: "{{ slots.sku }}"}}
    into: order
    on_error: {say: "Sorry, the shop is closed.", next: end}
    next: done
  done:
    say: "{{ slots.product.row.name }} ({{ slots.product.row.price }}, since {{ slots.product.row.added }}): {{ slots.order.count }} ordered."
    end: true
"""


def write_bot(root: Path, queries: str = QUERIES) -> Path:
    bot = root / "flows" / "shop"
    bot.mkdir(parents=True, exist_ok=True)
    (bot / "bot.yaml").write_text(BOT)
    (bot / "main.yaml").write_text(MAIN)
    (bot / "queries.sql").write_text(queries)
    locales = root / "locales" / "shop"
    locales.mkdir(parents=True, exist_ok=True)
    (locales / "en.yaml").write_text("{}\n")
    return bot


@pytest.fixture
async def pool(pg_pool: AsyncConnectionPool) -> AsyncConnectionPool:
    async with pg_pool.connection() as conn:
        await conn.execute(SCHEMA)
    return pg_pool


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return write_bot(tmp_path)


async def scalar(pool: AsyncConnectionPool, sql: str) -> object:
    async with pool.connection() as conn:
        row = await (await conn.execute(sql)).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


# ─── the query files ────────────────────────────────────────────────────────────────────────


def test_a_good_file_gives_named_queries_with_their_parameters() -> None:
    queries = {q.name: q for q in parse(QUERIES)}
    assert list(queries) == ["find_product", "products_over", "add_product", "add_to_cart", "my_cart",
                             "place_order", "tricky"]
    find = queries["find_product"]
    assert (find.statement, find.params, find.doc, find.line) == (False, ("sku",), "Find a product by its SKU.", 3)
    assert find.converted == "SELECT sku, name, price, added FROM products WHERE sku = %(sku)s;"
    cart = queries["add_to_cart"]
    assert cart.statement and cart.params == ("bot", "user", "sku", "qty")
    assert queries["place_order"].params == ("idempotency_key", "bot", "user", "sku")


def test_placeholders_are_not_found_in_literals_comments_or_casts() -> None:
    sql, params, problems = convert(parse(QUERIES)[-1].sql)
    assert problems == [] and params == ("sku",)
    assert "%(sku)s::text AS cast_param" in sql and "1::int" in sql
    assert "':sku' AS literal" in sql and "'it''s 100%% :sku'" in sql and "$$ :sku $$" in sql
    assert "E'\\' :sku'" in sql and "-- :sku in a comment" in sql
    assert convert("SELECT a[lo:hi], :x::jsonb->>'k', x=:y FROM t")[1] == ("x", "y")


def test_a_malformed_file_is_reported_at_its_lines(tmp_path: Path) -> None:
    bad = textwrap.dedent("""\
        SELECT 1;
        -- name: 2fast
        SELECT 2;
        -- name: open_quote
        SELECT 'never closed
        FROM t;
        -- name: two_statements
        SELECT 1; DROP TABLE products;
        -- name: nothing
        -- just a comment
        -- name: open_quote
        SELECT 3;
        """)
    (tmp_path / "queries.sql").write_text(bad)
    with pytest.raises(QueryFileError) as caught:
        load_queries(tmp_path)
    file = str(tmp_path / "queries.sql")
    assert [(p.file, p.line) for p in caught.value.problems] == [(file, n) for n in (1, 2, 5, 8, 9, 11)]
    text = str(caught.value)
    assert f"{file}:1: SQL before the first `-- name:` line" in text
    assert f"{file}:2: '2fast' is not a query name" in text
    assert f"{file}:5: a string literal opened here is not closed" in text
    assert f"{file}:8: one statement per query" in text
    assert f"{file}:9: query 'nothing' has no SQL" in text
    assert f"{file}:11: query 'open_quote' is declared twice (first at line 4)" in text


def test_queries_folder_files_are_read_and_a_name_in_two_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "a.sql").write_text("-- name: one\nSELECT 1;\n")
    (tmp_path / "queries" / "b.sql").write_text("-- name: two!\nDELETE FROM t;\n")
    assert sorted(load_queries(tmp_path).by_name) == ["one", "two"]
    (tmp_path / "queries.sql").write_text("-- name: two\nSELECT 2;\n")
    with pytest.raises(QueryFileError, match=r"b\.sql:1: query 'two' is declared twice \(first at .*queries\.sql:1\)"):
        load_queries(tmp_path)


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "queries.sql").write_text("-- name: one\nSELECT 1;\n")
    assert list(load_queries(tmp_path).by_name) == ["one"]
    (tmp_path / "queries.sql").write_text("-- name: one\nSELECT 1;\n\n-- name: other\nSELECT 2;\n")
    assert list(load_queries(tmp_path).by_name) == ["one", "other"]


# ─── the actions, against PostgreSQL ────────────────────────────────────────────────────────

pg = pytest.mark.postgres


@pg
async def test_query_answers_rows_and_first_row_or_empty(pool: AsyncConnectionPool, shop: Path) -> None:
    found = await run_action("db.query", {"name": "find_product", "params": {"sku": "A1"}},
                             services={"db": pool}, bot_root=shop)
    row = {"sku": "A1", "name": "Maize flour", "price": 12.5, "added": "2026-01-05"}  # JSON-ready values
    assert (found.outcome, dict(found.data)) == ("ok", {"rows": [row], "row": row, "count": 1})
    over = await run_action("db.query", {"name": "products_over", "params": {"min": 10}}, services={"db": pool}, bot_root=shop)
    assert [r["sku"] for r in over.data["rows"]] == ["A1", "B2"] and over.data["count"] == 2
    missing = await run_action("db.query", {"name": "find_product", "params": {"sku": "ZZ"}},
                               services={"db": pool}, bot_root=shop)
    assert (missing.outcome, dict(missing.data)) == ("empty", {"rows": [], "row": None, "count": 0})


@pg
async def test_literals_and_casts_survive_the_conversion(pool: AsyncConnectionPool, shop: Path) -> None:
    result = await run_action("db.query", {"name": "tricky", "params": {"sku": "A1"}}, services={"db": pool}, bot_root=shop)
    assert result.data["row"] == {"literal": ":sku", "cast_param": "A1", "quoted": "it's 100% :sku",
                                  "dollar": " :sku ", "escaped": "' :sku", "one": 1}


@pg
async def test_execute_answers_the_row_count_and_a_postgres_store_works_too(pool: AsyncConnectionPool, shop: Path) -> None:
    store = PostgresStore(pool)  # what flowbot serve/worker inject: its pool is used
    args = {"name": "add_to_cart", "params": {"sku": "A1", "qty": 2}}
    assert dict((await run_action("db.execute", args, services={"db": store}, bot_root=shop)).data) == {"count": 1}
    await run_action("db.execute", args, services={"db": store}, bot_root=shop)
    assert await scalar(pool, "SELECT qty FROM cart_items WHERE sku = 'A1'") == 4


@pg
async def test_query_and_execute_are_not_interchangeable(pool: AsyncConnectionPool, shop: Path) -> None:
    with pytest.raises(ActionError, match="add_product! changes data: call it with db.execute"):
        await run_action("db.query", {"name": "add_product", "params": {}}, services={"db": pool}, bot_root=shop)
    with pytest.raises(ActionError, match="'find_product' reads data: call it with db.query"):
        await run_action("db.execute", {"name": "find_product", "params": {"sku": "A1"}}, services={"db": pool}, bot_root=shop)


@pg
async def test_bot_and_user_come_from_the_conversation_and_cannot_be_passed(pool: AsyncConnectionPool, shop: Path) -> None:
    for user, sku in (("254700000001", "A1"), ("254700000002", "B2")):
        await run_action("db.execute", {"name": "add_to_cart", "params": {"sku": sku, "qty": 1}},
                         user=user, bot="shop", services={"db": pool}, bot_root=shop)
    mine = await run_action("db.query", {"name": "my_cart"}, user="254700000001", bot="shop", services={"db": pool}, bot_root=shop)
    assert mine.data["rows"] == [{"sku": "A1", "qty": 1}]
    assert await scalar(pool, "SELECT count(*) FROM cart_items WHERE bot = 'shop'") == 2
    for key in ("user", "bot", "idempotency_key"):
        with pytest.raises(ActionError, match=f"`{key}` is filled from the conversation"):
            await run_action("db.query", {"name": "my_cart", "params": {key: "254700000002"}},
                             user="254700000001", services={"db": pool}, bot_root=shop)


@pg
async def test_the_idempotency_key_makes_a_retried_insert_a_no_op(pool: AsyncConnectionPool, shop: Path) -> None:
    args = {"name": "place_order", "params": {"sku": "A1"}}
    first = await run_action("db.execute", args, idempotency_key="turn-1", services={"db": pool}, bot_root=shop)
    again = await run_action("db.execute", args, idempotency_key="turn-1", services={"db": pool}, bot_root=shop)
    other = await run_action("db.execute", args, idempotency_key="turn-2", services={"db": pool}, bot_root=shop)
    assert [first.data["count"], again.data["count"], other.data["count"]] == [1, 0, 1]
    assert await scalar(pool, "SELECT count(*) FROM orders") == 2


@pg
async def test_a_redelivered_turn_orders_once(pool: AsyncConnectionPool, shop: Path) -> None:
    """The turn is run again from the last saved session (a worker died before saving it, the
    inbox delivered the message again): same message ids, same key, one order."""
    loaded = load_bot(shop)
    said = []
    for _ in range(2):  # a fresh session store: the first run's session was never saved
        rt = Runtime(loaded, MemoryStore(), FakeClock(), services={"db": pool})
        await rt.handle(Inbound(user="254700000001", text="hi", message_id="wamid.1"))
        said.append([o.text for o in (await rt.handle(Inbound(user="254700000001", text="A1", message_id="wamid.2"))).outbound])
    assert said == [["Maize flour (12.5, since 2026-01-05): 1 ordered."], ["Maize flour (12.5, since 2026-01-05): 0 ordered."]]
    assert await scalar(pool, "SELECT count(*) FROM orders") == 1


@pg
async def test_sql_in_a_parameter_is_only_a_value(pool: AsyncConnectionPool, shop: Path) -> None:
    hostile = "'); DROP TABLE products; --"
    added = await run_action("db.execute", {"name": "add_product", "params": {"sku": "X9", "name": hostile, "price": 1}},
                             services={"db": pool}, bot_root=shop)
    assert added.data["count"] == 1
    assert await scalar(pool, "SELECT name FROM products WHERE sku = 'X9'") == hostile
    assert await scalar(pool, "SELECT count(*) FROM products") == 3
    sneaky = await run_action("db.query", {"name": "find_product", "params": {"sku": "' OR '1'='1"}},
                              services={"db": pool}, bot_root=shop)
    assert sneaky.outcome == "empty"


@pg
async def test_wrong_names_and_parameters_are_errors_that_say_what_exists(pool: AsyncConnectionPool, shop: Path) -> None:
    async def run(action: str, args: dict) -> object:  # type: ignore[type-arg]
        return await run_action(action, args, services={"db": pool}, bot_root=shop)

    with pytest.raises(ActionError) as caught:
        await run("db.query", {"name": "find_prodcut", "params": {"sku": "A1"}})
    assert str(caught.value) == (
        "there is no query named 'find_prodcut'; did you mean 'find_product'? (the bot's queries: add_product!, "
        "add_to_cart!, find_product, my_cart, place_order!, products_over, tricky)")
    with pytest.raises(ActionError, match=r"needs the parameter 'sku' \(its parameters: sku\)"):
        await run("db.query", {"name": "find_product"})
    with pytest.raises(ActionError, match=r"has no parameter 'skew' \(its parameters: sku\)"):
        await run("db.query", {"name": "find_product", "params": {"sku": "A1", "skew": 1}})


async def test_without_a_database_or_a_bot_folder_the_action_says_what_is_missing(shop: Path) -> None:
    with pytest.raises(ActionError, match=r"needs a database: the host injects it as services\['db'\]"):
        await run_action("db.query", {"name": "find_product", "params": {"sku": "A1"}}, bot_root=shop)
    with pytest.raises(ActionError, match="needs the bot's folder"):
        await run_action("db.query", {"name": "find_product", "params": {"sku": "A1"}}, services={"db": object()})


@pg
async def test_a_query_returning_too_many_rows_is_an_error(pool: AsyncConnectionPool, shop: Path) -> None:
    with pytest.raises(ActionError, match=r"returned more than 1 rows \(settings.db.max_rows\): add a LIMIT"):
        await run_action("db.query", {"name": "products_over", "params": {"min": 0}}, settings={"db": {"max_rows": 1}},
                         services={"db": pool}, bot_root=shop)


@pg
async def test_a_malformed_file_reaches_the_flow_as_an_error(pool: AsyncConnectionPool, tmp_path: Path) -> None:
    bot = write_bot(tmp_path, "-- name: find_product\nSELECT 'oops FROM products WHERE sku = :sku;\n")
    with pytest.raises(ActionError, match=r"queries\.sql:2: a string literal opened here is not closed"):
        await run_action("db.query", {"name": "find_product", "params": {"sku": "A1"}}, services={"db": pool}, bot_root=bot)


# ─── a plugin author's conversation test ────────────────────────────────────────────────────

TRANSCRIPT = """\
transcript: Order a product, then ask for one that does not exist
bot: shop
turns:
  - user: hi
    expect:
      - text: Which product?
  - user: B2
    expect:
      - text: "Beans (30, since 2026-01-05): 1 ordered."
  - user: hi
  - user: ZZ
    expect:
      - text: No product ZZ.
"""


@pg
async def test_a_transcript_plays_against_the_database(pool: AsyncConnectionPool, tmp_path: Path) -> None:
    bot = write_bot(tmp_path)
    assert [p for p in load_bot(bot).problems if p.severity.name == "ERROR"] == []
    transcript = tmp_path / "tests" / "transcripts" / "shop" / "01_order.yaml"
    transcript.parent.mkdir(parents=True)
    transcript.write_text(TRANSCRIPT)
    played = await play_transcript(transcript, services={"db": pool})
    assert played.failures == [], played.text
    assert "· db.query → ok" in played.text and "· db.execute → ok" in played.text and "· db.query → empty" in played.text
    assert await scalar(pool, "SELECT sku FROM orders") == "B2"
