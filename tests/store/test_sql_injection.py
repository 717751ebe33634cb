"""What users type (and what arrives in webhooks) is data: stored verbatim, never run."""

from __future__ import annotations

import psycopg
import pytest

from engine.channels.base import Status
from engine.messages import Inbound, Outbound
from engine.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

ATTACKS = [
    "'); DROP TABLE messages; --",
    "x' OR '1'='1",
    "\"; DELETE FROM consent_events WHERE true; --",
    "$$; DROP TABLE audit_log; $$",
    "%s %(bot)s {} \\x00 \\\\ ' \" ` ;",
    "Robert'); DROP TABLE conversations;--",
    "\u202e\U0001F600 unicode and a NUL-free\ttab",
]


def tables(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


async def test_hostile_text_round_trips_verbatim_and_every_table_survives(pg_store: PostgresStore, postgres_db: str) -> None:
    before = tables(postgres_db)
    for i, text in enumerate(ATTACKS):
        await pg_store.log_inbound("shop", Inbound(user="u1", text=text, message_id=f"m{i}", name=text, timestamp=1000.0 + i))
    history = await pg_store.history("shop", "u1")
    assert [r["body"]["text"] for r in history] == ATTACKS
    assert [r["body"]["name"] for r in history] == ATTACKS
    assert tables(postgres_db) == before
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (len(ATTACKS),)


@pytest.mark.parametrize("evil", ATTACKS[:4])
async def test_hostile_ids_and_names_in_every_field_are_plain_values(pg_store: PostgresStore, postgres_db: str,
                                                                       evil: str) -> None:
    before = tables(postgres_db)
    await pg_store.log_inbound(evil, Inbound(user=evil, text=evil, message_id=evil, channel=evil), account=evil)
    await pg_store.log_outbound(evil, Outbound(to=evil, text=evil), channel=evil, provider_id=evil + "-out", item_id=evil)
    await pg_store.status(Status(message_id=evil + "-out", status="delivered", channel=evil, error_title=evil))
    await pg_store.opt_out(evil, evil, channel=evil, source="keyword", detail=evil)
    await pg_store.touch_conversation(evil, evil, flow=evil, channel=evil)
    await pg_store.hand_to_human(evil, evil, human=evil)
    await pg_store.put_channel_settings(evil, evil, evil, {evil: evil})
    await pg_store.audit(evil, evil, evil, {evil: evil})
    assert tables(postgres_db) == before

    history = await pg_store.history(evil, evil)
    assert [(r["user"], r["channel"], r["body"].get("text")) for r in history] == [(evil, evil, evil), (evil, evil, evil)]
    assert history[1]["status"] == "delivered"
    assert await pg_store.is_opted_out(evil, evil, channel=evil)
    assert not await pg_store.is_opted_out("shop", "x' OR '1'='1")
    conversation = await pg_store.open_conversation(evil, evil)
    assert conversation is not None and conversation["flow"] == evil and conversation["human"] == evil
    assert await pg_store.channel_settings(evil, evil, evil) == {evil: evil}
    [entry] = await pg_store.audit_entries(subject=evil)
    assert entry["actor"] == evil and entry["details"] == {evil: evil}
    assert await pg_store.forget_user(evil, evil) == {
        "message_statuses": 1, "messages": 2, "consent_events": 1, "conversations": 1}
    assert tables(postgres_db) == before


async def test_what_postgres_cannot_store_in_text_is_replaced_not_an_error(pg_store: PostgresStore) -> None:
    """A NUL or an unpaired surrogate (json.loads makes both from a webhook's \\u escapes) would
    make PostgreSQL refuse the whole row; they become U+FFFD and the rest is kept."""
    nasty = "before\x00after \ud800 end"
    await pg_store.log_inbound("shop", Inbound(user="u\x001", text=nasty, message_id="m\x00", extra={"k\x00": [nasty]}))
    [row] = await pg_store.history("shop", "u\x001")
    assert row["body"]["text"] == "before\ufffdafter \ufffd end" and row["user"] == "u\ufffd1"
    assert row["body"]["extra"] == {"k\ufffd": ["before\ufffdafter \ufffd end"]}
    await pg_store.opt_out("shop", "u\x001", detail=nasty)
    assert await pg_store.is_opted_out("shop", "u\x001")
    await pg_store.audit("a\x00", "b", "c", {"d": nasty})
    assert (await pg_store.forget_user("shop", "u\x001"))["messages"] == 1


@pytest.mark.parametrize("nasty", ["before\x00after end", "before \ud800 end", "plain ascii", "non-ascii: ñ ü 🌽"])
async def test_the_shippers_batches_store_what_text_cannot_hold_too(pg_store: PostgresStore, nasty: str) -> None:
    """The messaging-log shipper's batch paths (`log_many`, `sent_many`) clean a batch only when
    its JSON shows it must: the same rows come out as from the one-row path."""
    from engine.messages import outbound_to_json
    from engine.store.postgres import LogRow

    clean = nasty.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")
    inbound = Inbound(user=f"u-{nasty}", text=nasty, message_id=f"m-{nasty}", extra={f"k-{nasty}": [nasty]})
    assert await pg_store.log_many([LogRow.inbound("shop", inbound), LogRow.inbound("shop", Inbound(user="other", text="ok"))]) == 2
    await pg_store.sent_many([("shop", f"u-{nasty}", f"wamid-{nasty}",
                               {"id": f"item-{nasty}", "o": outbound_to_json(Outbound(to=f"u-{nasty}", text=nasty))})])
    rows = await pg_store.history("shop", f"u-{clean}")
    assert [r["direction"] for r in rows] == ["in", "out"]
    assert rows[0]["body"]["text"] == clean and rows[0]["body"]["extra"] == {f"k-{clean}": [clean]}
    assert rows[1]["body"]["text"] == clean and rows[1]["provider_id"] == f"wamid-{clean}"
