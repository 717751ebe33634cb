"""Chatwoot `message_created` webhooks as Inbound events.

The body is the message's `webhook_data` plus `"event"` (tests/fixtures/chatwoot/NOTES.md). Only
messages a contact wrote reach the engine: `incoming` and not `private`. The bot's own replies,
agents' replies and private notes arrive as `message_created` too and must be ignored, or the
bot would answer itself.

Who the user is: the Chatwoot contact id (`sender.id` of an incoming message), so one person
keeps one session across conversations and channels of the account. It is unique within an
account only: `Parsed.account` carries the account id so the web app routes each account to its
bot. When a payload has no contact id, the user is `conversation:<id>`. The conversation and
account ids go in `extra` (and into the adapter's reply routes): replies are posted to a
conversation, not to a person.

Attachments follow Chatwoot's `Attachment#push_event_data` (`file_type`, `data_url`,
`file_size`, `coordinates_lat`/`coordinates_long`); no recorded payload with attachments was
available, so that mapping is read defensively.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from engine.channels.base import Parsed, WebhookRejected
from engine.channels.json_fields import ident, obj, text
from engine.messages import Inbound, Location, Media

FILE_KINDS = {"image": "image", "audio": "audio", "video": "video", "file": "document"}


def _timestamp(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    try:
        moment = datetime.fromisoformat(text(value))
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    except (ValueError, OverflowError, OSError):
        return 0.0


def _attachment(item: dict[str, Any]) -> tuple[str, Media | None, Location | None]:
    file_type = text(item.get("file_type"))
    if file_type == "location":
        lat, lon = item.get("coordinates_lat"), item.get("coordinates_long")
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon)):
            return "location", None, Location(lat=float(lat), lon=float(lon), name=text(item.get("fallback_title")))
        return "unsupported", None, None
    kind = FILE_KINDS.get(file_type)
    link = text(item.get("data_url"))
    if kind is None or not link:
        return "unsupported", None, None
    size = item.get("file_size")
    return kind, Media(kind=kind, id=ident(item.get("id")) or "", link=link,
                       size=size if isinstance(size, int) and not isinstance(size, bool) else None), None


def parse_message(data: dict[str, Any]) -> Parsed:
    """Events of one webhook: an Inbound for a contact's message, nothing for anything else."""
    account_id = ident(obj(data.get("account")).get("id"))
    if data.get("event") != "message_created":
        return Parsed(events=[], account=account_id or "")
    sender = obj(data.get("sender"))
    message_type = data.get("message_type")  # the enum name; its integer (0) in API answers
    incoming = message_type == "incoming" or (type(message_type) is int and message_type == 0)
    if not incoming or data.get("private") not in (False, None) or sender.get("type") not in (None, "contact"):
        return Parsed(events=[], account=account_id or "")
    conversation = obj(data.get("conversation"))
    conversation_id = ident(conversation.get("id"))
    account_id = account_id or ident(conversation.get("account_id"))
    if conversation_id is None or account_id is None:
        raise WebhookRejected(400, "an incoming Chatwoot message without conversation or account id")
    contact_id = (ident(sender.get("id")) or ident(obj(conversation.get("contact_inbox")).get("contact_id"))
                  or ident(obj(obj(conversation.get("meta")).get("sender")).get("id")))
    content = text(data.get("content"))
    kind, media, location = ("text" if content else "unsupported"), None, None
    listed = data.get("attachments")
    attachments = [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []
    if attachments:
        kind, media, location = _attachment(attachments[0])
        if media is not None and content:
            media = Media(kind=media.kind, id=media.id, link=media.link, size=media.size, caption=content)
        if kind == "unsupported" and content:
            kind = "text"
    extra: dict[str, Any] = {"conversation_id": conversation_id, "account_id": account_id,
                             "inbox_id": ident(obj(data.get("inbox")).get("id")) or ident(conversation.get("inbox_id")),
                             "contact_id": contact_id}
    if text(sender.get("phone_number")):
        extra["phone_number"] = text(sender.get("phone_number"))
    if len(attachments) > 1:
        extra["attachments"] = attachments[1:]
    inbound = Inbound(
        user=contact_id if contact_id is not None else f"conversation:{conversation_id}",
        kind=kind, text=content, media=media, location=location,
        message_id=ident(data.get("id")) or "",
        timestamp=_timestamp(data.get("created_at")),
        context_id=ident(obj(data.get("content_attributes")).get("in_reply_to")),
        name=text(sender.get("name")), channel="chatwoot", extra=extra,
    )
    return Parsed(events=[inbound], account=account_id)
