"""The channel adapter contract: provider webhooks in, provider API calls out.

Each provider (WhatsApp Cloud API, Twilio, Interakt, Chatwoot) is one adapter behind this
interface, so a bot changes provider in its manifest, not in its flows. An adapter:

- verifies a webhook request (signature, token) from its raw bytes and headers;
- parses it into events: `Inbound` messages (engine.messages) and `Status` updates;
- sends an `Outbound` through the provider's API and says what came back.

Adapters hold no state about conversations; the web app and the delivery workers call them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

from engine.messages import Inbound, Outbound


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A webhook as received: what signature checks need is the raw body, untouched."""

    method: str
    url: str  # the public URL the provider called (Twilio signs it)
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Status:
    """A delivery status of a message the bot sent: sent, delivered, read, failed (and played)."""

    message_id: str  # the provider's id of the outbound message (wamid, Twilio SID, ...)
    status: str
    recipient: str = ""
    timestamp: float = 0.0
    error_code: int | None = None
    error_title: str = ""
    error_detail: str = ""
    channel: str = "whatsapp"
    account: str = ""  # the business number / phone_number_id it concerns
    extra: dict[str, Any] = field(default_factory=dict)


Event = Union[Inbound, Status]


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a webhook carried. `account` routes it to the bot that owns that number."""

    events: list[Event]
    account: str = ""


class WebhookRejected(Exception):
    """A webhook that must be refused: `status` is the HTTP status to answer (401/403/400/413/415)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str  # the provider's message id, for statuses to find the delivery record
    raw: Mapping[str, Any] = field(default_factory=dict)


class SendError(Exception):
    """A send that failed. `retryable` says whether trying again later can help;
    `retry_after` is the provider's hint in seconds, when it gave one."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None,
                 retryable: bool = False, retry_after: float | None = None, subcode: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class Adapter(Protocol):
    name: str

    def verify(self, request: WebhookRequest) -> None:
        """Raise WebhookRejected unless the request is authentic."""

    def parse(self, request: WebhookRequest) -> Parsed:
        """The events in a verified webhook. Raise WebhookRejected(400) for a malformed body;
        ignore unknown fields and unknown event kinds (they become `unsupported` or nothing)."""

    async def send(self, out: Outbound) -> SendResult:
        """Send one message; raise SendError (or a subclass) on failure."""
