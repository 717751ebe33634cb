"""An async client for the parts of the WhatsApp Cloud API (Graph) a bot needs to reply.

aiohttp rather than httpx (the project default, docs/decisions/0001): the send path is the
largest cost of a reply, and on this kind of machine aiohttp spends about a third of httpx's CPU
per POST and does not degrade with concurrency (ECOSYSTEM.md, "outbound HTTP").

Every non-2xx answer raises a `WhatsAppError` subclass from `errors`; a timeout or a connection
failure raises `TemporaryError`. Beware that a timed-out POST may still have been delivered.
The bearer token is never logged nor put into an error message.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from engine import wire
from engine.channels.base import SendResult
from engine.messages import Outbound

from .errors import (
    MediaTooLarge,
    TemporaryError,
    TokenExpired,
    WhatsAppError,
    error_from_response,
)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v23.0"
TokenProvider = Callable[[], Awaitable[str]]
log = logging.getLogger(__name__)


class GraphClient:
    """Graph API calls for one business phone number.

    `token` is the access token, or an async callable returning the current one: it is called
    once at first use and again when Graph answers 401/190, and the request is retried once
    with the new token (token rotation). Pass `session` to share a connection pool; otherwise
    the client opens its own and `close()` (or `async with`) closes it.
    """

    def __init__(self, token: TokenProvider | str, phone_number_id: str, *, base_url: str | None = None,
                 version: str | None = None, session: aiohttp.ClientSession | None = None,
                 timeout: float = 20.0) -> None:
        self._provider = None if isinstance(token, str) else token
        self._token: str | None = token if isinstance(token, str) else None
        self.phone_number_id = phone_number_id
        self.base_url = (base_url or os.environ.get("WHATSAPP_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.version = version or os.environ.get("WHATSAPP_API_VERSION") or DEFAULT_VERSION
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"GraphClient(phone_number_id={self.phone_number_id!r}, base_url={self.base_url!r})"

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, out: Outbound) -> SendResult:
        return await self.send_body(out.whatsapp_body())

    async def send_body(self, body: dict[str, Any]) -> SendResult:
        """POST a ready `/messages` body; the result carries the new message's wamid."""
        data = await self._json("POST", f"{self.phone_number_id}/messages", json_body=body)
        messages = data.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        if not isinstance(first, dict) or not isinstance(first.get("id"), str):
            raise WhatsAppError("Graph accepted the message but returned no message id")
        return SendResult(provider_id=first["id"], raw=data)

    async def mark_read(self, message_id: str, typing: bool = False) -> bool:
        """Mark an inbound message read (blue ticks); with `typing`, also show the typing
        indicator, which lasts until the reply or 25 s."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        data = await self._json("POST", f"{self.phone_number_id}/messages", json_body=body)
        return data.get("success") is True

    async def upload_media(self, data: bytes, mime: str, filename: str) -> str:
        """Upload a file for later sends by id; returns the media id."""

        def form() -> aiohttp.FormData:
            fields = aiohttp.FormData()
            fields.add_field("messaging_product", "whatsapp")
            fields.add_field("type", mime)
            fields.add_field("file", data, filename=filename, content_type=mime)
            return fields

        answer = await self._json("POST", f"{self.phone_number_id}/media", form=form)
        media_id = answer.get("id")
        if not isinstance(media_id, str):
            raise WhatsAppError("Graph accepted the upload but returned no media id")
        return media_id

    async def media_url(self, media_id: str) -> tuple[str, str, int | None]:
        """The short-lived download URL of a media id, with its MIME type and size."""
        data = await self._json("GET", media_id)
        url = data.get("url")
        if not isinstance(url, str):
            raise WhatsAppError(f"Graph returned no URL for media {media_id}")
        size = data.get("file_size")
        return url, str(data.get("mime_type") or ""), size if isinstance(size, int) else None

    async def download_media(self, media_id: str) -> bytes:
        """The bytes of a media id (its URL also needs the bearer token)."""
        url, _, _ = await self.media_url(media_id)
        return await self.download(url)

    async def download(self, url: str, *, max_bytes: int | None = None) -> bytes:
        """The bytes at a URL `media_url` returned; with `max_bytes`, MediaTooLarge as soon as
        the answer says (Content-Length) or shows (while reading) that it is larger."""
        return await self._call("GET", url, what="media download", limit=max_bytes)

    async def _json(self, method: str, path: str, *, json_body: dict[str, Any] | None = None,
                    form: Callable[[], aiohttp.FormData] | None = None) -> dict[str, Any]:
        raw = await self._call(method, f"{self.base_url}/{self.version}/{path}", what=path,
                               json_body=json_body, form=form)
        try:
            data = wire.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise WhatsAppError(f"Graph answered {path} with something that is not a JSON object")
        return data

    async def _call(self, method: str, url: str, *, what: str, json_body: dict[str, Any] | None = None,
                    form: Callable[[], aiohttp.FormData] | None = None, limit: int | None = None) -> bytes:
        token = await self._current_token()
        try:
            return await self._attempt(method, url, token, what, json_body, form, limit)
        except TokenExpired:
            fresh = await self._refresh(token)
            if fresh == token:
                raise
            log.info("whatsapp token refreshed after 401; retrying %s %s", method, what)
            return await self._attempt(method, url, fresh, what, json_body, form, limit)

    async def _attempt(self, method: str, url: str, token: str, what: str,
                       json_body: dict[str, Any] | None,
                       form: Callable[[], aiohttp.FormData] | None, limit: int | None = None) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Authorization": f"Bearer {token}"}
        data: Any = form() if form else None
        if json_body is not None:  # orjson: aiohttp's json= goes through the standard library's encoder
            data = wire.dumps(json_body)
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(method, url, data=data, headers=headers,
                                             timeout=self._timeout) as response:
                ok = 200 <= response.status < 300
                payload = await (response.read() if limit is None or not ok else _read_at_most(response, limit))
                log.debug("graph %s %s -> %s", method, what, response.status)
                if not ok:
                    raise error_from_response(response.status, payload, response.headers)
                return payload
        except TimeoutError:
            raise TemporaryError(f"{method} {what} timed out after {self._timeout.total}s") from None
        except aiohttp.ClientError as exc:
            raise TemporaryError(f"{method} {what} failed: {type(exc).__name__}: {exc}") from None

    async def _current_token(self) -> str:
        token = self._token
        if token is None:
            async with self._token_lock:
                token = self._token
                if token is None:
                    token = self._token = await self._fetch_token()
        return token

    async def _refresh(self, used: str) -> str:
        """A fresh token after `used` was refused; concurrent callers share one refresh."""
        async with self._token_lock:
            if self._token == used and self._provider is not None:
                self._token = await self._fetch_token()
            return self._token or used

    async def _fetch_token(self) -> str:
        if self._provider is None:
            raise TokenExpired("no WhatsApp access token configured")
        try:
            token = await self._provider()
        except Exception as exc:
            raise TemporaryError(f"the WhatsApp token provider failed: {type(exc).__name__}") from None
        if not isinstance(token, str) or not token:
            raise TokenExpired("the WhatsApp token provider returned no token")
        return token


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or MediaTooLarge once it is known to exceed `limit` bytes (never reading more)."""
    if response.content_length is not None and response.content_length > limit:
        raise MediaTooLarge(f"the media is {response.content_length} bytes, more than {limit}")
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise MediaTooLarge(f"the media is more than {limit} bytes")
    return bytes(body)
