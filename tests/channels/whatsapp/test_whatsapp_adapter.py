"""WhatsAppAdapter: the Adapter contract over the signature, parser and Graph client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.graph import GraphFake

from engine.channels.base import Adapter, WebhookRejected, WebhookRequest
from engine.channels.whatsapp import GraphClient, WhatsAppAdapter, signature_header
from engine.messages import Inbound, Outbound

FIXTURES = Path(__file__).parents[2] / "fixtures" / "whatsapp"
PYWA = json.loads((FIXTURES / "signature" / "pywa_triple.json").read_text(encoding="utf-8"))
PYWA_BODY = (FIXTURES / "signature" / PYWA["request_body_file"]).read_bytes()


def _post(body: bytes, signature: str | None) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    return WebhookRequest(method="POST", url="https://bot.example/webhooks/whatsapp", headers=headers, body=body)


def test_is_an_adapter() -> None:
    adapter: Adapter = WhatsAppAdapter(app_secret="s")
    assert adapter.name == "whatsapp"


def test_real_signed_webhook_verifies_and_parses() -> None:
    adapter = WhatsAppAdapter(app_secret=PYWA["app_secret"])
    request = _post(PYWA_BODY, PYWA["x_hub_signature_256"])
    adapter.verify(request)
    parsed = adapter.parse(request)
    assert parsed.account == "277321005464405"
    [event] = parsed.events
    assert isinstance(event, Inbound)
    assert (event.user, event.name, event.text) == ("972544401243", "PyWa Tests", "Hey there! I am using PyWa.")


@pytest.mark.parametrize("signature", [None, "", "sha256=" + "0" * 64, PYWA["x_hub_signature_256"][:-1]])
def test_bad_or_missing_signature_is_403(signature: str | None) -> None:
    with pytest.raises(WebhookRejected) as caught:
        WhatsAppAdapter(app_secret=PYWA["app_secret"]).verify(_post(PYWA_BODY, signature))
    assert caught.value.status == 403


def test_without_an_app_secret_every_webhook_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHATSAPP_APP_SECRET", raising=False)
    with pytest.raises(WebhookRejected) as caught:
        WhatsAppAdapter().verify(_post(PYWA_BODY, PYWA["x_hub_signature_256"]))
    assert caught.value.status == 403


def test_app_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_APP_SECRET", PYWA["app_secret"])
    WhatsAppAdapter().verify(_post(PYWA_BODY, PYWA["x_hub_signature_256"]))


def test_a_body_for_two_numbers_parses_into_one_or_per_number() -> None:
    a = json.loads((FIXTURES / "inbound" / "text.json").read_text(encoding="utf-8"))
    b = json.loads((FIXTURES / "inbound" / "text_username_only_bsuid_v25.json").read_text(encoding="utf-8"))
    body = json.dumps({"object": "whatsapp_business_account", "entry": a["entry"] + b["entry"]}).encode()
    adapter = WhatsAppAdapter(app_secret="s")
    request = _post(body, signature_header("s", body))
    adapter.verify(request)
    merged = adapter.parse(request)
    assert merged.account == ""
    assert [e.extra["account"] for e in merged.events if isinstance(e, Inbound)] == ["1122334455667", "123456123"]
    assert [p.account for p in adapter.parse_batches(request)] == ["1122334455667", "123456123"]


def test_malformed_body_is_400() -> None:
    with pytest.raises(WebhookRejected) as caught:
        WhatsAppAdapter(app_secret="s").parse(_post(b"{", None))
    assert caught.value.status == 400


def test_subscription_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads((FIXTURES / "verification" / "get_handshake.json").read_text(encoding="utf-8"))
    query = doc["meta_graph_webhooks_getting_started_sample"]["query"]
    request = WebhookRequest(method="GET", url="https://bot.example/webhooks/whatsapp", headers={}, body=b"",
                             query=query)
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", "meatyhamhock")
    assert WhatsAppAdapter().challenge(request) == "1158201444"
    with pytest.raises(WebhookRejected) as caught:
        WhatsAppAdapter(verify_token="other").challenge(request)
    assert caught.value.status == 403


async def test_send_goes_through_the_graph_client(graph_fake: GraphFake) -> None:
    adapter = WhatsAppAdapter(GraphClient("t", "42", base_url=graph_fake.url), app_secret="s")
    try:
        result = await adapter.send(Outbound(to="1555", text="hello"))
    finally:
        await adapter.close()
    assert graph_fake.messages[0].body["text"]["body"] == "hello"
    assert result.provider_id.startswith("wamid.")


async def test_from_env(graph_fake: GraphFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_TOKEN", "env-token")
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", "777")
    monkeypatch.setenv("WHATSAPP_API_BASE_URL", graph_fake.url)
    adapter = WhatsAppAdapter.from_env()
    try:
        await adapter.send(Outbound(to="1555", text="hello"))
    finally:
        await adapter.close()
    assert (graph_fake.messages[0].phone_number_id, graph_fake.messages[0].authorization) == ("777", "Bearer env-token")
