"""STOP and START through the consent store: the keyword and its source land in consent_events,
and proactive starts (the API, notify, payment confirmations: all `start` events) are refused
for a user whose latest consent is opted_out, on a real PostgreSQL and Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.delivery.queue import Wake
from engine.delivery.turns import TurnWorker
from engine.deployment import Deployment
from engine.flow.loader import load_bot
from engine.messages import Inbound
from engine.runtime import MemoryStore, Runtime
from engine.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres
DEMO = Path(__file__).resolve().parents[2] / "flows" / "demo"
USER = "254700111222"


def runtime(store: PostgresStore | Any) -> Runtime:
    rt = Runtime(load_bot(DEMO), MemoryStore())
    rt.consent = store
    return rt


def said(rt_result: Any) -> list[str]:
    return [o.text for o in rt_result.outbound]


async def test_stop_and_start_are_recorded_with_the_keyword(pg_store: PostgresStore) -> None:
    rt = runtime(pg_store)
    await rt.handle(Inbound(user=USER, text="hi", message_id="m1"))
    stopped = await rt.handle(Inbound(user=USER, text="Unsubscribe", message_id="m2"))
    assert "consent: opted out (recorded)" in stopped.events
    assert await pg_store.is_opted_out("demo", USER)
    started = await rt.handle(Inbound(user=USER, text="anza", message_id="m3"))
    assert "consent: opted in (recorded)" in started.events
    history = await pg_store.consent_history("demo", USER)
    assert [(h["state"], h["source"], h["detail"]) for h in history] == [
        ("opted_out", "keyword", "Unsubscribe"), ("opted_in", "keyword", "anza")]
    assert not await pg_store.is_opted_out("demo", USER)


async def test_a_proactive_start_is_suppressed_by_the_store(pg_store: PostgresStore) -> None:
    rt = runtime(pg_store)
    await rt.handle(Inbound(user=USER, text="hi", message_id="m1"))
    await pg_store.opt_out("demo", USER, source="api", detail="crm")  # the session does not know
    result = await rt.start_flow(USER, "parcel_update", {"code": "HB-12345", "status": "delivered"})
    assert result.outbound == []
    assert any("opted out, says the consent store" in e for e in result.events)
    # the chat itself goes on: the user writes to us (only their own STOP quiets it)
    assert said(await rt.handle(Inbound(user=USER, text="menu", message_id="m2")))
    await pg_store.opt_in("demo", USER, source="api", detail="crm")
    assert (await rt.start_flow(USER, "parcel_update", {"code": "HB-12345", "status": "delivered"})).outbound


async def test_a_stop_outlives_the_session(pg_store: PostgresStore) -> None:
    rt = runtime(pg_store)
    await rt.handle(Inbound(user=USER, text="stop", message_id="m1"))
    await rt.store.delete("demo", USER)  # the session expired (or another process never had it)
    assert said(await rt.handle(Inbound(user=USER, text="hi", message_id="m2"))) == []
    back = await rt.handle(Inbound(user=USER, text="start", message_id="m3"))
    assert back.outbound and "consent: opted in (recorded)" in back.events
    assert not await pg_store.is_opted_out("demo", USER)
    sent = await rt.start_flow(USER, "parcel_update", {"code": "HB-12345", "status": "delivered"})
    assert sent.outbound


class Broken:
    async def opt_out(self, bot: str, user: str, *, source: str = "keyword", detail: str = "") -> None:
        raise OSError("database down")

    opt_in = opt_out

    async def is_opted_out(self, bot: str, user: str) -> bool:
        raise OSError("database down")


async def test_a_store_that_fails_leaves_the_session_flag_in_charge() -> None:
    rt = runtime(Broken())
    first = await rt.handle(Inbound(user=USER, text="hi", message_id="m1"))  # unknown consent: answered
    assert first.outbound
    stopped = await rt.handle(Inbound(user=USER, text="stop", message_id="m2"))
    assert stopped.outbound and "consent: opted out (recorded)" not in stopped.events
    assert (await rt.start_flow(USER, "parcel_update", {"code": "HB-1", "status": "x"})).outbound == []
    await rt.handle(Inbound(user=USER, text="start", message_id="m3"))
    with pytest.raises(OSError):  # a proactive start is retried rather than sent unchecked
        await rt.start_flow(USER, "parcel_update", {"code": "HB-1", "status": "x"})


@pytest.mark.redis
async def test_the_turn_worker_drops_a_queued_start_for_an_opted_out_user(
        pg_store: PostgresStore, redis_url: str, redis_prefix: str) -> None:
    deployment = Deployment.open([DEMO], redis_url, redis_prefix)
    try:
        rt = deployment.bots["demo"].runtime
        rt.consent = pg_store
        worker = TurnWorker(deployment.queue, {"demo": rt})
        await pg_store.opt_out("demo", USER, source="keyword", detail="STOP")
        await deployment.queue.enqueue("demo", USER, {"k": "start", "f": "parcel_update",
                                                      "p": {"code": "HB-1", "status": "delivered"}, "id": "k1"}, "api:k1")
        await worker.drain(Wake("0-0", "demo", USER))
        assert await deployment.queue.all("demo", USER, "out") == []
        await pg_store.opt_in("demo", USER, source="api", detail="crm")
        await deployment.queue.enqueue("demo", USER, {"k": "start", "f": "parcel_update",
                                                      "p": {"code": "HB-1", "status": "delivered"}, "id": "k2"}, "api:k2")
        await worker.drain(Wake("0-0", "demo", USER))
        out = await deployment.queue.all("demo", USER, "out")
        assert len(out) == 1 and out[0]["o"]["kind"] == "template"  # outside the window: the template
    finally:
        await deployment.close()
