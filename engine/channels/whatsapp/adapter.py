"""The WhatsApp Cloud API channel adapter: verify, parse, send (engine.channels.base.Adapter)."""

from __future__ import annotations

import os

from engine.channels.base import Parsed, SendResult, WebhookRejected, WebhookRequest
from engine.messages import Outbound

from .client import GraphClient
from .errors import WhatsAppError
from .signature import verify_signature
from .verification import answer_challenge
from .webhook import parse_webhook

SIGNATURE_HEADER = "x-hub-signature-256"


class WhatsAppAdapter:
    """Webhooks in through `verify` + `parse` (or `parse_batches`), messages out through `send`.

    The app secret and verify token default to `WHATSAPP_APP_SECRET` / `WHATSAPP_VERIFY_TOKEN`.
    Without an app secret every webhook is refused: an unsigned endpoint would let anyone
    inject messages as any user.
    """

    name = "whatsapp"

    def __init__(self, client: GraphClient | None = None, *, app_secret: str | None = None,
                 verify_token: str | None = None) -> None:
        self.client = client
        self._app_secret = app_secret if app_secret is not None else os.environ.get("WHATSAPP_APP_SECRET", "")
        self._verify_token = (
            verify_token if verify_token is not None else os.environ.get("WHATSAPP_VERIFY_TOKEN", "")
        )

    @classmethod
    def from_env(cls) -> WhatsAppAdapter:
        """An adapter sending with `WHATSAPP_TOKEN` from `WHATSAPP_PHONE_NUMBER_ID`."""
        token, number = os.environ.get("WHATSAPP_TOKEN", ""), os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "")
        return cls(GraphClient(token, number) if token and number else None)

    def challenge(self, request: WebhookRequest) -> str:
        """The body answering Meta's subscription GET; WebhookRejected(403) when it is not ours."""
        answer = answer_challenge(request.query, self._verify_token)
        if answer is None:
            raise WebhookRejected(403, "webhook verification failed")
        return answer

    def verify(self, request: WebhookRequest) -> None:
        if not self._app_secret:
            raise WebhookRejected(403, "WHATSAPP_APP_SECRET is not configured")
        header = next((v for k, v in request.headers.items() if k.lower() == SIGNATURE_HEADER), None)
        if not verify_signature(self._app_secret, request.body, header):
            raise WebhookRejected(403, "bad or missing X-Hub-Signature-256")

    def parse_batches(self, request: WebhookRequest) -> list[Parsed]:
        """The events per business number (see webhook.parse_webhook)."""
        return parse_webhook(request.body)

    def parse(self, request: WebhookRequest) -> Parsed:
        """All events of the webhook in one Parsed. `account` is the business number when the
        body concerns one number, as it nearly always does, and "" when it mixes several: then
        route each event by `Status.account` / `Inbound.extra["account"]`, or use
        `parse_batches`."""
        batches = parse_webhook(request.body)
        if len(batches) == 1:
            return batches[0]
        return Parsed(events=[event for batch in batches for event in batch.events], account="")

    async def send(self, out: Outbound) -> SendResult:
        if self.client is None:
            raise WhatsAppError("WhatsAppAdapter has no GraphClient: set WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID")
        return await self.client.send(out)

    async def mark_read(self, message_id: str) -> None:
        """Blue ticks for an inbound message, with the typing indicator until the reply."""
        if self.client is None:
            raise WhatsAppError("WhatsAppAdapter has no GraphClient: set WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID")
        await self.client.mark_read(message_id, typing=True)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
