"""forget_user: everything kept about one user of one bot goes; an audit entry says so."""

from __future__ import annotations

import psycopg
import pytest

from engine.channels.base import Status
from engine.messages import Inbound, Outbound, outbound_to_json
from engine.store.postgres import PostgresStore, user_pseudonym

pytestmark = pytest.mark.postgres

USER = "254700000001"


async def fill(store: PostgresStore, bot: str, user: str) -> None:
    await store.log_inbound(bot, Inbound(user=user, text="my id is 12345678", message_id=f"in-{bot}-{user}"))
    await store.sent(bot, user, f"out-{bot}-{user}", {"id": f"it-{bot}-{user}", "o": outbound_to_json(Outbound(to=user, text="ok"))})
    await store.status(Status(message_id=f"out-{bot}-{user}", status="delivered", timestamp=1.0))
    await store.failed(bot, user, {"id": f"dead-{bot}-{user}", "o": {"kind": "text", "text": "lost"}}, "gone", None)
    await store.opt_out(bot, user, source="keyword", detail="STOP")
    await store.touch_conversation(bot, user, flow="main")


def count(conninfo: str, statement: str, *params: object) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(statement, params).fetchone()  # type: ignore[call-overload]
    assert row is not None
    return int(row[0])


async def test_forget_user_deletes_their_rows_only_and_leaves_an_audit_entry(pg_store: PostgresStore, postgres_db: str) -> None:
    await fill(pg_store, "shop", USER)
    await fill(pg_store, "shop", "someone-else")
    await fill(pg_store, "farm", USER)  # the same number on another bot is another relationship

    counts = await pg_store.forget_user("shop", USER, actor="api:support", reason="user asked")
    assert counts == {"message_statuses": 1, "messages": 3, "consent_events": 1, "conversations": 1}

    assert await pg_store.history("shop", USER) == []
    assert await pg_store.consent_history("shop", USER) == []
    assert await pg_store.open_conversation("shop", USER) is None
    assert await pg_store.get(f"out-shop-{USER}") is None
    assert count(postgres_db, "SELECT count(*) FROM messages WHERE body::text LIKE %s", f"%{USER}%") == 3  # farm's
    for bot, user in (("shop", "someone-else"), ("farm", USER)):
        assert len(await pg_store.history(bot, user)) == 3
        assert await pg_store.is_opted_out(bot, user)
        assert await pg_store.open_conversation(bot, user) is not None

    [entry] = await pg_store.audit_entries(action="forget_user")
    assert entry["actor"] == "api:support" and entry["subject"] == user_pseudonym("shop", USER)
    assert entry["details"] == {"bot": "shop", "reason": "user asked", "deleted": counts, "opt_outs_kept": 1}
    assert await pg_store.is_opted_out("shop", USER)  # their STOP outlives the erasure, under the pseudonym
    assert USER not in str(entry)  # the audit log does not keep the number it erased


async def test_forgetting_a_user_twice_or_one_never_seen_is_harmless(pg_store: PostgresStore) -> None:
    await fill(pg_store, "shop", USER)
    await pg_store.forget_user("shop", USER)
    assert await pg_store.forget_user("shop", USER) == {
        "message_statuses": 0, "messages": 0, "consent_events": 0, "conversations": 0}
    assert len(await pg_store.audit_entries(action="forget_user")) == 2


async def test_outside_an_erasure_the_audit_log_cannot_be_rewritten(pg_store: PostgresStore, postgres_db: str) -> None:
    await pg_store.audit("operator:ann", "release", "conversation:7", {"note": "done"})
    with psycopg.connect(postgres_db) as conn:
        for statement in ("UPDATE audit_log SET actor = 'someone'", "DELETE FROM audit_log"):
            with pytest.raises(psycopg.errors.RestrictViolation, match="audit_log is append-only"):
                conn.execute(statement)
            conn.rollback()
    [entry] = await pg_store.audit_entries(subject="conversation:7")
    assert (entry["actor"], entry["action"], entry["details"]) == ("operator:ann", "release", {"note": "done"})
