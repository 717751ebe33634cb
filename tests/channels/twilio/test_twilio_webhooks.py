"""Every stored Twilio webhook parses to the expected events; malformed bodies are 400."""

from __future__ import annotations

import json
import zlib
from urllib.parse import parse_qsl, urlencode

import pytest
from _twilio_cases import FIXTURES, form_request, raw_body
from channels._mutations import assert_parses_or_400, byte_mutations, form_mutations

from engine.channels.base import Event, Parsed, Status, WebhookRejected
from engine.channels.twilio import TwilioAdapter, twilio_signature
from engine.messages import Inbound, Location, Media

TOKEN = "test-auth-token"
ADAPTER = TwilioAdapter("AC0", TOKEN, from_number="+4915123456", public_url="https://bot.example.com/twilio")

TEXT = Inbound(user="491511234567", kind="text", text="Hello", message_id="someValidMessageSid",
               name="Matthew Rider", channel="twilio", extra={"account_sid": "someAccount"})


def _status(status: str, code: int | None = None, title: str = "") -> Status:
    return Status(message_id="someValidMessageSid", status=status, recipient="491511234567", error_code=code,
                  error_title=title, channel="twilio", account="4915123456",
                  extra={"provider_status": status, "account_sid": "someAccountSID"})


EXPECTED: dict[str, tuple[str, Event]] = {
    "whatsapp_inbound_text_100eyes": ("4915123456", TEXT),
    "whatsapp_inbound_quick_reply_button_100eyes": ("4915123456", Inbound(
        user="491511234567", kind="button", text="Antworten", reply_id=None, message_id="someValidMessageSid",
        context_id="someUniqueId", name="Matthew Rider", channel="twilio", extra={"account_sid": "someAccount"})),
    "whatsapp_status_delivered_100eyes": ("4915123456", _status("delivered")),
    "whatsapp_status_read_100eyes": ("4915123456", _status("read")),
    "whatsapp_status_failed_60228_100eyes": ("4915123456", _status("failed", 60228, "Template was not found")),
    "whatsapp_status_failed_63016_outside_window_100eyes": ("4915123456", _status(
        "failed", 63016, "Twilio Error: Failed to send freeform message because you are outside the allowed window.")),
    "sms_inbound_signed_twilio_ruby": ("14158141819", Inbound(
        user="14159354345", text="Orly", message_id="SM2003cbd5e6a3701999aa3e5f20ff2787", channel="twilio",
        extra={"account_sid": "ACba8bc05eacf94afdae398e642c9cc32d"})),
    "sms_inbound_with_media_botbuilder": ("1A693421974", Inbound(
        user="571138050810", kind="document", text="Hello",
        media=Media(kind="document", mime="json", link="www.google.com", caption="Hello"),
        message_id="SMa56324aa4a31735561b7205472192d68", channel="twilio",
        extra={"account_sid": "ACe4885a100ac907f66a8f694350e8f6f3"})),
}
TXT_FILES = sorted(p.stem for p in FIXTURES.glob("*.txt"))


def test_every_stored_body_has_an_expectation() -> None:
    assert sorted(EXPECTED) == TXT_FILES


@pytest.mark.parametrize("name", TXT_FILES)
def test_raw_body_parses_to_the_expected_event(name: str) -> None:
    account, event = EXPECTED[name]
    assert ADAPTER.parse(form_request(raw_body(f"{name}.txt"))) == Parsed(events=[event], account=account)


@pytest.mark.parametrize("name", [n for n in TXT_FILES if (FIXTURES / f"{n}.json").exists()])
def test_the_json_twin_of_each_body_parses_the_same(name: str) -> None:
    params = json.loads((FIXTURES / f"{name}.json").read_text())
    assert ADAPTER.parse(form_request(urlencode(params).encode())) == Parsed(events=[EXPECTED[name][1]],
                                                                             account=EXPECTED[name][0])


@pytest.mark.parametrize("name", TXT_FILES)
def test_each_body_signed_like_twilio_signs_verifies(name: str) -> None:
    """No signed WhatsApp request is public: sign the real bodies with a test token, as Twilio
    would (the algorithm itself is pinned by the reference vectors)."""
    body = raw_body(f"{name}.txt")
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        params.setdefault(key, []).append(value)
    signature = twilio_signature("https://bot.example.com/twilio", params, TOKEN)
    ADAPTER.verify(form_request(body, signature, url="http://internal:8000/twilio"))
    with pytest.raises(WebhookRejected):
        ADAPTER.verify(form_request(body + b"&Body=changed", signature))


def _parse(fields: list[tuple[str, str]]) -> Parsed:
    return ADAPTER.parse(form_request(urlencode(fields).encode()))


def test_a_button_payload_is_the_reply_id() -> None:
    fields = [("From", "whatsapp:+15551230000"), ("To", "whatsapp:+15550001111"), ("MessageSid", "SM1"),
              ("Body", "Yes please"), ("ButtonText", "Yes please"), ("ButtonPayload", "confirm")]
    inbound = _parse(fields).events[0]
    assert isinstance(inbound, Inbound)
    assert (inbound.kind, inbound.reply_id, inbound.text, inbound.user) == ("button", "confirm", "Yes please",
                                                                            "15551230000")


def test_image_with_caption_and_a_second_media() -> None:
    fields = [("From", "whatsapp:+15551230000"), ("To", "whatsapp:+15550001111"), ("MessageSid", "MM1"),
              ("Body", "my cow"), ("NumMedia", "2"), ("MediaContentType0", "image/jpeg"),
              ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME0"),
              ("MediaContentType1", "audio/ogg"), ("MediaUrl1", "https://api.twilio.com/x/ME1")]
    inbound = _parse(fields).events[0]
    assert isinstance(inbound, Inbound)
    assert inbound.kind == "image" and inbound.text == "my cow"
    assert inbound.media == Media(kind="image", mime="image/jpeg", caption="my cow",
                                  link="https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME0")
    assert inbound.extra["more_media"] == [{"link": "https://api.twilio.com/x/ME1", "mime": "audio/ogg"}]


def test_a_shared_location() -> None:
    fields = [("From", "whatsapp:+15551230000"), ("To", "whatsapp:+15550001111"), ("MessageSid", "SM2"),
              ("Latitude", "-1.2921"), ("Longitude", "36.8219"), ("Address", "Nairobi"), ("Label", "Market")]
    inbound = _parse(fields).events[0]
    assert isinstance(inbound, Inbound)
    assert inbound.kind == "location"
    assert inbound.location == Location(lat=-1.2921, lon=36.8219, name="Market", address="Nairobi")


def test_undelivered_is_a_failure_and_the_raw_status_is_kept() -> None:
    fields = [("MessageSid", "SM3"), ("MessageStatus", "undelivered"), ("ErrorCode", "63024"),
              ("From", "whatsapp:+15550001111"), ("To", "whatsapp:+15551230000")]
    status = _parse(fields).events[0]
    assert isinstance(status, Status)
    assert (status.status, status.error_code, status.extra["provider_status"]) == ("failed", 63024, "undelivered")


def test_an_absurd_error_code_is_dropped_not_a_crash() -> None:
    fields = [("MessageSid", "SM4"), ("MessageStatus", "failed"), ("ErrorCode", "9" * 5000)]
    status = _parse(fields).events[0]
    assert isinstance(status, Status) and status.error_code is None


@pytest.mark.parametrize("fields", [
    [],
    [("Body", "no sender"), ("MessageSid", "SM1")],
    [("From", "whatsapp:+1555"), ("Body", "no sid")],
    [("MessageStatus", "sent"), ("From", "whatsapp:+1555")],
    [("From", "whatsapp:+1555"), ("MessageSid", "SM1"), ("Latitude", "north"), ("Longitude", "1")],
    [("From", "whatsapp:+1555"), ("MessageSid", "SM1"), ("Latitude", "nan"), ("Longitude", "1")],
    [("From", "whatsapp:+1555"), ("MessageSid", "SM1"), ("Latitude", "91"), ("Longitude", "1")],
], ids=["empty", "no-from", "no-sid", "status-without-sid", "bad-latitude", "nan-latitude", "latitude-91"])
def test_forms_that_are_neither_message_nor_status_are_400(fields: list[tuple[str, str]]) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        _parse(fields)
    assert rejected.value.status == 400


@pytest.mark.parametrize("body", [b"From=%FF%FE&MessageSid=SM1", b"\xff\xfe\x00", b"a=" + b"&a=1" * 600])
def test_undecodable_bodies_are_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        ADAPTER.parse(form_request(body))
    assert rejected.value.status == 400


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "", "multipart/form-data"])
def test_other_content_types_are_415(content_type: str) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        ADAPTER.parse(form_request(raw_body("whatsapp_inbound_text_100eyes.txt"), content_type=content_type))
    assert rejected.value.status == 415


def test_a_charset_parameter_is_accepted() -> None:
    request = form_request(raw_body("whatsapp_inbound_text_100eyes.txt"),
                           content_type="application/x-www-form-urlencoded; charset=UTF-8")
    assert ADAPTER.parse(request).events == [TEXT]


@pytest.mark.parametrize("name", TXT_FILES)
def test_corrupted_bodies_parse_or_are_400(name: str) -> None:
    body = raw_body(f"{name}.txt")
    for mutated in byte_mutations(body, 300, seed=zlib.crc32(name.encode())):
        assert_parses_or_400(lambda b: ADAPTER.parse(form_request(b)), mutated)
        try:
            ADAPTER.verify(form_request(mutated, "c2lnbmF0dXJl"))
        except WebhookRejected as exc:
            assert exc.status in (400, 403)


@pytest.mark.parametrize("name", TXT_FILES)
def test_forms_with_odd_fields_parse_or_are_400(name: str) -> None:
    fields = parse_qsl(raw_body(f"{name}.txt").decode(), keep_blank_values=True)
    for form in form_mutations(fields, 300, seed=len(name)):
        assert_parses_or_400(lambda b: ADAPTER.parse(form_request(b)), urlencode(form, errors="surrogatepass").encode())
