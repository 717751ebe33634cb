"""Twilio's form-encoded webhooks as engine events: inbound messages and status callbacks.

Field names come from tests/fixtures/twilio/FIELDS.md. A request carrying `MessageStatus` is a
status callback; anything else with a `From` is an inbound message.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

from engine.channels.base import Parsed, Status, WebhookRejected, WebhookRequest
from engine.messages import Inbound, Location, Media

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY = 256 * 1024  # a Twilio webhook is a few hundred bytes
MAX_FIELDS = 500
MAX_MEDIA = 10  # MediaUrl0..9

# Twilio's MessageStatus values the engine reads differently: an `undelivered` message never
# reached the phone, which the engine handles as a failure. Other values pass through.
STATUS_NAMES = {"undelivered": "failed"}

Form = dict[str, list[str]]


def read_form(request: WebhookRequest) -> Form:
    """The POST parameters; 415 for another content type, 413/400 for an oversized or undecodable body."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_TYPE:
        raise WebhookRejected(415, f"Twilio webhooks are {FORM_TYPE}, got {media_type or 'no content type'}")
    if len(request.body) > MAX_BODY:
        raise WebhookRejected(413, "webhook body too large")
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True,
                          errors="strict", max_num_fields=MAX_FIELDS)
    except ValueError as exc:  # UnicodeDecodeError included
        raise WebhookRejected(400, f"malformed form body: {exc}") from None
    form: Form = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def first(form: Form, name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


def address(value: str) -> str:
    """`whatsapp:+491511234567` -> `491511234567` (a wa_id); SMS numbers lose their `+` too."""
    return value.removeprefix("whatsapp:").strip().lstrip("+")


def events(form: Form) -> Parsed:
    if "MessageStatus" in form:
        return Parsed(events=[_status(form)], account=address(first(form, "From")))
    return Parsed(events=[_inbound(form)], account=address(first(form, "To")))


def _message_sid(form: Form) -> str:
    sid = first(form, "MessageSid") or first(form, "SmsMessageSid") or first(form, "SmsSid")
    if not sid:
        raise WebhookRejected(400, "a Twilio webhook without MessageSid")
    return sid


def _status(form: Form) -> Status:
    raw = first(form, "MessageStatus").strip().lower()
    code = first(form, "ErrorCode").strip()
    return Status(
        message_id=_message_sid(form),
        status=STATUS_NAMES.get(raw, raw),
        recipient=address(first(form, "To") or first(form, "ChannelToAddress")),
        error_code=int(code) if code.isascii() and code.isdigit() and len(code) < 10 else None,
        error_title=first(form, "ErrorMessage"),
        channel="twilio",
        account=address(first(form, "From")),
        extra={"provider_status": raw, "account_sid": first(form, "AccountSid")},
    )


def _media_kind(mime: str) -> str:
    major = mime.split("/", 1)[0].lower()
    return major if major in ("image", "audio", "video") else "document"


def _coordinate(value: str, name: str, bound: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise WebhookRejected(400, f"{name} is not a number") from None
    if not math.isfinite(number) or abs(number) > bound:
        raise WebhookRejected(400, f"{name} out of range")
    return number


def _inbound(form: Form) -> Inbound:
    user = address(first(form, "From"))
    if not user:
        raise WebhookRejected(400, "a Twilio message without From")
    body = first(form, "Body")
    kind, text = ("text" if body else "unsupported"), body
    reply_id: str | None = None
    media: Media | None = None
    location: Location | None = None
    links = [(first(form, f"MediaUrl{i}"), first(form, f"MediaContentType{i}")) for i in range(MAX_MEDIA)]
    links = [(link, mime) for link, mime in links if link]
    if first(form, "ButtonPayload") or first(form, "ButtonText"):
        kind, text = "button", first(form, "ButtonText") or body
        reply_id = first(form, "ButtonPayload") or None
    elif links:
        link, mime = links[0]
        kind = _media_kind(mime)
        media = Media(kind=kind, mime=mime, link=link, caption=body)
    elif first(form, "Latitude") and first(form, "Longitude"):
        kind = "location"
        location = Location(
            lat=_coordinate(first(form, "Latitude"), "Latitude", 90.0),
            lon=_coordinate(first(form, "Longitude"), "Longitude", 180.0),
            name=first(form, "Label"),
            address=first(form, "Address"),
        )
    extra: dict[str, object] = {"account_sid": first(form, "AccountSid")}
    if len(links) > 1:
        extra["more_media"] = [{"link": link, "mime": mime} for link, mime in links[1:]]
    if first(form, "MessageType"):
        extra["message_type"] = first(form, "MessageType")
    return Inbound(
        user=user,
        kind=kind,
        text=text,
        reply_id=reply_id,
        media=media,
        location=location,
        message_id=_message_sid(form),
        context_id=first(form, "OriginalRepliedMessageSid") or None,
        name=first(form, "ProfileName"),
        channel="twilio",
        extra=extra,
    )
