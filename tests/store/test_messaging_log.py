"""The messaging log: inbound and outbound messages, one at a time and in batches, a user's
history in order, and append-only rows."""

from __future__ import annotations

import psycopg
import pytest

from engine.messages import Button, Inbound, Media, Outbound, Template
from engine.store.postgres import LogRow, PostgresStore

pytestmark = pytest.mark.postgres


async def test_an_inbound_message_is_logged_once_per_provider_id(pg_store: PostgresStore) -> None:
    inbound = Inbound(user="254700000001", text="hello", message_id="wamid.in1", timestamp=1_700_000_000.0,
                      name="Wanjiru")
    first = await pg_store.log_inbound("shop", inbound, account="1555")
    assert first is not None
    assert await pg_store.log_inbound("shop", inbound, account="1555") is None  # a redelivered webhook
    [row] = await pg_store.history("shop", "254700000001")
    assert row["id"] == first and row["direction"] == "in" and row["provider_id"] == "wamid.in1"
    assert row["account"] == "1555" and row["channel"] == "whatsapp" and row["kind"] == "text"
    assert row["body"]["text"] == "hello" and row["body"]["name"] == "Wanjiru"
    assert row["created_at"].timestamp() == 1_700_000_000.0
    assert row["status"] is None


async def test_the_same_provider_id_on_another_channel_is_another_message(pg_store: PostgresStore) -> None:
    assert await pg_store.log_inbound("shop", Inbound(user="u1", text="a", message_id="m1")) is not None
    assert await pg_store.log_inbound("shop", Inbound(user="u1", text="b", message_id="m1", channel="twilio")) is not None
    assert len(await pg_store.history("shop", "u1")) == 2


async def test_an_outbound_message_keeps_its_template_and_status(pg_store: PostgresStore) -> None:
    out = Outbound(to="u1", kind="template", template=Template("order_ready", "sw", ("42",)))
    await pg_store.log_outbound("shop", out, provider_id="wamid.out1", item_id="item1")
    media = Outbound(to="u1", kind="media", media=Media(kind="image", link="https://example.com/a.jpg"))
    await pg_store.log_outbound("shop", media, channel="twilio", provider_id="SM1", status=None)
    rows = await pg_store.history("shop", "u1")
    assert [(r["kind"], r["template"], r["template_language"], r["status"], r["channel"]) for r in rows] == [
        ("template", "order_ready", "sw", "sent", "whatsapp"), ("media", None, None, None, "twilio")]
    assert rows[0]["body"]["template"] == ["order_ready", "sw", ["42"]] and rows[0]["item"] == "item1"
    assert rows[0]["status_at"] is not None and rows[1]["status_at"] is None


async def test_a_batch_is_written_in_one_go_and_skips_what_is_logged_already(pg_store: PostgresStore) -> None:
    await pg_store.log_inbound("shop", Inbound(user="u1", text="first", message_id="in-0", timestamp=1000.0))
    rows = [LogRow.inbound("shop", Inbound(user="u1", text=f"msg {i}", message_id=f"in-{i}", timestamp=1000.0 + i))
            for i in range(200)]
    rows += [LogRow.outbound("shop", Outbound(to="u1", text=f"reply {i}"), provider_id=f"out-{i}", at=1000.5 + i)
             for i in range(200)]
    rows.append(LogRow.inbound("shop", Inbound(user="u2", text="other user", message_id="in-u2", timestamp=1000.0)))
    assert await pg_store.log_many(rows) == 400  # 401 rows, in-0 was there
    assert await pg_store.log_many(rows) == 0
    assert await pg_store.log_many([]) == 0
    history = await pg_store.history("shop", "u1", limit=1000)
    assert len(history) == 400
    texts = [r["body"]["text"] for r in history]
    assert texts[:4] == ["first", "reply 0", "msg 1", "reply 1"] and texts[-1] == "reply 199"


async def test_history_pages_backwards_and_returns_each_page_oldest_first(pg_store: PostgresStore) -> None:
    await pg_store.log_many([LogRow.inbound("shop", Inbound(user="u1", text=str(i), message_id=f"m{i}",
                                                            timestamp=2000.0 + i)) for i in range(10)])
    last = await pg_store.history("shop", "u1", limit=4)
    assert [r["body"]["text"] for r in last] == ["6", "7", "8", "9"]
    before = await pg_store.history("shop", "u1", limit=4, before=last[0]["id"])
    assert [r["body"]["text"] for r in before] == ["2", "3", "4", "5"]
    assert await pg_store.history("shop", "nobody") == []
    assert await pg_store.history("other-bot", "u1") == []


async def test_messages_without_a_provider_id_are_all_kept(pg_store: PostgresStore) -> None:
    for text in ("a", "b"):  # e.g. the terminal chat: no provider ids
        assert await pg_store.log_inbound("shop", Inbound(user="u1", text=text)) is not None
    assert len(await pg_store.history("shop", "u1")) == 2


async def test_a_logged_message_cannot_be_changed_or_deleted(pg_store: PostgresStore, postgres_db: str) -> None:
    await pg_store.log_outbound("shop", Outbound(to="u1", kind="buttons", text="Pick", buttons=(Button("a", "A"),)),
                                provider_id="wamid.x")
    with psycopg.connect(postgres_db) as conn:
        for statement in ("UPDATE messages SET body = '{}'", "UPDATE messages SET user_id = 'someone else'",
                          "DELETE FROM messages", "UPDATE messages SET status = 'queued', status_rank = 0"):
            with pytest.raises(psycopg.errors.RestrictViolation, match="flowbot: "):
                conn.execute(statement)
            conn.rollback()
    [row] = await pg_store.history("shop", "u1")
    assert row["body"]["buttons"] == [["a", "A"]] and row["status"] == "sent"


async def test_a_bad_direction_is_refused_before_it_reaches_the_database(pg_store: PostgresStore) -> None:
    with pytest.raises(ValueError, match="direction"):
        await pg_store.log_many([LogRow(bot="shop", user="u1", direction="sideways")])
