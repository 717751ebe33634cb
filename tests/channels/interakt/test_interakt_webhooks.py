"""Interakt webhooks. No Interakt payload is public (tests/fixtures/interakt/NOTES.md): the bodies
here are CONSTRUCTED from the documented facts (`type`, `data.customer`, `data.message`) plus
assumed field names, which the adapter reads defensively. Replace them with a recorded delivery
as soon as one exists."""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from typing import Any

import pytest
from channels._mutations import assert_parses_or_400, byte_mutations, tree_mutations

from engine.channels.base import Parsed, Status, WebhookRejected, WebhookRequest
from engine.channels.interakt import InteraktAdapter, interakt_signature
from engine.messages import Inbound, Media

CUSTOMER = {"id": "c-1", "country_code": "+91", "phone_number": "9876543210", "traits": {"name": "Asha"}}


def received(**message: Any) -> dict[str, Any]:
    return {"version": "1.0", "timestamp": "2026-01-05T08:00:00Z", "type": "message_received",
            "data": {"customer": CUSTOMER, "message": {"id": "m-1", "message": "Namaste",
                                                       "message_content_type": "Text", **message}}}


def status(kind: str, **message: Any) -> dict[str, Any]:
    return {"type": kind, "data": {"customer": CUSTOMER, "message": {"id": "out-9", **message}}}


def request(body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest(method="POST", url="https://bot.example.com/interakt",
                          headers={"content-type": "application/json", **(headers or {})}, body=raw)


ADAPTER = InteraktAdapter("key")


def test_a_received_text_is_an_inbound_from_the_customer_number() -> None:
    assert ADAPTER.parse(request(received())) == Parsed(events=[Inbound(
        user="919876543210", text="Namaste", message_id="m-1", name="Asha", channel="interakt",
        extra={"customer_id": "c-1", "content_type": "text"})])


def test_a_received_image_keeps_its_link_and_caption() -> None:
    [inbound] = ADAPTER.parse(request(received(message="my cow", message_content_type="Image",
                                               media_url="https://interakt.example/m.jpg"))).events
    assert isinstance(inbound, Inbound)
    assert inbound.kind == "image"
    assert inbound.media == Media(kind="image", link="https://interakt.example/m.jpg", caption="my cow")


def test_a_full_number_is_read_when_the_parts_are_missing() -> None:
    body = received()
    body["data"]["customer"] = {"channel_phone_number": "+254 700 000 001"}
    [inbound] = ADAPTER.parse(request(body)).events
    assert isinstance(inbound, Inbound) and inbound.user == "254700000001"


@pytest.mark.parametrize(("kind", "name"), [("message_api_sent", "sent"), ("message_api_delivered", "delivered"),
                                            ("message_api_read", "read"), ("message_api_failed", "failed")])
def test_api_message_statuses(kind: str, name: str) -> None:
    assert ADAPTER.parse(request(status(kind))).events == [Status(
        message_id="out-9", status=name, recipient="919876543210", channel="interakt",
        extra={"provider_status": kind})]


def test_a_failure_reason_is_kept() -> None:
    [failed] = ADAPTER.parse(request(status("message_api_failed", channel_failure_reason="Re-engagement"))).events
    assert isinstance(failed, Status) and failed.error_detail == "Re-engagement"


@pytest.mark.parametrize("body", [
    status("message_api_clicked"), status("message_campaign_sent"), status("message_campaign_failed"),
    {"type": "template_status_changed", "data": {}}, {"type": None}, {},
    {"type": "message_received", "data": {"message": {"message": "who am I?"}}},
    {"type": "message_received"}, {"type": "message_api_read", "data": {"message": {}}},
], ids=["clicked", "campaign-sent", "campaign-failed", "other", "null-type", "empty", "no-customer",
        "no-data", "status-without-id"])
def test_everything_else_is_no_event(body: dict[str, Any]) -> None:
    assert ADAPTER.parse(request(body)) == Parsed(events=[])


@pytest.mark.parametrize("body", [b"", b"[]", b"{", b"\xff", b"[" * 100_000])
def test_non_objects_are_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        ADAPTER.parse(request(body))
    assert rejected.value.status == 400


def test_mutated_bodies_parse_or_are_400() -> None:
    for document in (received(media_url="https://x/y.jpg"), status("message_api_failed")):
        raw = json.dumps(document).encode()
        for mutated in byte_mutations(raw, 300, seed=zlib.crc32(raw)):
            assert_parses_or_400(lambda b: ADAPTER.parse(request(b)), mutated)
        for mutated in tree_mutations(document, 500, seed=zlib.crc32(raw)):
            assert_parses_or_400(lambda b: ADAPTER.parse(request(b)), mutated)


# ─── the (assumed) signature ────────────────────────────────────────────────────────────────

BODY = json.dumps(received()).encode()


def test_without_a_secret_nothing_is_checked() -> None:
    InteraktAdapter("key").verify(request(BODY))


def test_the_assumed_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    assert interakt_signature("s", BODY) == hmac.new(b"s", BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("value", [interakt_signature("s", BODY), "sha256=" + interakt_signature("s", BODY),
                                   interakt_signature("s", BODY).upper()])
def test_a_matching_signature_passes(value: str) -> None:
    InteraktAdapter("key", webhook_secret="s").verify(request(BODY, {"interakt-signature": value}))


@pytest.mark.parametrize("headers", [{}, {"interakt-signature": ""}, {"interakt-signature": "abc"},
                                     {"interakt-signature": interakt_signature("other", BODY)},
                                     {"x-other": interakt_signature("s", BODY)}])
def test_a_missing_or_wrong_signature_is_401(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        InteraktAdapter("key", webhook_secret="s").verify(request(BODY, headers))
    assert rejected.value.status == 401


def test_the_signature_header_is_configurable() -> None:
    adapter = InteraktAdapter("key", webhook_secret="s", signature_header="X-Interakt-Hmac")
    adapter.verify(request(BODY, {"x-interakt-hmac": interakt_signature("s", BODY)}))
    with pytest.raises(WebhookRejected):
        adapter.verify(request(BODY, {"interakt-signature": interakt_signature("s", BODY)}))
