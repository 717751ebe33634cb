"""One item of a webhook's `statuses[]` → a `Status`."""

from __future__ import annotations

from typing import Any

from engine.channels.base import Status

from ._fields import error_info, number, obj, objs, text

# Copied into Status.extra when present: the sender's own tag, and who exactly received it
# (BSUIDs for username-only users; participants for group messages).
_PASSED_THROUGH = (
    "biz_opaque_callback_data",
    "recipient_user_id",
    "parent_recipient_user_id",
    "recipient_type",
    "recipient_participant_id",
    "recipient_participant_user_id",
    "recipient_participant_parent_user_id",
)


def to_status(status: dict[str, Any], account: str) -> Status | None:
    """The Status for `status`, or None without a message id or a status value."""
    message_id = text(status.get("id"))
    state = text(status.get("status")).lower()
    if not message_id or not state:
        return None
    extra: dict[str, Any] = {}
    for key in _PASSED_THROUGH:
        value = text(status.get(key))
        if value:
            extra[key] = value
    conversation = obj(status.get("conversation"))
    if conversation:
        extra["conversation_id"] = text(conversation.get("id"))
        extra["conversation_category"] = text(obj(conversation.get("origin")).get("type"))
    pricing = obj(status.get("pricing"))
    if pricing:
        extra["pricing_category"] = text(pricing.get("category"))
        extra["billable"] = pricing.get("billable") is True
    errors = [error_info(e) for e in objs(status.get("errors"))]
    if len(errors) > 1:
        extra["errors"] = errors
    first = errors[0] if errors else {}
    return Status(
        message_id=message_id,
        status=state,
        recipient=text(status.get("recipient_id")) or text(status.get("recipient_user_id")),
        timestamp=number(status.get("timestamp")) or 0.0,
        error_code=first.get("code"),
        error_title=first.get("title", ""),
        error_detail=first.get("details", ""),
        channel="whatsapp",
        account=account,
        extra=extra,
    )
