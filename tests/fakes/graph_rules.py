"""Graph's error bodies, and the cheap part of its validation of `POST /{phone-number-id}/messages`.

Limits from Meta's OpenAPI spec v23.0 (tests/fixtures/whatsapp/limits.md). Graph reports
missing parameters as code 100 / 131008 and out-of-range values as 131009 ("Parameter value is
not valid") with the specifics in `error_data.details`; the details wording here is close to
Graph's, not guaranteed identical.
"""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

MESSAGE_TYPES = frozenset({
    "text", "image", "audio", "video", "document", "sticker", "location", "contacts",
    "interactive", "template", "reaction",
})
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})


class Problem(NamedTuple):
    code: int
    message: str
    details: str


def graph_error(code: int, message: str, details: str = "", *, subcode: int | None = None,
                error_type: str = "OAuthException") -> dict[str, Any]:
    """A Graph error body, in the shape of Meta's error-codes page sample."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = secrets.token_urlsafe(16)
    return {"error": error}


def unknown_object(object_id: str) -> dict[str, Any]:
    """Graph's answer to a GET of an id it does not know."""
    return graph_error(
        100, f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation. Please read the Graph API "
        "documentation at https://developers.facebook.com/docs/graph-api", subcode=33,
        error_type="GraphMethodException")


def missing(name: str) -> Problem:
    return Problem(100, f"(#100) The parameter {name} is required.", f"The parameter {name} is required.")


def invalid(details: str) -> Problem:
    return Problem(131009, "(#131009) Parameter value is not valid", details)


def check_message(body: dict[str, Any]) -> Problem | None:
    """The first thing Graph would refuse in a messages body, or None."""
    if body.get("messaging_product") != "whatsapp":
        return missing("messaging_product")
    if body.get("status") == "read":
        return None if _nonempty(body.get("message_id")) else missing("message_id")
    if not _nonempty(body.get("to")):
        return missing("to")
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        return Problem(100, "(#100) Invalid parameter", f"Param type must be one of {sorted(MESSAGE_TYPES)}")
    payload = body.get(kind)
    if not isinstance(payload, list if kind == "contacts" else dict):
        return missing(kind)
    if kind == "text":
        return _length(payload.get("body"), "Message body", 1, 4096)
    if kind in MEDIA_TYPES:
        if ("id" in payload) == ("link" in payload):
            return Problem(131008, "(#131008) Required parameter is missing",
                           f"{kind}: exactly one of id or link is required")
        return None
    if kind == "interactive":
        return _interactive(payload)
    if kind == "template":
        language = payload.get("language")
        if not _nonempty(payload.get("name")):
            return missing("template['name']")
        if not isinstance(language, dict) or not _nonempty(language.get("code")):
            return missing("template['language']['code']")
        return None
    if kind == "reaction" and not _nonempty(payload.get("message_id")):
        return missing("reaction['message_id']")
    if kind == "contacts" and not 1 <= len(payload) <= 5:
        return invalid("Contacts count invalid. Min: 1, Max: 5")
    return None


def _interactive(inter: dict[str, Any]) -> Problem | None:
    kind, action = inter.get("type"), inter.get("action")
    if kind not in ("button", "list"):
        return None  # cta_url, flow, product...: not checked here
    if not isinstance(action, dict):
        return missing("interactive['action']")
    body = inter.get("body")
    problem = _length(body.get("text") if isinstance(body, dict) else None, "Body text", 1, 1024)
    for part, limit in (("header", 60), ("footer", 60)):
        value = inter.get(part)
        if problem is None and isinstance(value, dict) and "text" in value:
            problem = _length(value.get("text"), f"{part.capitalize()} text", 1, limit)
    if problem is not None:
        return problem
    return _buttons(action) if kind == "button" else _list(action)


def _buttons(action: dict[str, Any]) -> Problem | None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return invalid("Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3")
    titles, ids = [], []
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(reply, dict) or button.get("type") != "reply":
            return missing("interactive['action']['buttons'][]['reply']")
        problem = _length(reply.get("title"), "Button title", 1, 20) or _length(reply.get("id"), "Button id", 1, 256)
        if problem is not None:
            return problem
        titles.append(reply["title"])
        ids.append(reply["id"])
    if len(set(titles)) != len(titles) or len(set(ids)) != len(ids):
        return invalid("Button title and id must be unique")
    return None


def _list(action: dict[str, Any]) -> Problem | None:
    sections = action.get("sections")
    problem = _length(action.get("button"), "Button label", 1, 20)
    if problem is not None:
        return problem
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        return invalid("Invalid sections count. Min: 1, Max: 10")
    rows = [row for section in sections if isinstance(section, dict)
            for row in (section.get("rows") if isinstance(section.get("rows"), list) else [])]
    if not 1 <= len(rows) <= 10:
        return invalid("Total row count exceed max allowed count: 10")
    for section in sections:
        title = section.get("title") if isinstance(section, dict) else None
        if title is not None or len(sections) > 1:
            problem = problem or _length(title, "Section title", 1, 24)
    for row in rows:
        if not isinstance(row, dict):
            return missing("interactive['action']['sections'][]['rows'][]")
        problem = (problem or _length(row.get("title"), "Row title", 1, 24)
                   or _length(row.get("id"), "Row id", 1, 200))
        if problem is None and "description" in row:
            problem = _length(row.get("description"), "Row description", 0, 72)
    return problem


def _length(value: Any, what: str, low: int, high: int) -> Problem | None:
    if not isinstance(value, str) or not low <= len(value) <= high:
        return invalid(f"{what} length invalid. Min length: {low}, Max length: {high}")
    return None


def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and value != ""
