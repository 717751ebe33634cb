"""GraphClient against GraphFake over real HTTP on loopback: bodies, media, tokens, failures."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.graph import GraphFake

from engine.channels.whatsapp import GraphClient
from engine.channels.whatsapp import errors as e
from engine.messages import Button, Media, Outbound, Row, Template

OUTBOUND = Path(__file__).parents[2] / "fixtures" / "whatsapp" / "outbound"
PNID, TO = "106540352242922", "16505551234"


def _fixture(name: str, to: str = TO) -> dict[str, Any]:
    body = json.loads((OUTBOUND / name).read_text(encoding="utf-8"))
    if "to" in body:
        body["to"] = to
    return body


def _shape(value: Any) -> Any:
    """Keys and value types, lists by their first item: what two bodies must share."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


@pytest.fixture
async def client(graph_fake: GraphFake) -> AsyncIterator[GraphClient]:
    async with GraphClient("token-1", PNID, base_url=graph_fake.url, timeout=2.0) as graph:
        yield graph


@pytest.mark.parametrize(("out", "fixture"), [
    (Outbound(to=TO, text="text-message-content"), "text.json"),
    (Outbound(to=TO, kind="buttons", text="<BUTTON_TEXT>", buttons=(
        Button("<UNIQUE_BUTTON_ID_1>", "<BUTTON_TITLE_1>"), Button("<UNIQUE_BUTTON_ID_2>", "<BUTTON_TITLE_2>"))),
     "interactive_reply_buttons.json"),
    (Outbound(to=TO, kind="media", media=Media("image", id="<IMAGE_OBJECT_ID>")), "image_by_id.json"),
    (Outbound(to=TO, kind="media", media=Media("audio", id="<AUDIO_OBJECT_ID>")), "audio_by_id.json"),
    (Outbound(to=TO, kind="media", media=Media("image", link="http(s)://image-url")), "image_by_link.json"),
    (Outbound(to=TO, kind="media", media=Media("document", link="<http(s)://document-url>",
                                               caption="<DOCUMENT-CAPTION-TEXT>")), "document_by_link.json"),
], ids=lambda v: v if isinstance(v, str) else "")
async def test_send_posts_the_fixture_body(client: GraphClient, graph_fake: GraphFake, out: Outbound,
                                           fixture: str) -> None:
    result = await client.send(out)
    assert result.provider_id.startswith("wamid.")
    assert result.raw["messages"][0]["id"] == result.provider_id
    [received] = graph_fake.messages
    assert received.body == _fixture(fixture)
    assert (received.phone_number_id, received.authorization) == (PNID, "Bearer token-1")
    assert graph_fake.requests == [("POST", f"/v23.0/{PNID}/messages", "Bearer token-1")]


async def test_list_and_template_have_the_fixture_shapes(client: GraphClient, graph_fake: GraphFake) -> None:
    rows = tuple(Row(f"<ROW_{i}_ID>", f"<ROW_{i}_TITLE>", f"<ROW_{i}_DESC>") for i in range(4))
    await client.send(Outbound(to=TO, kind="list", text="<BODY_TEXT>", header="<HEADER_TEXT>",
                               footer="<FOOTER_TEXT>", list_button="<BUTTON_TEXT>", rows=rows))
    await client.send(Outbound(to=TO, kind="template", template=Template("template-name", "en_US", ("a", "b"))))
    sent_list, sent_template = (r.body for r in graph_fake.messages)
    assert _shape(sent_list) == _shape(_fixture("interactive_list.json"))
    assert _shape(sent_template) == _shape(_fixture("template_text_body_params.json"))


def _sendable_fixtures() -> list[str]:
    skip = {"send_message_responses.json", "template_object_only_nodejs_sdk_en_US.json",
            "mark_read_with_typing_indicator.json"}
    return sorted(p.name for p in OUTBOUND.glob("*.json") if p.name not in skip)


@pytest.mark.parametrize("name", _sendable_fixtures())
async def test_every_recorded_body_is_accepted(client: GraphClient, graph_fake: GraphFake, name: str) -> None:
    result = await client.send_body(_fixture(name))
    assert result.provider_id.startswith("wamid.")
    assert graph_fake.messages[-1].body == _fixture(name)


async def test_node_sdk_template_object_is_sent_wrapped(client: GraphClient, graph_fake: GraphFake) -> None:
    template = json.loads((OUTBOUND / "template_object_only_nodejs_sdk_en_US.json").read_text(encoding="utf-8"))
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO, "type": "template",
            "template": template}
    await client.send_body(body)
    assert graph_fake.messages[-1].body["template"]["language"] == {"policy": "deterministic", "code": "en_US"}


async def test_mark_read_with_typing_indicator(client: GraphClient, graph_fake: GraphFake) -> None:
    expected = json.loads((OUTBOUND / "mark_read_with_typing_indicator.json").read_text(encoding="utf-8"))
    assert await client.mark_read(expected["message_id"], typing=True) is True
    assert await client.mark_read("wamid.2") is True
    assert [r.body for r in graph_fake.reads] == [
        expected, {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.2"}]
    assert graph_fake.messages == []


async def test_media_upload_then_download_round_trip(client: GraphClient, graph_fake: GraphFake) -> None:
    data = bytes(range(256)) * 1000
    media_id = await client.upload_media(data, "image/png", "photo.png")
    stored = graph_fake.media[media_id]
    assert (stored.data, stored.mime, stored.filename, stored.phone_number_id) == (data, "image/png", "photo.png", PNID)
    url, mime, size = await client.media_url(media_id)
    assert url.startswith(graph_fake.url) and (mime, size) == ("image/png", len(data))
    assert await client.download_media(media_id) == data
    assert graph_fake.requests[-1][2] == "Bearer token-1"  # the media URL needs the token too


async def test_unknown_media_id_is_an_invalid_request(client: GraphClient) -> None:
    with pytest.raises(e.InvalidRequest) as caught:
        await client.media_url("404404")
    assert (caught.value.code, caught.value.subcode) == (100, 33)


async def test_expired_token_is_refreshed_and_the_request_retried_once(graph_fake: GraphFake) -> None:
    tokens = iter(["old", "new"])
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        return next(tokens)

    graph_fake.expire_token(until_token="new")
    async with GraphClient(provider, PNID, base_url=graph_fake.url) as graph:
        await graph.send(Outbound(to=TO, text="hi"))
        await graph.send(Outbound(to=TO, text="again"))
    assert [r[2] for r in graph_fake.requests] == ["Bearer old", "Bearer new", "Bearer new"]
    assert calls == 2
    assert [m.authorization for m in graph_fake.messages] == ["Bearer new", "Bearer new"]


async def test_a_static_token_that_expired_raises_without_a_pointless_retry(graph_fake: GraphFake) -> None:
    graph_fake.expire_token(until_token="rotated")
    async with GraphClient("stale", PNID, base_url=graph_fake.url) as graph:
        with pytest.raises(e.TokenExpired) as caught:
            await graph.send(Outbound(to=TO, text="hi"))
    assert (caught.value.code, caught.value.status, caught.value.subcode) == (190, 401, 463)
    assert len(graph_fake.requests) == 1


async def test_server_error_is_temporary(client: GraphClient, graph_fake: GraphFake) -> None:
    graph_fake.fail_next(1, status=500)
    with pytest.raises(e.TemporaryError) as caught:
        await client.send(Outbound(to=TO, text="hi"))
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (500, 1, True)
    assert (await client.send(Outbound(to=TO, text="hi"))).provider_id  # the fault was one-shot


@pytest.mark.parametrize(("hint", "expected"), [(None, 1.0), (3, 3.0)])
async def test_throughput_limit_is_rate_limited(client: GraphClient, graph_fake: GraphFake,
                                                hint: float | None, expected: float) -> None:
    graph_fake.rate_limit_next(1, retry_after=hint)
    with pytest.raises(e.RateLimited) as caught:
        await client.send(Outbound(to=TO, text="hi"))
    assert (caught.value.code, caught.value.retryable, caught.value.retry_after) == (130429, True, expected)
    assert caught.value.details == "Cloud API message throughput has been reached."


async def test_outside_window_then_a_template_goes_through(client: GraphClient, graph_fake: GraphFake) -> None:
    graph_fake.outside_window_for(TO)
    with pytest.raises(e.OutsideWindow) as caught:
        await client.send(Outbound(to=TO, text="hi"))
    assert (caught.value.code, caught.value.retryable) == (131047, False)
    await client.send(Outbound(to=TO, kind="template", template=Template("hello_world", "en_US")))
    assert [m.body["type"] for m in graph_fake.messages] == ["template"]


async def test_timeout_is_temporary(graph_fake: GraphFake) -> None:
    graph_fake.delay(0.6)
    async with GraphClient("t", PNID, base_url=graph_fake.url, timeout=0.15) as graph:
        started = time.monotonic()
        with pytest.raises(e.TemporaryError) as caught:
            await graph.send(Outbound(to=TO, text="hi"))
    assert caught.value.retryable and "timed out" in str(caught.value)
    assert time.monotonic() - started < 0.5


async def test_connection_refused_is_temporary() -> None:
    fake = GraphFake()
    await fake.start()
    url = fake.url
    await fake.stop()
    async with GraphClient("t", PNID, base_url=url, timeout=2.0) as graph:
        with pytest.raises(e.TemporaryError):
            await graph.send(Outbound(to=TO, text="hi"))


async def test_limits_violations_come_back_as_invalid_requests(client: GraphClient) -> None:
    buttons = tuple(Button(f"b{i}", f"Button {i}") for i in range(4))
    with pytest.raises(e.InvalidRequest) as caught:
        await client.send(Outbound(to=TO, kind="buttons", text="pick", buttons=buttons))
    assert caught.value.code == 131009 and "buttons count" in caught.value.details
    assert not caught.value.retryable


async def test_base_url_and_version_come_from_the_environment(graph_fake: GraphFake,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_API_BASE_URL", graph_fake.url + "/")
    monkeypatch.setenv("WHATSAPP_API_VERSION", "v99.0")
    async with GraphClient("t", PNID) as graph:
        await graph.send(Outbound(to=TO, text="hi"))
    assert graph_fake.requests[0][1] == f"/v99.0/{PNID}/messages"


async def test_the_token_is_never_logged_nor_in_errors(graph_fake: GraphFake, caplog: pytest.LogCaptureFixture) -> None:
    secret = "EAAG-secret-token-value"

    async def provider() -> str:
        return secret

    graph_fake.expire_token(until_token="other")
    with caplog.at_level(logging.DEBUG):
        async with GraphClient(provider, PNID, base_url=graph_fake.url) as graph:
            with pytest.raises(e.TokenExpired) as caught:
                await graph.send(Outbound(to=TO, text="hi"))
            assert secret not in repr(graph)
    assert secret not in caplog.text and secret not in str(caught.value)


async def test_a_shared_session_is_left_open(graph_fake: GraphFake) -> None:
    async with aiohttp.ClientSession() as session:
        graph = GraphClient("t", PNID, base_url=graph_fake.url, session=session)
        await graph.send(Outbound(to=TO, text="hi"))
        await graph.close()
        assert not session.closed
