"""Twilio WhatsApp: form-encoded webhooks signed with `X-Twilio-Signature`, sends through the
Messages API (`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, basic auth).

Twilio signs the URL it called, so the signature is checked against the public URL the
deployment declares (`public_url`, exactly as configured in the Twilio console, query string
included); behind a proxy or load balancer the URL the web app sees is not that one. Without
`public_url`, `request.url` is used.

Users are identified like WhatsApp Cloud API users: `From` without `whatsapp:` and `+` (a wa_id).
Buttons and lists go out as numbered text (see `_messages`).
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Mapping
from urllib.parse import quote, urlencode

import aiohttp

from engine.channels.base import Parsed, SendError, SendResult, WebhookRejected, WebhookRequest
from engine.channels.json_fields import response_json
from engine.channels.twilio._messages import message_form, send_error, whatsapp_address
from engine.channels.twilio._signature import signature_matches, twilio_signature, url_variants
from engine.channels.twilio._webhook import events, read_form
from engine.messages import Outbound

__all__ = ["TwilioAdapter", "twilio_signature", "url_variants"]

DEFAULT_BASE_URL = "https://api.twilio.com"


class TwilioAdapter:
    """One Twilio account and WhatsApp sender (`from_number`, or a Messaging Service).

    `content_sids` maps a template name (or `name:language`) to the Content SID Twilio created
    for it. `session` may be shared; one created here is closed by `close()`.
    """

    name = "twilio"

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None, *,
                 from_number: str | None = None, messaging_service_sid: str | None = None,
                 public_url: str | None = None, content_sids: Mapping[str, str] | None = None,
                 status_callback: str | None = None, base_url: str | None = None,
                 session: aiohttp.ClientSession | None = None, timeout: float = 15.0) -> None:
        self.account_sid = account_sid or os.environ.get("TWILIO_ACCOUNT_SID", "")
        self.auth_token = auth_token or os.environ.get("TWILIO_AUTH_TOKEN", "")
        if not self.account_sid or not self.auth_token:
            raise ValueError("Twilio needs an account SID and an auth token "
                             "(arguments, or TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)")
        if messaging_service_sid:
            self.sender = {"MessagingServiceSid": messaging_service_sid}
        elif from_number:
            self.sender = {"From": whatsapp_address(from_number)}
        else:
            raise ValueError("Twilio needs a WhatsApp sender: from_number or messaging_service_sid")
        self.public_url = public_url
        # Built by hand: aiohttp.BasicAuth is deprecated in aiohttp 3.14, its replacement is new there.
        credentials = f"{self.account_sid}:{self.auth_token}".encode()
        self.authorization = "Basic " + base64.b64encode(credentials).decode("ascii")  # API calls and media downloads
        self.content_sids = dict(content_sids or {})
        self.status_callback = status_callback
        self.base_url = (base_url or os.environ.get("TWILIO_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    # ─── webhooks ───────────────────────────────────────────────────────────────────────────

    def verify(self, request: WebhookRequest) -> None:
        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            raise WebhookRejected(403, "missing X-Twilio-Signature")
        form = read_form(request)
        if not signature_matches(signature, self.public_url or request.url, form, self.auth_token):
            raise WebhookRejected(403, "X-Twilio-Signature does not match")

    def parse(self, request: WebhookRequest) -> Parsed:
        return events(read_form(request))

    # ─── sending ────────────────────────────────────────────────────────────────────────────

    async def send(self, out: Outbound) -> SendResult:
        form = message_form(out, self.sender, self.content_sids, self.status_callback)
        url = f"{self.base_url}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}/Messages.json"
        session = self._client()
        try:
            async with session.post(
                url, data=urlencode(form), timeout=self._timeout,
                headers={"Authorization": self.authorization, "Accept": "application/json",
                         "Content-Type": "application/x-www-form-urlencoded"},
            ) as response:
                status, raw, retry_after = response.status, await response.read(), response.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SendError(f"twilio: {type(exc).__name__}: {exc}", retryable=True) from exc
        body = response_json(raw)
        if 200 <= status < 300:
            if isinstance(body, dict) and isinstance(body.get("sid"), str):
                return SendResult(provider_id=body["sid"], raw=body)
            # Accepted but unreadable: the message may exist, so a retry could send it twice.
            raise SendError("twilio: answer without a message sid", status=status, retryable=False)
        raise send_error(status, body, retry_after)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

