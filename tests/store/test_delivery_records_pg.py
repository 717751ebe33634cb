"""The delivery record on PostgreSQL (engine.delivery.records.DeliveryRecords): statuses arrive
out of order and more than once, and only ever move a message forward."""

from __future__ import annotations

import asyncio

import pytest

from engine.channels.base import Status
from engine.delivery.records import DeliveryRecords
from engine.messages import Outbound, Template, outbound_to_json
from engine.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

T0 = 1_700_000_000.0


def item(text: str = "hi", item_id: str = "item1") -> dict:  # type: ignore[type-arg]
    """An outbox item as the turn worker writes it."""
    return {"id": item_id, "o": outbound_to_json(Outbound(to="u1", text=text)), "n": 0, "t": T0}


def status(name: str, pid: str = "wamid.1", at: float = T0, **extra) -> Status:  # type: ignore[no-untyped-def]
    return Status(message_id=pid, status=name, recipient="u1", timestamp=at, **extra)


async def test_it_is_a_delivery_record(pg_store: PostgresStore) -> None:
    records: DeliveryRecords = pg_store
    await records.sent("shop", "u1", "wamid.1", item())
    record = await records.get("wamid.1")
    assert record is not None
    assert (record["bot"], record["user"], record["status"], record["item"]) == ("shop", "u1", "sent", "item1")
    assert record["body"]["text"] == "hi" and record["direction"] == "out"
    assert await records.get("wamid.unknown") is None


async def test_statuses_move_forward_only_whatever_order_they_arrive_in(pg_store: PostgresStore) -> None:
    await pg_store.sent("shop", "u1", "wamid.1", item())
    await pg_store.status(status("read", at=T0 + 30))
    await pg_store.status(status("delivered", at=T0 + 10))  # late: kept as an event, no step back
    await pg_store.status(status("sent", at=T0 + 1))
    await pg_store.status(status("read", at=T0 + 99))  # again: the first one stays
    record = await pg_store.get("wamid.1")
    assert record is not None and record["status"] == "read"
    assert record["status_at"].timestamp() == T0 + 30
    assert {k: v.timestamp() for k, v in record["statuses"].items()} == {
        "sent": T0 + 1, "delivered": T0 + 10, "read": T0 + 30}


async def test_a_status_that_beats_the_sender_is_picked_up_when_it_logs_the_message(pg_store: PostgresStore) -> None:
    await pg_store.status(status("delivered", at=T0 + 5))
    early = await pg_store.get("wamid.1")
    assert early is not None and early["status"] == "delivered" and "bot" not in early
    await pg_store.sent("shop", "u1", "wamid.1", item())
    record = await pg_store.get("wamid.1")
    assert record is not None and record["status"] == "delivered" and record["user"] == "u1"


async def test_failed_is_final_and_keeps_its_error(pg_store: PostgresStore) -> None:
    await pg_store.sent("shop", "u1", "wamid.1", item())
    await pg_store.status(status("failed", error_code=131047, error_title="Re-engagement message",
                                 error_detail="more than 24 hours"))
    await pg_store.status(status("delivered"))
    await pg_store.status(status("read"))
    record = await pg_store.get("wamid.1")
    assert record is not None and record["status"] == "failed" and record["error_code"] == 131047
    assert record["error_message"] == "Re-engagement message: more than 24 hours"
    assert set(record["statuses"]) == {"failed", "delivered", "read"}


async def test_a_send_that_failed_for_good_is_logged_under_its_item(pg_store: PostgresStore) -> None:
    failing = {"id": "item9", "o": outbound_to_json(Outbound(to="u1", kind="template", template=Template("t", "en"))),
               "n": 3}
    await pg_store.failed("shop", "u1", failing, "HTTP 400: template paused", 132015)
    await pg_store.failed("shop", "u1", failing, "HTTP 400: template paused", 132015)  # said twice: logged once
    record = await pg_store.get("failed:item9")
    assert record is not None
    assert (record["status"], record["error_code"], record["template"]) == ("failed", 132015, "t")
    assert record["error_message"] == "HTTP 400: template paused"
    assert len(await pg_store.history("shop", "u1")) == 1


async def test_the_channel_of_a_bot_decides_where_statuses_find_its_messages(pg_store: PostgresStore) -> None:
    pg_store.channels["sms-bot"] = "twilio"
    await pg_store.sent("sms-bot", "u1", "SM1", item())
    await pg_store.status(status("delivered", pid="SM1"))  # a WhatsApp status with the same id
    await pg_store.status(Status(message_id="SM1", status="read", channel="twilio", timestamp=T0))
    record = await pg_store.get("SM1")
    assert record is not None and record["channel"] == "twilio" and record["status"] == "read"


async def test_a_sent_message_logged_twice_is_one_row(pg_store: PostgresStore) -> None:
    await pg_store.sent("shop", "u1", "wamid.1", item())
    await pg_store.sent("shop", "u1", "wamid.1", item())
    assert len(await pg_store.history("shop", "u1")) == 1


async def test_statuses_racing_the_sender_end_at_the_furthest_status(pg_store: PostgresStore) -> None:
    """Webhooks and the sender on different connections at once: no interleaving loses a status."""
    for n in range(20):
        pid = f"wamid.race{n}"
        events = [pg_store.status(status(name, pid=pid, at=T0 + i)) for i, name in enumerate(["sent", "delivered", "read"])]
        await asyncio.gather(pg_store.sent("shop", "u1", pid, item(item_id=f"i{n}")), *events)
        record = await pg_store.get(pid)
        assert record is not None and record["status"] == "read", (n, record)


async def test_a_batch_of_sends_is_logged_once_and_catches_up_with_early_statuses(pg_store: PostgresStore) -> None:
    """`sent_many`, the messaging-log shipper's path: the same records as `sent`, one at a time."""
    await pg_store.status(status("read", pid="wamid.b2", at=T0 + 7))  # beat its sender
    sends = [("shop", f"u{n}", f"wamid.b{n}", {"id": f"item-b{n}", "o": outbound_to_json(Outbound(to=f"u{n}", text=f"reply {n}"))})
             for n in range(5)]
    await pg_store.sent_many(sends)
    await pg_store.sent_many(sends[1:3])  # shipped again after a crash: nothing doubles
    for n in range(5):
        record = await pg_store.get(f"wamid.b{n}")
        assert record is not None and record["user"] == f"u{n}" and record["body"]["text"] == f"reply {n}"
        assert record["status"] == ("read" if n == 2 else "sent")
    async with pg_store.pool.connection() as conn:
        count = await (await conn.execute("SELECT count(*) FROM messages WHERE provider_message_id LIKE 'wamid.b%'")).fetchone()
    assert count == (5,)


async def test_a_large_batch_of_sends_goes_in_chunks_and_misses_nothing(pg_store: PostgresStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past SENT_CHUNK rows `sent_many` commits in several transactions (each holds an advisory
    lock per row): every row lands once, and early statuses catch up in every chunk."""
    from engine.store import postgres

    monkeypatch.setattr(postgres, "SENT_CHUNK", 2)
    for n in (1, 4):
        await pg_store.status(status("delivered", pid=f"wamid.c{n}", at=T0 + 3))
    sends = [("shop", f"u{n}", f"wamid.c{n}", {"id": f"item-c{n}", "o": outbound_to_json(Outbound(to=f"u{n}", text=f"reply {n}"))})
             for n in range(5)]
    await pg_store.sent_many(sends)
    for n in range(5):
        record = await pg_store.get(f"wamid.c{n}")
        assert record is not None and record["body"]["text"] == f"reply {n}"
        assert record["status"] == ("delivered" if n in (1, 4) else "sent"), (n, record["status"])
    async with pg_store.pool.connection() as conn:
        count = await (await conn.execute("SELECT count(*) FROM messages WHERE provider_message_id LIKE 'wamid.c%'")).fetchone()
    assert count == (5,)
