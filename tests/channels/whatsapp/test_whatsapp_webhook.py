"""Every recorded webhook body parses to the expected events (parametrized over the fixture
folders: a new fixture without an expectation here fails)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from engine.channels.base import Parsed, Status, WebhookRejected
from engine.channels.whatsapp import parse_webhook
from engine.messages import INBOUND_KINDS, Inbound

FIXTURES = Path(__file__).parents[2] / "fixtures" / "whatsapp"
ABSENT = object()
USER, ACCOUNT, BSUID = "972987654321", "1122334455667", "US.13491208655302741918"

INBOUND: dict[str, dict[str, Any]] = {
    "text": {"kind": "text", "text": "Body Text", "message_id": "wamid.xyzxyz", "timestamp": 1697043223.0,
             "context_id": None, "extra.wa_id": USER, "extra.user_id": BSUID,
             "extra.parent_user_id": "US.ENT.11815799212886844830", "extra.account": ACCOUNT,
             "extra.forwarded": ABSENT},
    "text_forwarded": {"kind": "text", "text": "forwarded text", "extra.forwarded": True, "context_id": None},
    "text_frequently_forwarded": {"kind": "text", "extra.frequently_forwarded": True, "extra.forwarded": ABSENT},
    "text_reply_with_context": {"kind": "text", "text": "replied text", "context_id": "wamid.xyzxyz=="},
    "text_with_ctwa_referral": {"kind": "text", "text": "BODY", "message_id": "wamid.ID",
                                "extra.referral.ctwa_clid": "CTWA_CLID", "extra.referral.source_id": "ADID"},
    "text_username_only_bsuid_v25": {
        "user": BSUID, "name": "test user name", "kind": "text", "text": "this is a text message",
        "message_id": "ABGGFlA5Fpa", "timestamp": 1504902988.0, "account": "123456123",
        "extra.username": "@testusername", "extra.user_id": BSUID,
        "extra.parent_user_id": "US.ENT.506847293015824", "extra.wa_id": ABSENT},
    "interactive_button_reply": {"kind": "button", "reply_id": "callback_data", "text": "title",
                                 "context_id": "wamid.xyzxyz", "timestamp": 1698266730.0},
    "interactive_list_reply": {"kind": "list", "reply_id": "callback_data", "text": "title",
                               "message_id": "wamid.zyzxyz", "extra.description": ABSENT},
    "interactive_list_reply_with_description": {"kind": "list", "reply_id": "callback_data", "text": "title",
                                                "extra.description": "description"},
    "interactive_without_payload": {"kind": "unsupported", "reply_id": None, "extra.type": "interactive",
                                    "context_id": "wamid.gvwegfretge==", "message_id": "wamid.wegrchytvwcggt="},
    "template_quick_reply_button": {"kind": "button", "reply_id": "callback_data", "text": "title",
                                    "context_id": "wamid.xyzxyz==", "message_id": "wamid.xsidjw"},
    "template_quick_reply_button_no_context": {"kind": "button", "reply_id": "callback_data", "text": "title",
                                               "context_id": None, "extra.user_id": BSUID},
    "image": {"kind": "image", "media.kind": "image", "media.id": "65463453", "media.mime": "image/jpeg",
              "media.sha256": "4654+8g=", "media.link": "", "media.caption": "", "text": ""},
    "image_with_url": {"kind": "image", "media.id": "65463453", "media.link":
                       "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=65463453&source=webhook"
                       "&ext=487r9re&hash=heiwchueowbcew-dnedcw"},
    "video": {"kind": "video", "media.id": "765756756", "media.mime": "video/mp4", "media.caption": "caption",
              "text": "caption", "extra.forwarded": True},
    "document": {"kind": "document", "media.id": "1234567890987654321", "media.mime": "application/pdf",
                 "media.filename": "filename.pdf", "media.caption": "caption",
                 "media.sha256": "grwfwe/ZPx0wAbdfbdeFUNItPZ0RylL8gGUvdt3YFqc18SY="},
    "audio": {"kind": "audio", "media.kind": "audio", "media.mime": "audio/ogg; codecs=opus",
              "media.id": "1234567890987654321", "extra.voice": False},
    "voice": {"kind": "audio", "media.kind": "audio", "extra.voice": True,
              "media.sha256": "m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI="},
    "sticker_static": {"kind": "sticker", "media.mime": "image/webp", "extra.animated": False},
    "sticker_animated": {"kind": "sticker", "media.id": "1234567890987654321", "extra.animated": True},
    "location_current": {"kind": "location", "location.lat": 12.25089, "location.lon": 43.90539,
                         "location.name": "", "location.address": "", "extra.url": ABSENT},
    "location_chosen_place": {"kind": "location", "location.lat": 37.4611978, "location.lon": -122.2164385,
                              "location.name": "Facebook HQ",
                              "location.address": "1 Hacker Way, Menlo Park, CA 94025",
                              "extra.url": "https://maps.google.com/?cid=2000000000000000000"},
    "contacts": {"kind": "contacts", "extra.contacts.0.name.formatted_name": "Chandler Bing",
                 "extra.contacts.2.phones.0.type": "WORK", "extra.contacts.3": ABSENT},
    "reaction": {"kind": "reaction", "text": "\U0001f62e", "extra.reacted_message_id": "wamid.yzxyzx=",
                 "extra.reaction_removed": False},
    "reaction_removed_empty_emoji": {"kind": "reaction", "text": "", "extra.reacted_message_id": "wamid.yzxyzx=",
                                     "extra.reaction_removed": True},
    "reaction_removed_no_emoji": {"kind": "reaction", "text": "", "extra.reacted_message_id": "wamid.yzxyzx=",
                                  "extra.reaction_removed": True},
    "order": {"kind": "order", "text": "", "extra.order.catalog_id": "354160437058781",
              "extra.order.product_items.0.product_retailer_id": "HAMBURGER",
              "extra.order.product_items.2.quantity": 2},
    "unsupported": {"kind": "unsupported", "extra.type": "unsupported", "extra.unsupported_type": "",
                    "extra.errors.0.code": 131051, "extra.errors.0.title": "Message type unknown",
                    "extra.errors.0.details": "Message type is currently not supported."},
    "unsupported_with_type": {"kind": "unsupported", "extra.unsupported_type": "pool",
                              "extra.errors.0.code": 131051},
}

STATUSES: dict[str, dict[str, Any]] = {
    "sent": {"status": "sent", "message_id": "wamid.xyzxyz", "recipient": USER, "timestamp": 1698266945.0,
             "error_code": None, "extra.conversation_category": "service", "extra.billable": True,
             "extra.biz_opaque_callback_data": ABSENT},
    "delivered": {"status": "delivered", "recipient": USER, "extra.pricing_category": "service"},
    "read": {"status": "read", "recipient": USER, "timestamp": 1689380458.0},
    "played": {"status": "played", "recipient": USER},
    "failed_130472": {"status": "failed", "error_code": 130472,
                      "error_title": "User's number is part of an experiment",
                      "error_detail": "Failed to send message because this user's phone number is part of "
                                      "an experiment", "extra.conversation_id": ABSENT},
    "sent_with_biz_opaque_callback_data": {"status": "sent", "extra.biz_opaque_callback_data": "some data"},
    "group_read": {"status": "read", "message_id": "<WHATSAPP_MESSAGE_ID>", "recipient": "fowefinoewcnw",
                   "account": "<BUSINESS_PHONE_NUMBER_ID>", "extra.recipient_type": "group",
                   "extra.recipient_participant_id": "<GROUP_PARTICIPANT_USER_PHONE_NUMBER>",
                   "extra.recipient_participant_user_id": "US.123456"},
    "sent_bsuid_v25": {"status": "sent", "message_id": "ABGGFlA5Fpa", "recipient": "16315551181",
                       "account": "123456123", "extra.parent_recipient_user_id": "US.ENT.506847293015824",
                       "extra.conversation_category": "marketing"},
}


def _lookup(event: Any, path: str) -> Any:
    value = event
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, ABSENT)
        elif isinstance(value, list):
            value = value[int(part)] if int(part) < len(value) else ABSENT
        else:
            value = getattr(value, part)
        if value is ABSENT:
            return ABSENT
    return value


def _only_event(path: Path) -> tuple[Parsed, Any]:
    batches = parse_webhook(path.read_bytes())
    assert len(batches) == 1
    assert len(batches[0].events) == 1
    return batches[0], batches[0].events[0]


def _check(parsed: Parsed, event: Any, expected: dict[str, Any]) -> None:
    for path, want in expected.items():
        got = parsed.account if path == "account" else _lookup(event, path)
        assert got == want, f"{path}: {got!r} != {want!r}"
    json.dumps(event.extra)  # extras stay JSON: the inbox and queues store them


@pytest.mark.parametrize("path", sorted((FIXTURES / "inbound").glob("*.json")), ids=lambda p: p.stem)
def test_inbound_fixture(path: Path) -> None:
    assert path.stem in INBOUND, f"no expectation for new fixture {path.name}"
    parsed, event = _only_event(path)
    assert isinstance(event, Inbound)
    assert event.kind in INBOUND_KINDS
    defaults = {"user": USER, "name": "Test Name", "channel": "whatsapp", "account": ACCOUNT}
    _check(parsed, event, {**defaults, **INBOUND[path.stem]})


@pytest.mark.parametrize("path", sorted((FIXTURES / "statuses").glob("*.json")), ids=lambda p: p.stem)
def test_status_fixture(path: Path) -> None:
    assert path.stem in STATUSES, f"no expectation for new fixture {path.name}"
    parsed, event = _only_event(path)
    assert isinstance(event, Status)
    assert event.account == parsed.account
    defaults = {"channel": "whatsapp", "account": ACCOUNT, "message_id": "wamid.xyzxyz"}
    _check(parsed, event, {**defaults, **STATUSES[path.stem]})


def test_value_level_errors_are_logged_not_events(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_webhook((FIXTURES / "errors" / "webhook_value_errors_130429_meta_docs.json").read_bytes()) == []
    assert "130429" in caplog.text


def _load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_batched_entries_and_changes_are_all_read_and_grouped_per_number() -> None:
    text, bsuid = _load("inbound/text.json"), _load("inbound/text_username_only_bsuid_v25.json")
    status, image = _load("statuses/sent.json"), _load("inbound/image.json")
    first_entry = text["entry"][0]
    first_entry["changes"].append(image["entry"][0]["changes"][0])
    first_entry["changes"].append({"field": "message_template_status_update", "value": {"event": "APPROVED"}})
    body = {"object": "whatsapp_business_account",
            "entry": [first_entry, bsuid["entry"][0], status["entry"][0]]}
    batches = parse_webhook(json.dumps(body).encode())
    assert [b.account for b in batches] == [ACCOUNT, "123456123"]
    assert [type(e).__name__ + ":" + getattr(e, "kind", getattr(e, "status", "")) for e in batches[0].events] == [
        "Inbound:text", "Inbound:image", "Status:sent"]
    assert [e.user for e in batches[1].events if isinstance(e, Inbound)] == [BSUID]


def test_several_messages_in_one_change_keep_their_order() -> None:
    body = _load("inbound/text.json")
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"] = [dict(value["messages"][0], id=f"wamid.{i}") for i in range(5)]
    [parsed] = parse_webhook(json.dumps(body).encode())
    assert [e.message_id for e in parsed.events] == [f"wamid.{i}" for i in range(5)]


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b"null", b'"whatsapp_business_account"', b'{"object": "page", "entry": []}',
    b"{}", b"\xff\xfe\x00garbage", b'{"object": NaN}', b"[" * 100_000,
])
def test_bodies_that_are_not_whatsapp_webhooks_are_rejected_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse_webhook(body)
    assert caught.value.status == 400


def _one_message(message: dict[str, Any], contacts: Any = None) -> bytes:
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"},
                             "messages": [message]}
    if contacts is not None:
        value["contacts"] = contacts
    change = {"field": "messages", "value": value}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}).encode()


def test_unknown_message_type_becomes_unsupported_with_its_payload() -> None:
    body = _one_message({"from": "1", "id": "wamid.1", "timestamp": "1", "type": "poll_vote",
                         "poll_vote": {"option": 2}})
    [parsed] = parse_webhook(body)
    [event] = parsed.events
    assert isinstance(event, Inbound)
    assert (event.kind, event.extra["type"], event.extra["poll_vote"]) == ("unsupported", "poll_vote", {"option": 2})


def test_message_whose_sender_cannot_be_identified_is_skipped() -> None:
    assert parse_webhook(_one_message({"id": "wamid.1", "type": "text", "text": {"body": "hi"}})) == []


def test_sender_found_through_contacts_when_the_message_lacks_from() -> None:
    contacts = [{"profile": {"name": "A"}, "wa_id": "555"}]
    [parsed] = parse_webhook(_one_message({"id": "wamid.1", "type": "text", "text": {"body": "hi"}}, contacts))
    assert [(e.user, e.name) for e in parsed.events if isinstance(e, Inbound)] == [("555", "A")]


def test_contact_of_another_user_is_not_used_for_the_name() -> None:
    contacts = [{"profile": {"name": "Someone else"}, "wa_id": "999"}]
    [parsed] = parse_webhook(_one_message({"from": "555", "id": "w", "type": "text", "text": {"body": "x"}}, contacts))
    [event] = parsed.events
    assert isinstance(event, Inbound) and (event.user, event.name) == ("555", "")


@pytest.mark.parametrize("message", [
    {"from": "1", "id": "w", "type": "location", "location": {"latitude": "north", "longitude": 1}},
    {"from": "1", "id": "w", "type": "image", "image": "not an object"},
    {"from": "1", "id": "w", "type": "interactive", "interactive": {"type": "button_reply", "button_reply": {}}},
    {"from": "1", "id": "w", "type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {}}},
    {"from": "1", "id": "w", "type": ["text"]},
])
def test_broken_payloads_of_known_types_become_unsupported(message: dict[str, Any]) -> None:
    [parsed] = parse_webhook(_one_message(message))
    [event] = parsed.events
    assert isinstance(event, Inbound) and event.kind == "unsupported"


def test_odd_scalar_values_are_read_safely() -> None:
    body = _one_message({"from": 15551234, "id": "w", "timestamp": "soon", "type": "text", "text": {"body": 7}})
    [parsed] = parse_webhook(body)
    [event] = parsed.events
    assert isinstance(event, Inbound)
    assert (event.user, event.timestamp, event.text) == ("15551234", 0.0, "7")


def test_status_without_id_is_skipped() -> None:
    body = _load("statuses/sent.json")
    del body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    assert parse_webhook(json.dumps(body).encode()) == []
