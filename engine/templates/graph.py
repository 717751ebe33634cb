"""The Graph API's message-template endpoints, over aiohttp (as engine.channels.whatsapp.client).

    GET    /{version}/{WABA_ID}/message_templates?fields=...   list, one page at a time (paging.next)
    POST   /{version}/{WABA_ID}/message_templates              create: {name, language, category, components}
    POST   /{version}/{TEMPLATE_ID}                            edit: {components[, category]}
    DELETE /{version}/{WABA_ID}/message_templates?name=N       delete every language of N
    DELETE /{version}/{WABA_ID}/message_templates?name=N&hsm_id=ID   delete one language

Environment: WHATSAPP_TOKEN, WHATSAPP_WABA_ID, WHATSAPP_API_BASE_URL (default
https://graph.facebook.com), WHATSAPP_API_VERSION (default v23.0). The token goes only into the
Authorization header: never into a URL, an error or a repr.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from engine.channels.whatsapp.client import DEFAULT_BASE_URL, DEFAULT_VERSION

LIST_FIELDS = ("name", "status", "category", "language")
PAGE_LIMIT = 100
MAX_PAGES = 1000


class ConfigError(Exception):
    """The environment lacks what the Graph calls need."""


class GraphError(Exception):
    """A Graph call that failed: `{"error": {message, type, code, error_subcode, fbtrace_id,
    error_user_title, error_user_msg}}`, or no answer at all (code None)."""

    def __init__(self, message: str, *, code: int | None = None, subcode: int | None = None,
                 status: int | None = None, fbtrace_id: str = "", user_title: str = "",
                 user_message: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.subcode, self.status = message, code, subcode, status
        self.fbtrace_id, self.user_title, self.user_message = fbtrace_id, user_title, user_message

    def __str__(self) -> str:
        """`error <code>/<subcode>: <message> (fbtrace_id …)`, `-` for what Graph did not say."""
        code = "-" if self.code is None else self.code
        subcode = "-" if self.subcode is None else self.subcode
        text = self.message
        for extra in (self.user_title, self.user_message):
            if extra and extra not in text:
                text += f" — {extra}"
        trace = f" (fbtrace_id {self.fbtrace_id})" if self.fbtrace_id else ""
        return f"error {code}/{subcode}: {text}{trace}"

    @classmethod
    def from_response(cls, status: int, payload: bytes) -> GraphError:
        try:
            data = json.loads(payload)
        except ValueError:
            data = None
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            snippet = " ".join(payload.decode("utf-8", "replace").split())[:200]
            return cls(f"HTTP {status}" + (f": {snippet}" if snippet else ""), status=status)

        def text(key: str) -> str:
            value = error.get(key)
            return value if isinstance(value, str) else ""

        def number(key: str) -> int | None:
            value = error.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(text("message") or f"HTTP {status}", code=number("code"), subcode=number("error_subcode"),
                   status=status, fbtrace_id=text("fbtrace_id"), user_title=text("error_user_title"),
                   user_message=text("error_user_msg"))


class TemplatesAPI:
    """The message templates of one WhatsApp Business Account."""

    def __init__(self, token: str, waba_id: str, *, base_url: str | None = None, version: str | None = None,
                 timeout: float = 30.0) -> None:
        self._token = token
        self.waba_id = waba_id
        self.base_url = (base_url or os.environ.get("WHATSAPP_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.version = version or os.environ.get("WHATSAPP_API_VERSION") or DEFAULT_VERSION
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls) -> TemplatesAPI:
        token = os.environ.get("WHATSAPP_TOKEN", "")
        waba_id = os.environ.get("WHATSAPP_WABA_ID", "")
        missing = [name for name, value in (("WHATSAPP_TOKEN", token), ("WHATSAPP_WABA_ID", waba_id)) if not value]
        if missing:
            raise ConfigError(f"set {' and '.join(missing)} (the WhatsApp Business Account's id and a token "
                              "with whatsapp_business_management)")
        return cls(token, waba_id)

    def __repr__(self) -> str:
        return f"TemplatesAPI(waba_id={self.waba_id!r}, base_url={self.base_url!r})"

    async def __aenter__(self) -> TemplatesAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ── the calls ─────────────────────────────────────────────────────────────────────────
    async def list(self, fields: tuple[str, ...] = LIST_FIELDS, *, name: str | None = None,
                   limit: int = PAGE_LIMIT) -> list[dict[str, Any]]:
        """Every template of the account (Graph filters `name` loosely: compare it yourself),
        following `paging.next` page after page."""
        params = {"fields": ",".join(fields), "limit": str(limit)}
        if name is not None:
            params["name"] = name
        url: str | None = self._url(f"{self.waba_id}/message_templates")
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if url is None:
                break
            page = await self._request("GET", url, params=params)
            data = page.get("data")
            if isinstance(data, list):
                out.extend(item for item in data if isinstance(item, dict))
            url, params = self._next(page, params)
            if url is not None:
                key = url + json.dumps(params, sort_keys=True)
                if key in seen:
                    break  # a cursor that does not move: stop rather than loop
                seen.add(key)
        return out

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Returns Graph's `{id, status, category}`."""
        return await self._request("POST", self._url(f"{self.waba_id}/message_templates"), json_body=body)

    async def edit(self, template_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._request("POST", self._url(template_id), json_body=body)

    async def delete(self, name: str, hsm_id: str | None = None) -> dict[str, Any]:
        params = {"name": name}
        if hsm_id is not None:
            params["hsm_id"] = hsm_id
        return await self._request("DELETE", self._url(f"{self.waba_id}/message_templates"), params=params)

    # ── plumbing ──────────────────────────────────────────────────────────────────────────
    def _url(self, path: str) -> str:
        return f"{self.base_url}/{self.version}/{path}"

    def _next(self, page: dict[str, Any], params: dict[str, str]) -> tuple[str | None, dict[str, str]]:
        """Where the next page is: `paging.next` when it is on our Graph server (it carries its
        own query), else the same request with `after=<cursors.after>`; None on the last page."""
        paging = page.get("paging")
        if not isinstance(paging, dict) or not paging.get("next"):
            return None, params
        following = paging["next"]
        if isinstance(following, str) and _origin(following) == _origin(self.base_url):
            return following, {}
        cursors = paging.get("cursors")
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not isinstance(after, str) or not after:
            return None, params  # a next page we will not send the token to, and no cursor
        return self._url(f"{self.waba_id}/message_templates"), {**params, "after": after}

    async def _request(self, method: str, url: str, *, params: dict[str, str] | None = None,
                       json_body: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Authorization": f"Bearer {self._token}"}
        where = urlsplit(url).path
        try:
            async with self._session.request(method, url, params=params or None, json=json_body,
                                             headers=headers) as response:
                payload = await response.read()
                status = response.status
        except TimeoutError:
            raise GraphError(f"{method} {where} timed out after {self._timeout.total:g}s") from None
        except aiohttp.ClientError as exc:
            raise GraphError(f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from None
        if not 200 <= status < 300:
            raise GraphError.from_response(status, payload)
        try:
            data = json.loads(payload)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise GraphError(f"Graph answered {method} {where} with something that is not a JSON object",
                             status=status)
        return data


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
