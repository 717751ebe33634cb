"""Getting the bytes of a file a user sent: from the channel (a WhatsApp media id, through the
Graph client; a Twilio media URL, with the account's credentials) or from a URL on an allowed
host, checked against a `Policy` before and while downloading: declared size and type first,
then the real size (never reading past the limit), then the first bytes against the declared
type.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from engine.channels.whatsapp import GraphClient, InvalidRequest, MediaTooLarge

DEFAULT_MAX_SIZE = 16 * 1024 * 1024  # WhatsApp's own limit for video and audio; images are 5 MB
DEFAULT_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf", "audio/ogg", "audio/mpeg",
                 "audio/mp4", "audio/aac", "audio/amr", "video/mp4", "video/3gpp")
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif",
               "application/pdf": "pdf", "audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/mp4": "m4a",
               "audio/aac": "aac", "audio/amr": "amr", "video/mp4": "mp4", "video/3gpp": "3gp", "text/plain": "txt"}


class Refused(Exception):
    """The file is not one the bot accepts: the action's `refused` outcome, with `reason`
    (too_large, wrong_type, not_found) and what the limits were."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Policy:
    max_size: int = DEFAULT_MAX_SIZE
    types: tuple[str, ...] = DEFAULT_TYPES  # exact types, or `image/*`

    def check(self, content_type: str, size: int | None) -> str:
        """The base type (`audio/ogg; codecs=opus` → `audio/ogg`), or Refused."""
        base = base_type(content_type)
        if not any(base == t or (t.endswith("/*") and base.startswith(t[:-1])) for t in self.types):
            raise Refused("wrong_type", f"{base or 'an unknown type'} is not accepted ({', '.join(self.types)})")
        if size is not None and size > self.max_size:
            raise Refused("too_large", f"{size} bytes is more than {self.max_size}")
        return base


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    content_type: str  # the base type, checked


def base_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def extension(content_type: str) -> str:
    ext = _EXTENSIONS.get(content_type) or (mimetypes.guess_extension(content_type) or ".bin").lstrip(".")
    return ext if ext.isalnum() and len(ext) <= 8 else "bin"


# The first bytes of the types whose content we can recognize; another type is taken as declared.
_SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "image/jpeg": ((0, b"\xff\xd8\xff"),),
    "image/png": ((0, b"\x89PNG\r\n\x1a\n"),),
    "image/gif": ((0, b"GIF87a"), (0, b"GIF89a")),
    "application/pdf": ((0, b"%PDF-"),),
    "audio/ogg": ((0, b"OggS"),),
    "audio/amr": ((0, b"#!AMR"),),
    "audio/mp4": ((4, b"ftyp"),),
    "video/mp4": ((4, b"ftyp"),),
    "video/3gpp": ((4, b"ftyp"),),
}


def content_matches(content_type: str, data: bytes) -> bool:
    if content_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    signatures = _SIGNATURES.get(content_type)
    return signatures is None or any(data[at:at + len(magic)] == magic for at, magic in signatures)


def _checked(data: bytes, content_type: str, policy: Policy) -> Fetched:
    if len(data) > policy.max_size:
        raise Refused("too_large", f"{len(data)} bytes is more than {policy.max_size}")
    if not content_matches(content_type, data):
        raise Refused("wrong_type", f"the file's content is not {content_type}")
    return Fetched(data, content_type)


def graph_client_from_env() -> GraphClient | None:
    """A Graph client from WHATSAPP_TOKEN (and WHATSAPP_API_BASE_URL), for hosts that injected none."""
    token = os.environ.get("WHATSAPP_TOKEN", "")
    return GraphClient(token, os.environ.get("WHATSAPP_PHONE_NUMBER_ID", "")) if token else None


async def from_graph(client: GraphClient, media_id: str, policy: Policy) -> Fetched:
    """A WhatsApp media id's bytes: its URL, type and size from Graph, checked, then the
    download (which needs the token too), stopped past the limit."""
    try:
        url, mime, size = await client.media_url(media_id)
    except InvalidRequest as exc:  # an unknown or expired media id (media ids live 30 days)
        raise Refused("not_found", f"Graph does not know media {media_id}: {exc}") from None
    content_type = policy.check(mime, size)
    try:
        data = await client.download(url, max_bytes=policy.max_size)
    except MediaTooLarge as exc:
        raise Refused("too_large", str(exc)) from None
    return _checked(data, content_type, policy)


async def from_url(url: str, policy: Policy, allowed_hosts: Iterable[str],
                   session: aiohttp.ClientSession | None = None, timeout: float = 20.0) -> Fetched:
    """The bytes at `url`, whose host must be one of `allowed_hosts` (a flow must not make the
    bot fetch from anywhere: internal addresses included). Redirects are not followed."""
    parts = urlsplit(url)
    hosts = {h.lower() for h in allowed_hosts}
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if parts.hostname.lower() not in hosts:
        raise ValueError(f"{parts.hostname} is not in settings.storage.url_hosts ({', '.join(sorted(hosts)) or 'empty'})")
    async with _client(session) as client:
        got = await _download(client, url, policy, {}, timeout)
    if isinstance(got, str):
        raise Refused("not_found", f"{url} redirects to {urlsplit(got).hostname}; redirects are not followed")
    return got


@dataclass(frozen=True, slots=True)
class TwilioMedia:
    """Where a Twilio bot's media comes from: MediaUrl<n> of its webhooks, on its API host
    (`TWILIO_API_BASE_URL`'s), fetched with its credentials (Twilio requires HTTP basic auth on
    media URLs). Twilio answers with a redirect to a short-lived signed URL on its media host,
    which is followed without the credentials."""

    base_url: str
    authorization: str  # "Basic ...", the adapter's

    def serves(self, url: str) -> bool:
        """Whether `url` is one of this account's media URLs (on the API host)."""
        mine, theirs = urlsplit(self.base_url), urlsplit(url)
        return (theirs.scheme, theirs.netloc.lower()) == (mine.scheme, mine.netloc.lower()) and "/Media/" in theirs.path


async def from_twilio(source: TwilioMedia, url: str, policy: Policy, session: aiohttp.ClientSession | None = None,
                      timeout: float = 20.0, hops: int = 3) -> Fetched:
    """A Twilio media URL's bytes (see `TwilioMedia`); at most `hops` redirects."""
    headers = {"Authorization": source.authorization}
    async with _client(session) as client:
        for _ in range(hops + 1):
            got = await _download(client, url, policy, headers, timeout)
            if not isinstance(got, str):
                return got
            if urlsplit(got).scheme not in ("https", "http"):
                raise Refused("not_found", f"Twilio redirected to a URL that is not http(s): {got!r}")
            url, headers = got, {}  # the signed media URL: Twilio's credentials stay with Twilio
    raise Refused("not_found", f"more than {hops} redirects")


async def _download(client: aiohttp.ClientSession, url: str, policy: Policy, headers: dict[str, str],
                    timeout: float) -> Fetched | str:
    """The checked bytes at `url`, or, when it answers with a redirect, where it points."""
    async with client.get(url, allow_redirects=False, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as answer:
        location = answer.headers.get("Location")
        if answer.status in _REDIRECTS and location:
            return urljoin(url, location)
        if answer.status in (404, 410):
            raise Refused("not_found", f"{urlsplit(url).hostname} answered {answer.status}")
        answer.raise_for_status()
        content_type = policy.check(answer.headers.get("Content-Type", ""), answer.content_length)
        body = bytearray()
        async for chunk in answer.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > policy.max_size:
                raise Refused("too_large", f"more than {policy.max_size} bytes")
    return _checked(bytes(body), content_type, policy)


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@asynccontextmanager
async def _client(session: aiohttp.ClientSession | None) -> AsyncIterator[aiohttp.ClientSession]:
    """The caller's session, or one of our own for this download."""
    if session is not None:
        yield session
        return
    async with aiohttp.ClientSession() as own:
        yield own


def policy_from(settings: dict[str, Any], max_size: Any = None, types: Any = None) -> Policy:
    """The limits of one call: its own `max_size`/`types`, else settings.storage's, else the defaults."""
    size = max_size if max_size is not None else settings.get("max_size", DEFAULT_MAX_SIZE)
    kinds = types if types is not None else settings.get("allowed_types", DEFAULT_TYPES)
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"max_size must be a positive number of bytes, not {size!r}")
    if isinstance(kinds, str):
        kinds = [kinds]
    if not kinds or not all(isinstance(k, str) and "/" in k for k in kinds):
        raise ValueError(f"allowed types are MIME types like image/jpeg or image/*, not {kinds!r}")
    return Policy(size, tuple(base_type(k) for k in kinds))
