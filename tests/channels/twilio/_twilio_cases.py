"""Twilio test helpers: the stored webhook bodies and reference vectors (tests/fixtures/twilio)."""

from __future__ import annotations

from pathlib import Path

from engine.channels.base import WebhookRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "twilio"
FORM = "application/x-www-form-urlencoded"
URL = "https://bot.example.com/webhooks/twilio"


def raw_body(name: str) -> bytes:
    """A stored form body. The files end with a newline (a text-file artifact, not part of what
    Twilio sends), so it is removed."""
    return (FIXTURES / name).read_bytes().rstrip(b"\r\n")


def form_request(body: bytes, signature: str | None = None, url: str = URL,
                 content_type: str = FORM) -> WebhookRequest:
    headers = {"content-type": content_type}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return WebhookRequest(method="POST", url=url, headers=headers, body=body)
