"""Chatwoot `message_created` webhooks: contacts' messages reach the engine, nothing else does;
signatures with timestamps verify, stale or wrong ones do not."""

from __future__ import annotations

import hmac
import zlib
from typing import Any

import pytest
from _chatwoot_cases import FIXTURES, api_channel_message, fixture, request
from channels._mutations import assert_parses_or_400, byte_mutations, tree_mutations
from fakes.chatwoot import signed_headers

from engine.channels.base import Parsed, WebhookRejected
from engine.channels.chatwoot import ChatwootAdapter, chatwoot_signature
from engine.clock import FakeClock
from engine.messages import Inbound, Location, Media

NOW = 1_767_600_000
SECRET = "whsec-test"


def adapter(secret: str | None = None) -> ChatwootAdapter:
    return ChatwootAdapter("http://chatwoot.invalid", "token", webhook_secret=secret, clock=FakeClock(NOW))


def test_the_api_channel_callback_is_an_inbound_from_its_contact() -> None:
    parsed = adapter().parse(request(fixture("message_created_api_channel_callback.json")))
    assert parsed == Parsed(account="1", events=[Inbound(
        user="0", kind="text", text="This is a incoming message from API Channel", message_id="0",
        timestamp=1598802184.0, name="contact-name", channel="chatwoot",
        extra={"conversation_id": "0", "account_id": "1", "inbox_id": "0", "contact_id": "0"})])


@pytest.mark.parametrize("changes", [
    {"message_type": "outgoing"},
    {"message_type": 1},
    {"message_type": "activity"},
    {"message_type": "template"},
    {"private": True},
    {"message_type": "outgoing", "private": True},
    {"sender": {"id": 3, "name": "Agent", "type": "user"}},
    {"sender": {"id": 9, "name": "flowbot", "type": "agent_bot"}},
    {"event": "message_updated"},
    {"event": "conversation_created"},
    {"event": "webwidget_triggered"},
], ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())[:40])
def test_the_bot_stays_quiet_on_everything_but_a_contacts_message(changes: dict[str, Any]) -> None:
    parsed = adapter().parse(request(api_channel_message(**changes)))
    assert parsed.events == [] and parsed.account == "1"


def test_the_integer_message_type_of_api_answers_counts_as_incoming() -> None:
    [inbound] = adapter().parse(request(api_channel_message(message_type=0))).events
    assert isinstance(inbound, Inbound) and inbound.user == "0"


def test_the_published_annotated_sample_is_not_json_and_is_400() -> None:
    """The docs' sample has comments and syntax errors (see the fixture's NOTES.md)."""
    with pytest.raises(WebhookRejected) as rejected:
        adapter().parse(request((FIXTURES / "message_created_sample_annotated.jsonc").read_bytes()))
    assert rejected.value.status == 400


def test_attachments_become_media_and_location() -> None:
    """Constructed: no recorded payload with attachments is public. Fields as in Chatwoot's
    Attachment#push_event_data."""
    image = {"id": 7, "message_id": 5, "file_type": "image", "account_id": 1, "extension": None,
             "data_url": "https://chatwoot.example.com/rails/active_storage/blobs/cow.jpg",
             "thumb_url": "https://chatwoot.example.com/thumb.jpg", "file_size": 2048, "width": 640, "height": 480}
    place = {"id": 8, "message_id": 6, "file_type": "location", "account_id": 1, "coordinates_lat": -3.37,
             "coordinates_long": 36.68, "fallback_title": "Arusha", "data_url": "https://maps.example.com"}
    [photo] = adapter().parse(request(api_channel_message(content="my cow", attachments=[image, place]))).events
    assert isinstance(photo, Inbound)
    assert (photo.kind, photo.text) == ("image", "my cow")
    assert photo.media == Media(kind="image", id="7", link=image["data_url"], size=2048, caption="my cow")
    assert photo.extra["attachments"] == [place]
    [shared] = adapter().parse(request(api_channel_message(content=None, attachments=[place]))).events
    assert isinstance(shared, Inbound)
    assert shared.kind == "location" and shared.location == Location(lat=-3.37, lon=36.68, name="Arusha")


def test_without_a_contact_id_the_conversation_is_the_user() -> None:
    message = api_channel_message(sender={"name": "x", "type": "contact"})
    [inbound] = adapter().parse(request(message)).events
    assert isinstance(inbound, Inbound) and inbound.user == "conversation:0"


def test_a_contact_message_without_a_conversation_is_400() -> None:
    with pytest.raises(WebhookRejected) as rejected:
        adapter().parse(request(api_channel_message(conversation={"status": "open"})))
    assert rejected.value.status == 400


@pytest.mark.parametrize("body", [b"", b"[]", b"null", b'"message_created"', b"{", b"\xff\xfe", b"[" * 100_000])
def test_bodies_that_are_not_a_json_object_are_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        adapter().parse(request(body))
    assert rejected.value.status == 400


def test_corrupted_bodies_parse_or_are_400() -> None:
    raw = (FIXTURES / "message_created_api_channel_callback.json").read_bytes()
    for mutated in byte_mutations(raw, 500, seed=zlib.crc32(b"chatwoot")):
        assert_parses_or_400(lambda b: adapter().parse(request(b)), mutated)


def test_bodies_with_odd_field_types_parse_or_are_400() -> None:
    message = api_channel_message(attachments=[{"id": 1, "file_type": "image", "data_url": "https://x/y.jpg"},
                                               {"file_type": "location", "coordinates_lat": 1.0}],
                                  content_attributes={"in_reply_to": 3})
    for mutated in tree_mutations(message, 1000, seed=7):
        assert_parses_or_400(lambda b: adapter().parse(request(b)), mutated)


# ─── signatures ─────────────────────────────────────────────────────────────────────────────

BODY = (FIXTURES / "message_created_api_channel_callback.json").read_bytes()


def test_a_signed_webhook_verifies() -> None:
    adapter(SECRET).verify(request(BODY, {k.lower(): v for k, v in signed_headers(SECRET, BODY, NOW).items()}))


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    assert chatwoot_signature("key", "1700000000", b"{}") == \
        "sha256=" + hmac.new(b"key", b"1700000000.{}", "sha256").hexdigest()


@pytest.mark.parametrize("age", [0, 299, -299])
def test_recent_timestamps_are_accepted(age: int) -> None:
    headers = {"x-chatwoot-timestamp": str(NOW - age),
               "x-chatwoot-signature": chatwoot_signature(SECRET, str(NOW - age), BODY)}
    adapter(SECRET).verify(request(BODY, headers))


@pytest.mark.parametrize(("timestamp", "signature", "body"), [
    (str(NOW - 301), None, BODY),                       # stale: a replay
    (str(NOW + 301), None, BODY),                       # from the future
    (str(NOW), chatwoot_signature("other", str(NOW), BODY), BODY),
    (str(NOW), None, BODY.replace(b"incoming", b"outgoing")),
    (str(NOW), chatwoot_signature(SECRET, str(NOW), BODY).removeprefix("sha256="), BODY),
    (str(NOW), "", BODY),
    ("", None, BODY),
    ("17676e5", None, BODY),
    ("١٧٦٧٦٠٠٠٠٠", None, BODY),                          # digits, but not ASCII ones
    ("9" * 5000, None, BODY),                           # past int()'s digit limit
], ids=["stale", "future", "wrong-secret", "changed-body", "no-prefix", "no-signature", "no-timestamp",
        "odd-timestamp", "arabic-digits", "huge"])
def test_stale_or_wrong_signatures_are_401(timestamp: str, signature: str | None, body: bytes) -> None:
    headers = {"x-chatwoot-timestamp": timestamp,
               "x-chatwoot-signature": chatwoot_signature(SECRET, timestamp, BODY) if signature is None else signature}
    with pytest.raises(WebhookRejected) as rejected:
        adapter(SECRET).verify(request(body, headers))
    assert rejected.value.status == 401


def test_without_a_secret_unsigned_webhooks_are_accepted() -> None:
    adapter(None).verify(request(BODY))


def test_the_secret_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATWOOT_WEBHOOK_SECRET", SECRET)
    with pytest.raises(WebhookRejected):
        adapter(None).verify(request(BODY))
