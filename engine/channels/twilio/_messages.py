"""Outbound messages as Twilio Messages API form fields, and Twilio's error answers as SendError.

Twilio has no free-form buttons or lists on WhatsApp: they exist only as Content templates
(ContentSid) created in advance. A question therefore goes out as text with numbered options
(engine.channels.plain_text), which the engine's matcher understands when the user answers "2".
A template goes out as `ContentSid` + `ContentVariables` when the adapter's configuration maps its
name to a Content SID; otherwise its rendered fallback text is sent (which only reaches the user
inside the 24-hour window).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.channels.base import SendError
from engine.channels.json_fields import retry_after as parse_retry_after
from engine.channels.plain_text import plain_text
from engine.messages import Outbound, Template

# Twilio error codes worth trying again later (HTTP 429 and 5xx are retried whatever the code).
RETRYABLE_CODES = frozenset({20429, 20500, 20503, 30001})


def whatsapp_address(number: str) -> str:
    """`491511234567`, `+491511234567` or `whatsapp:+491511234567` -> `whatsapp:+491511234567`."""
    return "whatsapp:+" + number.removeprefix("whatsapp:").lstrip("+")


def content_sid(template: Template, content_sids: Mapping[str, str]) -> str | None:
    """The Content SID for a template: `name:language` first, then `name`."""
    return content_sids.get(f"{template.name}:{template.language}") or content_sids.get(template.name)


def message_form(out: Outbound, sender: Mapping[str, str], content_sids: Mapping[str, str],
                 status_callback: str | None = None) -> list[tuple[str, str]]:
    """The form fields of `POST /2010-04-01/Accounts/{sid}/Messages.json` for `out`.

    `sender` is `{"From": "whatsapp:+..."}` or `{"MessagingServiceSid": "MG..."}`."""
    form = [("To", whatsapp_address(out.to)), *sender.items()]
    if status_callback:
        form.append(("StatusCallback", status_callback))
    if out.kind == "template" and out.template is not None:
        sid = content_sid(out.template, content_sids)
        if sid:
            variables = {str(i): value for i, value in enumerate(out.template.params, 1)}
            return [*form, ("ContentSid", sid), ("ContentVariables", json.dumps(variables, ensure_ascii=False))]
        if not out.fallback_text:
            raise SendError(f"twilio: template {out.template.name!r} has no Content SID configured and "
                            "the outbound carries no fallback text", retryable=False)
    if out.kind == "media" and out.media is not None:
        if not out.media.link:
            raise SendError("twilio: media must be sent by public URL (MediaUrl), not by media id", retryable=False)
        form.append(("MediaUrl", out.media.link))
        if out.media.caption:
            form.append(("Body", out.media.caption))
        return form
    if out.kind not in ("text", "buttons", "list", "template"):
        raise SendError(f"twilio: cannot send an outbound of kind {out.kind!r}", retryable=False)
    return [*form, ("Body", plain_text(out))]


def send_error(status: int, body: Any, retry_after: str | None) -> SendError:
    """Twilio's error answer (`{"code", "message", "more_info", "status"}`) as a SendError."""
    fields = body if isinstance(body, dict) else {}
    code = fields.get("code") if type(fields.get("code")) is int else None
    message = fields.get("message") if isinstance(fields.get("message"), str) else f"HTTP {status}"
    retryable = status == 429 or status >= 500 or code in RETRYABLE_CODES
    return SendError(f"twilio: {message}" + (f" (error {code})" if code else ""), code=code, status=status,
                     retryable=retryable, retry_after=parse_retry_after(retry_after))
