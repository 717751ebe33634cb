"""SQL injection through a conversation: what users type reaches the `db` plugin's queries as
values only. A bot stores each message with db.execute and looks it up with db.query, against
a real PostgreSQL; after the classic attacks every table and row is intact and each text is
stored exactly as typed."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from engine.clock import FakeClock
from engine.flow.loader import load_bot
from engine.messages import Inbound
from engine.runtime import MemoryStore, Runtime

pytestmark = pytest.mark.postgres

ATTACKS = [
    "'; DROP TABLE products; --",
    "1 OR 1=1",
    "x' OR '1'='1",
    "1; DELETE FROM notes",
    "'); INSERT INTO products VALUES ('evil', 'Evil', 0); --",
    "$$; DROP TABLE notes; $$",
    ":sku %(bot)s %s {} \\x00 \\\\ ' \" ` ;",
    "Robert'); DROP TABLE notes;--",
    "\u202e\U0001F600 jambo \u00e9\u00e8 \u4e2d\u6587\ttab",
]

SCHEMA = """
CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL, price numeric(10, 2) NOT NULL);
CREATE TABLE notes (id serial PRIMARY KEY, bot text NOT NULL, user_id text NOT NULL, body text NOT NULL);
INSERT INTO products VALUES ('A1', 'Maize flour', 12.50), ('B2', 'Beans', 30);
"""

QUERIES = """\
-- name: save_note!
INSERT INTO notes (bot, user_id, body) VALUES (:bot, :user, :body);

-- name: find_product
SELECT sku, name FROM products WHERE sku = :sku OR name = :sku;

-- name: my_notes
SELECT body FROM notes WHERE bot = :bot AND user_id = :user AND body = :body;
"""

MAIN = """\
flow: main
start: ask
slots:
  text: {type: text}
  found: {}
  mine: {}
steps:
  ask:
    ask: Say something.
    into: text
    next: save
  save:
    action: db.execute
    with: {name: save_note, params: {body: "{{ slots.text }}"}}
    on_error: {say: "Sorry, that could not be saved.", next: end}
    next: find
  find:
    action: db.query
    with: {name: find_product, params: {sku: "{{ slots.text }}"}}
    into: found
    on: {ok: mine, empty: mine}
    on_error: {say: "Sorry, that could not be saved.", next: end}
  mine:
    action: db.query
    with: {name: my_notes, params: {body: "{{ slots.text }}"}}
    into: mine
    on: {ok: done, empty: done}
    on_error: {say: "Sorry, that could not be saved.", next: end}
  done:
    say: "Saved {{ slots.mine.count }}; products matched: {{ slots.found.count }}."
    end: true
"""


@pytest.fixture
async def pool(pg_pool: AsyncConnectionPool) -> AsyncConnectionPool:
    async with pg_pool.connection() as conn:
        await conn.execute(SCHEMA)
    return pg_pool


def write_bot(root: Path) -> Path:
    bot = root / "flows" / "notes"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text("bot: notes\nstart: main\nlanguages: [en]\nactions: [db]\n")
    (bot / "main.yaml").write_text(MAIN)
    (bot / "queries.sql").write_text(QUERIES)
    (root / "locales" / "notes").mkdir(parents=True)
    (root / "locales" / "notes" / "en.yaml").write_text("{}\n")
    return bot


def snapshot(conninfo: str) -> dict[str, object]:
    with psycopg.connect(conninfo) as conn:
        return {
            "tables": sorted(r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")),
            "products": conn.execute("SELECT sku, name, price::text FROM products ORDER BY sku").fetchall(),
        }


async def test_injection_strings_in_user_text_are_stored_verbatim_and_run_nothing(
        pool: AsyncConnectionPool, postgres_db: str, tmp_path: Path) -> None:
    before = snapshot(postgres_db)
    rt = Runtime(load_bot(write_bot(tmp_path)), MemoryStore(), FakeClock(), services={"db": pool})  # lint-clean, or it raises
    for i, attack in enumerate(ATTACKS):
        user = f"2547000000{i:02d}"
        await rt.handle(Inbound(user=user, text="hi", message_id=f"wamid.{i}a"))
        result = await rt.handle(Inbound(user=user, text=attack, message_id=f"wamid.{i}b"))
        assert [o.text for o in result.outbound] == ["Saved 1; products matched: 0."], attack
    assert snapshot(postgres_db) == before
    with psycopg.connect(postgres_db) as conn:
        stored = conn.execute("SELECT user_id, body FROM notes ORDER BY id").fetchall()
    assert stored == [(f"2547000000{i:02d}", attack) for i, attack in enumerate(ATTACKS)]


async def test_a_nul_character_is_refused_by_postgres_and_the_flow_says_sorry(
        pool: AsyncConnectionPool, postgres_db: str, tmp_path: Path) -> None:
    """PostgreSQL text cannot hold NUL: the statement fails as a value error, nothing runs."""
    before = snapshot(postgres_db)
    rt = Runtime(load_bot(write_bot(tmp_path)), MemoryStore(), FakeClock(), services={"db": pool})
    await rt.handle(Inbound(user="254700000099", text="hi", message_id="wamid.n1"))
    result = await rt.handle(Inbound(user="254700000099", text="a\x00'; DROP TABLE notes; --", message_id="wamid.n2"))
    assert [o.text for o in result.outbound] == ["Sorry, that could not be saved."]
    assert snapshot(postgres_db) == before
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (0,)

