"""Interakt (WhatsApp BSP): JSON webhooks in, the public message API out.

Little of Interakt is public (tests/fixtures/interakt/NOTES.md): webhook `type`s, and that
`data.customer` carries the phone number and `data.message` the message. No payload, no
signature scheme and no test vector could be read, so this adapter is deliberately defensive and
its guesses are marked ASSUMPTION, to be confirmed against a real account:

- every field is optional; a webhook whose customer or message cannot be read yields no events
  (Interakt counts every non-200 answer as a failure and gives up on a webhook after five);
- `message_received` -> Inbound; `message_api_sent|delivered|read|failed` -> Status; everything
  else (clicks, campaign statuses, template events) -> no events;
- answer within 3 s: parse() does no I/O.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
from typing import Any

import aiohttp
import phonenumbers

from engine.channels.base import Parsed, SendError, SendResult, Status, WebhookRejected, WebhookRequest
from engine.channels.json_fields import ident, json_object, obj, response_json, retry_after as parse_retry_after, text
from engine.channels.plain_text import plain_text
from engine.messages import MEDIA_KINDS, Inbound, Media, Outbound

__all__ = ["InteraktAdapter", "interakt_request", "interakt_signature"]

DEFAULT_BASE_URL = "https://api.interakt.ai"
STATUS_TYPES = {"message_api_sent": "sent", "message_api_delivered": "delivered",
                "message_api_read": "read", "message_api_failed": "failed"}


def interakt_signature(secret: str, body: bytes) -> str:
    """ASSUMPTION: hex HMAC-SHA256 of the raw body keyed with the webhook Secret Key. Interakt
    asks for a secret key but does not say how it signs; confirm against a real delivery."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", value) if isinstance(value, str) else str(value) if type(value) is int else ""


def customer_number(customer: dict[str, Any]) -> str:
    """The customer's number as a wa_id (country code + national number, digits only).

    ASSUMPTION: `country_code` (e.g. "+91") and `phone_number` (national), as in Interakt's
    send API; else `channel_phone_number` read as a full number."""
    national, country = _digits(customer.get("phone_number")), _digits(customer.get("country_code"))
    if national:
        return country + national
    return _digits(customer.get("channel_phone_number"))


def interakt_request(out: Outbound) -> dict[str, Any]:
    """The body of `POST {base}/v1/public/message/` for `out` — the one place to correct.

    Shape as described by Interakt's public API docs (see NOTES.md): `countryCode` + `phoneNumber`,
    `type` "Text" with `data.message`, or "Template" with `template.{name, languageCode,
    bodyValues}`. Buttons and lists go out as numbered text (engine.channels.plain_text), media as
    caption and link."""
    try:
        number = phonenumbers.parse("+" + out.to.lstrip("+"))
    except phonenumbers.NumberParseException as exc:
        raise SendError(f"interakt: {out.to!r} is not a phone number: {exc}", retryable=False) from None
    body: dict[str, Any] = {"countryCode": f"+{number.country_code}", "phoneNumber": str(number.national_number)}
    if out.kind == "template" and out.template is not None:
        body["type"] = "Template"
        body["template"] = {"name": out.template.name, "languageCode": out.template.language,
                            "bodyValues": list(out.template.params)}
        return body
    message = plain_text(out)
    if not message:
        raise SendError(f"interakt: nothing to send for an outbound of kind {out.kind!r}", retryable=False)
    return {**body, "type": "Text", "data": {"message": message}}


def _inbound(customer: dict[str, Any], message: dict[str, Any]) -> Inbound | None:
    user = customer_number(customer)
    if not user:
        return None
    content = text(message.get("message"))
    link = text(message.get("media_url"))
    content_type = text(message.get("message_content_type")).lower()  # ASSUMPTION: Text, Image, ...
    kind, media = ("text" if content else "unsupported"), None
    if link:
        kind = content_type if content_type in MEDIA_KINDS else "document"
        media = Media(kind=kind, link=link, caption=content)
    return Inbound(user=user, kind=kind, text=content, media=media, message_id=ident(message.get("id")) or "",
                   name=text(obj(customer.get("traits")).get("name")), channel="interakt",
                   extra={"customer_id": ident(customer.get("id")), "content_type": content_type})


class InteraktAdapter:
    """One Interakt account. `webhook_secret` turns the (assumed) signature check on; the header
    it is read from is `signature_header`."""

    name = "interakt"

    def __init__(self, api_key: str | None = None, *, webhook_secret: str | None = None,
                 signature_header: str = "Interakt-Signature", base_url: str | None = None,
                 session: aiohttp.ClientSession | None = None, timeout: float = 15.0) -> None:
        self.api_key = api_key or os.environ.get("INTERAKT_API_KEY", "")
        self.webhook_secret = webhook_secret
        self.signature_header = signature_header.lower()
        self.base_url = (base_url or os.environ.get("INTERAKT_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def verify(self, request: WebhookRequest) -> None:
        if self.webhook_secret is None:
            return
        given = request.headers.get(self.signature_header, "").strip().removeprefix("sha256=")
        expected = interakt_signature(self.webhook_secret, request.body)
        if not given or not hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace")):
            raise WebhookRejected(401, f"{self.signature_header} missing or does not match")

    def parse(self, request: WebhookRequest) -> Parsed:
        data = json_object(request.body)
        kind, payload = data.get("type"), obj(data.get("data"))
        customer, message = obj(payload.get("customer")), obj(payload.get("message"))
        if kind == "message_received":
            inbound = _inbound(customer, message)
            return Parsed(events=[inbound] if inbound else [])
        if isinstance(kind, str) and kind in STATUS_TYPES and ident(message.get("id")):
            status = Status(message_id=ident(message.get("id")) or "", status=STATUS_TYPES[kind],
                            recipient=customer_number(customer),
                            error_detail=text(message.get("channel_failure_reason")),  # ASSUMPTION
                            channel="interakt", extra={"provider_status": kind})
            return Parsed(events=[status])
        return Parsed(events=[])

    async def send(self, out: Outbound) -> SendResult:
        """ASSUMPTION (Interakt's docs): `Authorization: Basic <API key>`, the key used as shown
        in Interakt's developer settings (it is already base64), not re-encoded."""
        if not self.api_key:
            raise SendError("interakt: no API key configured (INTERAKT_API_KEY)", retryable=False)
        body = interakt_request(out)
        try:
            async with self._client().post(
                f"{self.base_url}/v1/public/message/", json=body, timeout=self._timeout,
                headers={"Authorization": f"Basic {self.api_key}", "Accept": "application/json"},
            ) as response:
                status, raw, retry_after = response.status, await response.read(), response.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SendError(f"interakt: {type(exc).__name__}: {exc}", retryable=True) from exc
        fields = obj(response_json(raw))
        if 200 <= status < 300 and fields.get("result") is not False and ident(fields.get("id")):
            return SendResult(provider_id=ident(fields.get("id")) or "", raw=fields)
        reason = text(fields.get("message")) or f"HTTP {status}"
        raise SendError(f"interakt: {reason}", status=status, retryable=status == 429 or status >= 500,
                        retry_after=parse_retry_after(retry_after))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
