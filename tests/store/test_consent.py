"""Consent per bot, user and channel: every opt-in and opt-out kept, the latest one current."""

from __future__ import annotations

import psycopg
import pytest

from engine.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

T0 = 1_700_000_000.0


async def test_a_user_who_never_said_is_not_opted_out(pg_store: PostgresStore) -> None:
    assert await pg_store.consent("shop", "u1") is None
    assert not await pg_store.is_opted_out("shop", "u1")
    assert await pg_store.consent_history("shop", "u1") == []


async def test_stop_and_start_keep_their_history_and_the_latest_is_current(pg_store: PostgresStore) -> None:
    await pg_store.opt_in("shop", "u1", source="import", detail="customers-2024.csv", at=T0)
    await pg_store.opt_out("shop", "u1", source="keyword", detail="STOP", at=T0 + 10)
    assert await pg_store.is_opted_out("shop", "u1")
    await pg_store.opt_in("shop", "u1", source="keyword", detail="START", at=T0 + 20)
    assert not await pg_store.is_opted_out("shop", "u1")
    current = await pg_store.consent("shop", "u1")
    assert current is not None and (current["state"], current["source"], current["detail"]) == ("opted_in", "keyword", "START")
    history = await pg_store.consent_history("shop", "u1")
    assert [(h["state"], h["detail"], h["at"].timestamp()) for h in history] == [
        ("opted_in", "customers-2024.csv", T0), ("opted_out", "STOP", T0 + 10), ("opted_in", "START", T0 + 20)]


async def test_an_older_event_recorded_late_does_not_override_a_newer_one(pg_store: PostgresStore) -> None:
    await pg_store.opt_out("shop", "u1", source="keyword", detail="STOP", at=T0 + 100)
    await pg_store.opt_in("shop", "u1", source="import", detail="old list", at=T0)  # an import of old data
    assert await pg_store.is_opted_out("shop", "u1")
    assert len(await pg_store.consent_history("shop", "u1")) == 2


async def test_consent_is_per_bot_and_channel(pg_store: PostgresStore) -> None:
    await pg_store.opt_out("shop", "u1", source="api", detail="crm")
    assert await pg_store.is_opted_out("shop", "u1")
    assert not await pg_store.is_opted_out("shop", "u1", channel="sms")
    assert not await pg_store.is_opted_out("farm", "u1")
    assert not await pg_store.is_opted_out("shop", "u2")


async def test_an_unknown_source_is_refused(pg_store: PostgresStore) -> None:
    with pytest.raises(ValueError, match="consent source"):
        await pg_store.opt_out("shop", "u1", source="guess")


async def test_consent_history_is_append_only(pg_store: PostgresStore, postgres_db: str) -> None:
    await pg_store.opt_out("shop", "u1", source="keyword", detail="STOP")
    with psycopg.connect(postgres_db) as conn:
        for statement in ("UPDATE consent_events SET state = 'opted_in'", "DELETE FROM consent_events"):
            with pytest.raises(psycopg.errors.RestrictViolation, match="consent_events is append-only"):
                conn.execute(statement)
            conn.rollback()
    assert await pg_store.is_opted_out("shop", "u1")


async def test_a_stop_outlives_delete_my_data_under_a_pseudonym_until_a_newer_start(pg_store: PostgresStore) -> None:
    """Deleting a user's data deletes their consent events too, but a user who said STOP must not
    start getting messages because they also asked to be forgotten: the opt-out is kept under
    the pseudonym, not the number, and a START written after it lifts it."""
    number = "254711000321"
    await pg_store.opt_out("shop", number, source="keyword", detail="STOP", at=T0)
    await pg_store.opt_out("shop", "254711000322", source="keyword", detail="STOP", at=T0)
    await pg_store.opt_in("shop", "254711000323", source="keyword", detail="START", at=T0)
    await pg_store.forget_user("shop", number)
    await pg_store.forget_user("shop", "254711000323")
    assert await pg_store.consent_history("shop", number) == []  # the events are gone
    assert await pg_store.is_opted_out("shop", number)  # the STOP is not
    assert await pg_store.opted_out_among("shop", [number, "254711000322", "254711000323", "254711000324"]) == {
        number, "254711000322"}
    assert not await pg_store.is_opted_out("shop", number, channel="sms")  # per channel, as consent is
    assert not await pg_store.is_opted_out("farm", number)  # and per bot
    async with pg_store.pool.connection() as conn:
        rows = await (await conn.execute("SELECT * FROM consent_suppressions")).fetchall()
    assert len(rows) == 1 and all(number not in str(value) for value in rows[0])
    [entry] = [e for e in await pg_store.audit_entries(action="forget_user") if e["details"]["opt_outs_kept"]]
    assert entry["details"]["opt_outs_kept"] == 1
    await pg_store.opt_in("shop", number, source="import", detail="an old list", at=T0 - 100)  # older than the STOP
    assert await pg_store.is_opted_out("shop", number)
    await pg_store.opt_in("shop", number, source="keyword", detail="START", at=T0 + 100)
    assert not await pg_store.is_opted_out("shop", number)
    await pg_store.opt_out("shop", number, source="keyword", detail="STOP", at=T0 + 200)
    assert await pg_store.is_opted_out("shop", number)
