"""Prometheus metrics, scraped from real processes: `flowbot serve`'s GET /metrics (its webhooks,
turns and sends, and the deployment's queues in Redis), a `flowbot worker`'s metrics port, and
who may read them. No phone number ever appears in them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest
from _load import LoadFake, Stack, free_port
from fakes.graph import GraphFake
from prometheus_client.parser import text_string_to_metric_families
from test_serve_whatsapp import post, replies, server, webhook  # noqa: F401 - `server` is a fixture

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, from the exposition text."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as answer:
        return answer.status, await answer.text()


async def test_serve_counts_webhooks_turns_and_sends_and_reads_the_queues(server: tuple[str, GraphFake]) -> None:  # noqa: F811
    base, fake = server
    user = "2547" + str(uuid.uuid4().int)[:8]
    assert await post(base, webhook(user, f"wamid.{uuid.uuid4().hex}", text="hi")) == 200
    await replies(fake, user, 2)
    assert await post(base, webhook(user, "wamid.unsigned", text="hi"), signed=False) in (401, 403)
    status, text = await scrape(f"{base}/metrics")
    assert status == 200, text
    got = samples(text)
    statuses = {dict(labels)["status"]: value for (name, labels), value in got.items()
                if name == "flowbot_webhooks_total" and dict(labels)["provider"] == "whatsapp"}
    assert statuses.get("200", 0) >= 1 and sum(v for s, v in statuses.items() if s.startswith("4")) >= 1, statuses
    assert got[("flowbot_turns_total", (("bot", "demo"),))] >= 1
    assert got[("flowbot_messages_sent_total", (("bot", "demo"),))] >= 2
    for stream in ("turns", "sends"):
        assert ("flowbot_queue_length", (("stream", stream),)) in got
        assert ("flowbot_queue_pending", (("stream", stream),)) in got
    assert ("flowbot_dead_letters", ()) in got and ("flowbot_log_backlog", ()) in got
    assert ("process_cpu_seconds_total", ()) in got  # the client's process metrics come along
    assert user not in text


async def test_a_worker_serves_its_own_counters_on_its_metrics_port(redis_url: str, redis_prefix: str) -> None:
    fake = LoadFake()
    await fake.start()
    port = free_port()
    stack = Stack(redis_url, redis_prefix, fake.url, {"FLOWBOT_METRICS_PORT": str(port), "FLOWBOT_METRICS_HOST": "127.0.0.1"})
    try:
        base = await stack.serve()
        await stack.worker("w1")
        user = "2547" + str(uuid.uuid4().int)[:8]
        assert await post(base, webhook(user, f"wamid.{uuid.uuid4().hex}", text="hi")) == 200
        await replies(fake, user, 2)
        status, text = await scrape(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        got = samples(text)
        assert got[("flowbot_turns_total", (("bot", "demo"),))] >= 1, text
        assert got[("flowbot_messages_sent_total", (("bot", "demo"),))] >= 2, text
        assert user not in text
    finally:
        await asyncio.to_thread(stack.close)
        await fake.stop()


async def test_metrics_are_for_this_machine_or_a_bearer_of_the_token(redis_url: str, redis_prefix: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import _servers
    from starlette.requests import Request

    from engine.deployment import Deployment
    from engine.web import build_app
    from engine.web.app import metrics_page

    deployment = Deployment.open([ROOT / "flows" / "demo"], redis_url, redis_prefix)
    app = build_app(deployment)
    try:
        monkeypatch.delenv("FLOWBOT_METRICS_TOKEN", raising=False)
        elsewhere = Request({"type": "http", "method": "GET", "path": "/metrics", "headers": [], "app": app,
                             "client": ("203.0.113.5", 40000), "query_string": b""})
        assert (await metrics_page(elsewhere)).status_code == 404  # without a token, nothing there for others
        async with _servers.serving(app) as url:
            assert (await scrape(f"{url}/metrics"))[0] == 200  # a scraper on this machine
            monkeypatch.setenv("FLOWBOT_METRICS_TOKEN", "scrape-me-0123456789")
            assert (await scrape(f"{url}/metrics"))[0] == 401
            assert (await scrape(f"{url}/metrics", Authorization="Bearer wrong"))[0] == 401
            status, text = await scrape(f"{url}/metrics", Authorization="Bearer scrape-me-0123456789")
            assert status == 200 and "flowbot_queue_length" in text
            monkeypatch.setenv("FLOWBOT_METRICS_TOKEN", "")
            assert (await metrics_page(elsewhere)).status_code == 404
    finally:
        await deployment.close()
