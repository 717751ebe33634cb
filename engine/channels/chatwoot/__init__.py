"""Chatwoot (agent bot or API channel): `message_created` webhooks in, messages posted to the
conversation out.

Signature: when a webhook secret is configured, `X-Chatwoot-Signature: sha256=<hex
HMAC-SHA256(secret, "{X-Chatwoot-Timestamp}.{raw body}")>` is required, and a timestamp more than
five minutes away from now is refused (a replay). Chatwoot signs since v4.11.2 (account webhooks)
and v4.13.0 (API-channel inbox and agent-bot webhooks); older versions do not sign at all, so
without a secret every request is accepted: keep the webhook URL secret (a random path) then.

Replies go to a conversation. `parse()` remembers the latest conversation of each user in a small
in-process map, so `send(out)` finds it; a deployment with several processes (the webhook in one,
the sender in another) must pass `conversation_id` (and `account_id`) explicitly, from
`Inbound.extra`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections import OrderedDict
from urllib.parse import quote

import aiohttp

from engine.channels.base import Parsed, SendError, SendResult, WebhookRejected, WebhookRequest
from engine.channels.chatwoot._messages import message_body, send_error
from engine.channels.chatwoot._webhook import parse_message
from engine.channels.json_fields import json_object, response_json
from engine.clock import Clock
from engine.messages import Inbound, Outbound

__all__ = ["ChatwootAdapter", "chatwoot_signature"]

MAX_SKEW = 300.0  # seconds
MAX_ROUTES = 10_000


def chatwoot_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Chatwoot-Signature` value for a body sent at `timestamp` (unix seconds, as sent)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class ChatwootAdapter:
    """One Chatwoot account (contact ids, the users, are unique within an account only, so give
    each account its own adapter). `account_id` is the account for sends whose conversation was
    not seen by `parse()`; `session` may be shared (one made here is closed by `close()`)."""

    name = "chatwoot"

    def __init__(self, base_url: str | None = None, api_access_token: str | None = None, *,
                 webhook_secret: str | None = None, account_id: int | str | None = None,
                 clock: Clock | None = None, session: aiohttp.ClientSession | None = None,
                 timeout: float = 15.0) -> None:
        self.base_url = (base_url or os.environ.get("CHATWOOT_BASE_URL", "")).rstrip("/")
        self.api_access_token = api_access_token or os.environ.get("CHATWOOT_API_ACCESS_TOKEN", "")
        self.webhook_secret = webhook_secret or os.environ.get("CHATWOOT_WEBHOOK_SECRET") or None
        self.account_id = str(account_id) if account_id is not None else None
        self.clock = clock or Clock()
        self._routes: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    # ─── webhooks ───────────────────────────────────────────────────────────────────────────

    def verify(self, request: WebhookRequest) -> None:
        if self.webhook_secret is None:
            return
        signature = request.headers.get("x-chatwoot-signature", "")
        timestamp = request.headers.get("x-chatwoot-timestamp", "").strip()
        if not signature or not timestamp:
            raise WebhookRejected(401, "missing X-Chatwoot-Signature or X-Chatwoot-Timestamp")
        well_formed = timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12
        if not well_formed or abs(self.clock.now() - int(timestamp)) > MAX_SKEW:
            raise WebhookRejected(401, "X-Chatwoot-Timestamp is not within five minutes of now")
        expected = chatwoot_signature(self.webhook_secret, timestamp, request.body)
        if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
            raise WebhookRejected(401, "X-Chatwoot-Signature does not match")

    def parse(self, request: WebhookRequest) -> Parsed:
        parsed = parse_message(json_object(request.body))
        for event in parsed.events:
            if isinstance(event, Inbound):
                self._remember(event.user, event.extra["account_id"], event.extra["conversation_id"])
        return parsed

    def _remember(self, user: str, account_id: str, conversation_id: str) -> None:
        self._routes[user] = (account_id, conversation_id)
        self._routes.move_to_end(user)
        while len(self._routes) > MAX_ROUTES:
            self._routes.popitem(last=False)

    # ─── sending ────────────────────────────────────────────────────────────────────────────

    async def send(self, out: Outbound, *, conversation_id: int | str | None = None,
                   account_id: int | str | None = None) -> SendResult:
        """Post `out` to the user's conversation: the one given, else the latest seen by parse()."""
        routed_account, routed_conversation = self._routes.get(out.to, (None, None))
        account = str(account_id) if account_id is not None else routed_account or self.account_id
        conversation = str(conversation_id) if conversation_id is not None else routed_conversation
        if account is None or conversation is None:
            raise SendError(f"chatwoot: no known conversation for user {out.to!r}; pass conversation_id "
                            "and account_id explicitly", retryable=False)
        if not self.base_url or not self.api_access_token:
            raise SendError("chatwoot: base URL and API access token are not configured", retryable=False)
        body = message_body(out)
        url = (f"{self.base_url}/api/v1/accounts/{quote(account, safe='')}"
               f"/conversations/{quote(conversation, safe='')}/messages")
        try:
            async with self._client().post(
                url, json=body, timeout=self._timeout,
                headers={"api_access_token": self.api_access_token, "Accept": "application/json"},
            ) as response:
                status, raw, retry_after = response.status, await response.read(), response.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SendError(f"chatwoot: {type(exc).__name__}: {exc}", retryable=True) from exc
        answer = response_json(raw)
        if 200 <= status < 300:
            message_id = answer.get("id") if isinstance(answer, dict) else None
            if isinstance(message_id, (int, str)) and not isinstance(message_id, bool):
                return SendResult(provider_id=str(message_id), raw=answer)
            raise SendError("chatwoot: answer without a message id", status=status, retryable=False)
        raise send_error(status, answer, retry_after)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

