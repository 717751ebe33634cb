"""GraphFake refuses what Graph refuses, in Graph's error format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.graph import GraphFake

RESPONSES = Path(__file__).parents[2] / "fixtures" / "whatsapp" / "outbound" / "send_message_responses.json"
TEXT = {"messaging_product": "whatsapp", "to": "1555", "type": "text", "text": {"body": "hi"}}


def _buttons(*titles: str) -> dict[str, Any]:
    buttons = [{"type": "reply", "reply": {"id": f"b{i}", "title": t}} for i, t in enumerate(titles)]
    return {"messaging_product": "whatsapp", "to": "1555", "type": "interactive",
            "interactive": {"type": "button", "body": {"text": "pick"}, "action": {"buttons": buttons}}}


def _list(rows: int, title: str = "Row", button: str = "Choose") -> dict[str, Any]:
    section = {"title": "S", "rows": [{"id": f"r{i}", "title": title} for i in range(rows)]}
    return {"messaging_product": "whatsapp", "to": "1555", "type": "interactive",
            "interactive": {"type": "list", "body": {"text": "pick"},
                            "action": {"button": button, "sections": [section]}}}


async def _post(fake: GraphFake, body: Any, token: str = "t") -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with session.post(f"{fake.url}/v23.0/1/messages", data=data,
                                headers={**headers, "Content-Type": "application/json"}) as response:
            return response.status, await response.json()


async def test_success_has_the_documented_response_shape(graph_fake: GraphFake) -> None:
    documented = json.loads(RESPONSES.read_text(encoding="utf-8"))["Example response"]
    status, answer = await _post(graph_fake, dict(TEXT, to="+16505551234"))
    assert status == 200 and answer.keys() == documented.keys()
    assert answer["contacts"] == documented["contacts"]
    assert answer["messages"][0]["id"].startswith("wamid.")


@pytest.mark.parametrize(("body", "code", "detail"), [
    (b"{not json", 100, ""),
    ({k: v for k, v in TEXT.items() if k != "messaging_product"}, 100, "messaging_product"),
    ({k: v for k, v in TEXT.items() if k != "to"}, 100, "to"),
    (dict(TEXT, type="image"), 100, "image"),
    (dict(TEXT, type="carousel"), 100, "type"),
    (dict(TEXT, text={"body": "x" * 4097}), 131009, "Max length: 4096"),
    (dict(TEXT, text={"body": ""}), 131009, "Message body"),
    (_buttons("a", "b", "c", "d"), 131009, "Max allowed buttons: 3"),
    (_buttons(), 131009, "Min allowed buttons: 1"),
    (_buttons("x" * 21), 131009, "Button title length invalid"),
    (_buttons("same", "same"), 131009, "unique"),
    (_list(11), 131009, "max allowed count: 10"),
    (_list(2, title="x" * 25), 131009, "Row title"),
    (_list(2, button="x" * 21), 131009, "Button label"),
    ({"messaging_product": "whatsapp", "to": "1", "type": "image", "image": {"id": "1", "link": "l"}}, 131008, "id or link"),
    ({"messaging_product": "whatsapp", "to": "1", "type": "template", "template": {"name": "t"}}, 100, "language"),
    ({"messaging_product": "whatsapp", "status": "read"}, 100, "message_id"),
], ids=lambda v: str(v)[:30] if isinstance(v, str) else None)
async def test_invalid_bodies_get_a_graph_400(graph_fake: GraphFake, body: Any, code: int, detail: str) -> None:
    status, answer = await _post(graph_fake, body)
    assert status == 400
    error = answer["error"]
    assert error["code"] == code and error["type"] == "OAuthException" and error["fbtrace_id"]
    assert error["message"].startswith("(#") or code == 100
    assert detail in error.get("error_data", {}).get("details", "") + error["message"]
    assert graph_fake.messages == []


async def test_requests_without_a_token_get_401_code_104(graph_fake: GraphFake) -> None:
    status, answer = await _post(graph_fake, TEXT, token="")
    assert (status, answer["error"]["code"]) == (401, 104)


async def test_fail_next_with_a_custom_body(graph_fake: GraphFake) -> None:
    graph_fake.fail_next(2, status=503, body={"error": {"message": "down", "type": "OAuthException", "code": 2}})
    assert [(await _post(graph_fake, TEXT))[0] for _ in range(3)] == [503, 503, 200]
