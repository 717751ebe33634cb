"""Conversations (one open per bot and user, hand-over to a human) and channel settings."""

from __future__ import annotations

import pytest

from engine.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

T0 = 1_700_000_000.0


async def test_activity_keeps_one_open_conversation_until_it_ends(pg_store: PostgresStore) -> None:
    first = await pg_store.touch_conversation("shop", "u1", flow="main", at=T0)
    assert await pg_store.touch_conversation("shop", "u1", at=T0 + 60) == first
    assert await pg_store.touch_conversation("shop", "u1", at=T0 + 30) == first  # late: never moves back
    open_ = await pg_store.open_conversation("shop", "u1")
    assert open_ is not None and open_["flow"] == "main"
    assert (open_["started_at"].timestamp(), open_["last_message_at"].timestamp()) == (T0, T0 + 60)
    await pg_store.end_conversation("shop", "u1")
    assert await pg_store.open_conversation("shop", "u1") is None
    assert await pg_store.touch_conversation("shop", "u1", flow="cart") != first


async def test_a_hand_over_to_a_human_and_back(pg_store: PostgresStore) -> None:
    await pg_store.touch_conversation("shop", "u1", flow="main")
    await pg_store.hand_to_human("shop", "u1", human="agent:ann")
    taken = await pg_store.open_conversation("shop", "u1")
    assert taken is not None and taken["human"] == "agent:ann" and taken["handed_to_human_at"] is not None
    assert taken["released_at"] is None
    await pg_store.release("shop", "u1")
    released = await pg_store.open_conversation("shop", "u1")
    assert released is not None and released["released_at"] is not None


async def test_channel_settings_per_bot_channel_and_number(pg_store: PostgresStore) -> None:
    assert await pg_store.channel_settings("shop", "whatsapp", "1555") is None
    await pg_store.put_channel_settings("shop", "whatsapp", "1555", {"throughput": 80, "greeting": "Karibu"})
    await pg_store.put_channel_settings("shop", "whatsapp", "1666", {"throughput": 20})
    await pg_store.put_channel_settings("shop", "whatsapp", "1555", {"throughput": 250})
    assert await pg_store.channel_settings("shop", "whatsapp", "1555") == {"throughput": 250}
    assert await pg_store.channel_settings("shop", "whatsapp", "1666") == {"throughput": 20}
    assert await pg_store.channel_settings("farm", "whatsapp", "1555") is None
