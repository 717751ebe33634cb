"""Outbound messages as Chatwoot create-message bodies, and Chatwoot's error answers as SendError.

`POST /api/v1/accounts/{account_id}/conversations/{conversation_id}/messages` (header
`api_access_token`). Choices go out as an "Options" message (`content_type: input_select`,
`content_attributes.items: [{title, value}]`); Chatwoot turns it into WhatsApp buttons or a list
on WhatsApp Cloud and 360Dialog inboxes, but not on "WhatsApp via Twilio" (shown as plain text
there). The item value is the option id; what comes back from WhatsApp is the title the user
tapped, which the engine matches as text.
"""

from __future__ import annotations

from typing import Any

from engine.channels.base import SendError
from engine.channels.json_fields import retry_after as parse_retry_after
from engine.channels.plain_text import plain_text
from engine.messages import Outbound


def message_body(out: Outbound) -> dict[str, Any]:
    """The JSON body of Chatwoot's create-message API for `out`.

    Media goes out as its caption and link: Chatwoot takes attachments only as multipart file
    uploads, which this adapter does not do. A template is sent as its fallback text plus
    `template_params` (name, language, body parameters as `processed_params.body`, per Chatwoot's
    create-message schema); inboxes that are not WhatsApp ignore the template and show the text.
    """
    body: dict[str, Any] = {"content": plain_text(out), "message_type": "outgoing", "private": False}
    if out.kind in ("buttons", "list"):
        choices = out.buttons if out.kind == "buttons" else out.rows
        body["content"] = "\n\n".join(part for part in (out.header, out.text, out.footer) if part)
        body["content_type"] = "input_select"
        body["content_attributes"] = {"items": [{"title": c.title, "value": c.id} for c in choices]}
    elif out.kind == "template" and out.template is not None:
        body["template_params"] = {
            "name": out.template.name,
            "language": out.template.language,
            "processed_params": {"body": {str(i): p for i, p in enumerate(out.template.params, 1)}},
        }
    elif out.kind not in ("text", "media"):
        raise SendError(f"chatwoot: cannot send an outbound of kind {out.kind!r}", retryable=False)
    if not body["content"]:
        raise SendError("chatwoot: nothing to send (empty content)", retryable=False)
    return body


def send_error(status: int, body: Any, retry_after: str | None) -> SendError:
    """Chatwoot answers errors as `{"error": ...}`, `{"message": ...}` or `{"errors": [...]}`."""
    fields = body if isinstance(body, dict) else {}
    reason = fields.get("error") or fields.get("message") or fields.get("errors") or f"HTTP {status}"
    return SendError(f"chatwoot: {reason}", status=status, retryable=status == 429 or status >= 500,
                     retry_after=parse_retry_after(retry_after))
