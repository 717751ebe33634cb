"""Reading providers' JSON defensively: a webhook body must be a JSON object, and any field in it
may be missing or of another type. Wrong shapes become empty values, never exceptions, so a
malformed webhook is refused with 400 (or ignored), not answered with a 500."""

from __future__ import annotations

import json
from typing import Any

from engine.channels.base import WebhookRejected

MAX_BODY = 1024 * 1024


def json_object(body: bytes) -> dict[str, Any]:
    """The webhook body as a JSON object; WebhookRejected(400) for anything else, 413 when huge."""
    if len(body) > MAX_BODY:
        raise WebhookRejected(413, "webhook body too large")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; deep nesting recurses
        raise WebhookRejected(400, "webhook body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookRejected(400, "webhook body is not a JSON object")
    return data


def response_json(raw: bytes) -> Any:
    """A provider's answer as JSON, or None when it is not JSON (an HTML error page, say)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def ident(value: Any) -> str | None:
    """An id as a string: integers or non-blank strings (0 is an id, True is not)."""
    if type(value) is int:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def retry_after(value: str | None) -> float | None:
    """A `Retry-After` header in seconds; None for an HTTP date or garbage (backoff decides)."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < float("inf") else None
