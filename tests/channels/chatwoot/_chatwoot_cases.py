"""Chatwoot test helpers: the stored webhook bodies (tests/fixtures/chatwoot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.channels.base import WebhookRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "chatwoot"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def api_channel_message(**changes: Any) -> dict[str, Any]:
    """The docs' API-channel `message_created` callback, with `changes` applied."""
    return {**fixture("message_created_api_channel_callback.json"), **changes}


def request(body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest(method="POST", url="https://bot.example.com/chatwoot",
                          headers={"content-type": "application/json", **(headers or {})}, body=raw)
