"""One item of a webhook's `messages[]` → an `Inbound`.

Users are identified by what the payload holds: the phone number (`from`, `contacts[].wa_id`)
when there is one, else the business-scoped user id (BSUID: `from_user_id`,
`contacts[].user_id`) that Graph v25 payloads carry for users who only have a username. Both ids,
the parent BSUID and the username go into `extra` so stores can link them later.
"""

from __future__ import annotations

from typing import Any

from engine.messages import MEDIA_KINDS, Inbound, Location, Media

from ._fields import error_info, flag, integer, number, obj, objs, text

_Content = dict[str, Any]  # keyword arguments for Inbound beyond the envelope


def to_inbound(message: dict[str, Any], contacts: list[dict[str, Any]], account: str) -> Inbound | None:
    """The Inbound for `message`, or None when nothing identifies the user who sent it."""
    contact = _contact_for(message, contacts)
    user = (
        text(message.get("from"))
        or text(contact.get("wa_id"))
        or text(message.get("from_user_id"))
        or text(contact.get("user_id"))
    )
    if not user:
        return None
    extra = _identity(message, contact, account)
    context = obj(message.get("context"))
    for key in ("forwarded", "frequently_forwarded"):
        if flag(context.get(key)):
            extra[key] = True
    if "referral" in message:
        extra["referral"] = obj(message.get("referral"))
    errors = [error_info(e) for e in objs(message.get("errors"))]
    if errors:
        extra["errors"] = errors
    content = _content(message, extra)
    return Inbound(
        user=user,
        message_id=text(message.get("id")),
        timestamp=number(message.get("timestamp")) or 0.0,
        context_id=text(context.get("id")) or None,
        name=text(obj(contact.get("profile")).get("name")),
        channel="whatsapp",
        extra=extra,
        **content,
    )


def _content(message: dict[str, Any], extra: dict[str, Any]) -> _Content:
    kind = text(message.get("type"))
    payload = message.get(kind) if kind else None
    if kind == "text":
        return {"kind": "text", "text": text(obj(payload).get("body"))}
    if kind == "interactive" and isinstance(payload, dict):
        return _interactive(payload, extra)
    if kind == "button" and isinstance(payload, dict):
        return {"kind": "button", "reply_id": text(payload.get("payload")) or None,
                "text": text(payload.get("text"))}
    if kind in MEDIA_KINDS and isinstance(payload, dict):
        return _media(kind, payload, extra)
    if kind == "location" and isinstance(payload, dict):
        return _location(payload, extra)
    if kind == "contacts" and isinstance(payload, list):
        extra["contacts"] = objs(payload)
        return {"kind": "contacts"}
    if kind == "reaction" and isinstance(payload, dict):
        emoji = text(payload.get("emoji"))
        extra["reacted_message_id"] = text(payload.get("message_id"))
        extra["reaction_removed"] = not emoji
        return {"kind": "reaction", "text": emoji}
    if kind == "order" and isinstance(payload, dict):
        extra["order"] = payload
        return {"kind": "order", "text": text(payload.get("text"))}
    return _unsupported(kind, payload, extra)


def _interactive(payload: dict[str, Any], extra: dict[str, Any]) -> _Content:
    itype = text(payload.get("type"))
    reply = obj(payload.get(itype)) if itype else {}
    reply_id = text(reply.get("id"))
    if itype in ("button_reply", "list_reply") and reply_id:
        if itype == "list_reply" and "description" in reply:
            extra["description"] = text(reply.get("description"))
        return {"kind": "button" if itype == "button_reply" else "list",
                "reply_id": reply_id, "text": text(reply.get("title"))}
    extra["interactive_type"] = itype
    extra["interactive"] = payload  # e.g. nfm_reply (WhatsApp Flows): kept for the caller
    return {"kind": "unsupported"}


def _media(kind: str, payload: dict[str, Any], extra: dict[str, Any]) -> _Content:
    media = Media(
        kind=kind,
        id=text(payload.get("id")),
        mime=text(payload.get("mime_type")),
        size=integer(payload.get("file_size")),
        caption=text(payload.get("caption")),
        filename=text(payload.get("filename")),
        link=text(payload.get("url")),
        sha256=text(payload.get("sha256")),
    )
    if kind == "audio":
        extra["voice"] = flag(payload.get("voice"))
    if kind == "sticker":
        extra["animated"] = flag(payload.get("animated"))
    return {"kind": kind, "media": media, "text": media.caption}


def _location(payload: dict[str, Any], extra: dict[str, Any]) -> _Content:
    lat, lon = number(payload.get("latitude")), number(payload.get("longitude"))
    if lat is None or lon is None:
        return _unsupported("location", payload, extra)
    if "url" in payload:
        extra["url"] = text(payload.get("url"))
    place = Location(lat=lat, lon=lon, name=text(payload.get("name")),
                     address=text(payload.get("address")))
    return {"kind": "location", "location": place}


def _unsupported(kind: str, payload: Any, extra: dict[str, Any]) -> _Content:
    extra["type"] = kind
    if kind == "unsupported":
        extra["unsupported_type"] = text(obj(payload).get("type"))
    elif payload is not None:
        extra[kind or "payload"] = payload
    return {"kind": "unsupported"}


def _contact_for(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    """The `contacts[]` entry describing the sender (matched by phone number or BSUID)."""
    sender, sender_bsuid = text(message.get("from")), text(message.get("from_user_id"))
    for contact in contacts:
        wa_id, bsuid = text(contact.get("wa_id")), text(contact.get("user_id"))
        if (sender and sender == wa_id) or (sender_bsuid and sender_bsuid == bsuid):
            return contact
    if len(contacts) == 1:
        contact = contacts[0]
        wa_id, bsuid = text(contact.get("wa_id")), text(contact.get("user_id"))
        conflicts = (sender and wa_id and sender != wa_id) or (
            sender_bsuid and bsuid and sender_bsuid != bsuid)
        if not conflicts:
            return contact
    return {}


def _identity(message: dict[str, Any], contact: dict[str, Any], account: str) -> dict[str, Any]:
    found = {
        "account": account,
        "wa_id": text(message.get("from")) or text(contact.get("wa_id")),
        "user_id": text(message.get("from_user_id")) or text(contact.get("user_id")),
        "parent_user_id": text(message.get("from_parent_user_id"))
        or text(contact.get("parent_user_id")),
        "username": text(obj(contact.get("profile")).get("username")),
    }
    return {key: value for key, value in found.items() if value}
