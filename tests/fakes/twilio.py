"""TwilioFake: Twilio's Messages API on loopback, for tests and development.

It answers like Twilio: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded,
HTTP basic auth (account SID + auth token), 201 with a Message resource, errors as
`{"code", "message", "more_info", "status"}`. Point the adapter at it with `TWILIO_API_BASE_URL`
(or `base_url=`).

    async with TwilioFake("ACxxx", "token") as fake:
        adapter = TwilioAdapter("ACxxx", "token", from_number="+14155238886", base_url=fake.url)
        ...; fake.messages[-1].form["Body"]      # what Twilio received

Media a user sent: `add_media(bytes, content_type)` gives the MediaUrl0 of a webhook; fetching it
needs the account's basic auth and redirects (307) to a one-time signed URL (`media_fetches`
records each GET and its Authorization header).

Failure controls: `fail_next(n, status, code)`, `delay(seconds)`, `unsubscribed(number)` (21610).
Run it alone with `python tests/fakes/twilio.py --port 8091`.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from aiohttp import web

try:
    from fakes._loopback import LoopbackFake
except ImportError:  # run as a script
    from _loopback import LoopbackFake  # type: ignore[no-redef]

MESSAGES_PATH = "/2010-04-01/Accounts/{account_sid}/Messages.json"
MEDIA_PATH = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"
SIGNED_MEDIA_PATH = "/media-cdn/{token}"  # stands in for Twilio's short-lived signed media host
DEFAULT_ERRORS = {400: (21211, "The 'To' number is not a valid phone number."), 401: (20003, "Authenticate"),
                  429: (20429, "Too Many Requests"), 500: (20500, "Internal Server Error"),
                  503: (20503, "Service Unavailable")}


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted Messages API request. `form` keeps the first value of each field, `fields`
    every (name, value) pair in order (MediaUrl may repeat)."""

    account_sid: str
    username: str
    password: str
    form: dict[str, str]
    fields: list[tuple[str, str]]
    content_type: str


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class TwilioFake(LoopbackFake):
    def __init__(self, account_sid: str = "AC00000000000000000000000000000000", auth_token: str = "token",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        super().__init__(host, port)
        self.messages: list[Received] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._canned: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._delay = 0.0
        self._unsubscribed: set[str] = set()
        self._media: dict[str, tuple[bytes, str]] = {}  # media sid -> (bytes, content type)
        self._signed: dict[str, str] = {}  # token of a signed media URL -> media sid
        self.media_fetches: list[tuple[str, str]] = []  # (path, Authorization header) of every media GET

    # ── failure controls ──────────────────────────────────────────────────────────────────
    def fail_next(self, n: int = 1, status: int = 500, code: int | None = None, *,
                  message: str = "", retry_after: float | None = None) -> None:
        """The next `n` requests get `status` with a Twilio error body (code defaults by status)."""
        default_code, default_message = DEFAULT_ERRORS.get(status, (20001, "Unknown error"))
        body = twilio_error(status, code or default_code, message or default_message)
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self._canned.extend((status, body, headers) for _ in range(n))

    def delay(self, seconds: float) -> None:
        self._delay = seconds

    def unsubscribed(self, number: str) -> None:
        """Sends to `number` (E.164, `+` included) get 400 / 21610 (the user replied STOP)."""
        self._unsubscribed.add(number)

    def add_media(self, data: bytes, content_type: str) -> str:
        """A file a user sent: the MediaUrl0 Twilio's webhook would carry. Fetching it needs the
        account's basic auth and answers 307 to a signed URL (no auth needed there), as Twilio
        does; a media URL of another account, or without auth, gets 401."""
        message_sid, media_sid = "MM" + secrets.token_hex(16), "ME" + secrets.token_hex(16)
        self._media[media_sid] = (data, content_type)
        return self.url + MEDIA_PATH.format(account_sid=self.account_sid, message_sid=message_sid, media_sid=media_sid)

    # ── lifecycle ─────────────────────────────────────────────────────────────────────────
    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(MESSAGES_PATH, self._create)
        router.add_get(MEDIA_PATH, self._media_url)
        router.add_get(SIGNED_MEDIA_PATH, self._signed_media)

    async def _media_url(self, request: web.Request) -> web.Response:
        self.media_fetches.append((request.path, request.headers.get("Authorization", "")))
        username, password = _basic_auth(request.headers.get("Authorization", ""))
        if (username, password) != (self.account_sid, self.auth_token) or request.match_info["account_sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if request.match_info["media_sid"] not in self._media:
            return _error(404, 20404, "The requested resource was not found")
        token = secrets.token_urlsafe(16)
        self._signed[token] = request.match_info["media_sid"]
        return web.Response(status=307, headers={"Location": self.url + SIGNED_MEDIA_PATH.format(token=token)})

    async def _signed_media(self, request: web.Request) -> web.Response:
        self.media_fetches.append((request.path, request.headers.get("Authorization", "")))
        media_sid = self._signed.pop(request.match_info["token"], None)  # signed URLs are short-lived: once here
        if media_sid is None:
            return web.Response(status=403, text="expired")
        data, content_type = self._media[media_sid]
        return web.Response(body=data, content_type=content_type)

    # ── request handling ──────────────────────────────────────────────────────────────────
    async def _create(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if self._delay:
            await asyncio.sleep(self._delay)
        username, password = _basic_auth(request.headers.get("Authorization", ""))
        if username != self.account_sid or password != self.auth_token \
                or request.match_info["account_sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self._canned:
            status, body, headers = self._canned.popleft()
            return web.json_response(body, status=status, headers=headers)
        if request.content_type != "application/x-www-form-urlencoded":
            return _error(400, 21602, "Message body is required.")
        fields = [(k, str(v)) for k, v in (await request.post()).items()]
        form: dict[str, str] = {}
        for name, value in fields:
            form.setdefault(name, value)
        problem = _check(form)
        if problem is not None:
            return _error(400, *problem)
        if form["To"].removeprefix("whatsapp:") in self._unsubscribed:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        self.messages.append(Received(self.account_sid, username, password, form, fields, request.content_type))
        sid = "SM" + secrets.token_hex(16)
        return web.json_response(status=201, data={
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": form.get("Body", ""),
            "date_created": formatdate(usegmt=True), "date_sent": None, "date_updated": formatdate(usegmt=True),
            "direction": "outbound-api", "error_code": None, "error_message": None, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(sum(1 for name, _ in fields if name == "MediaUrl")), "num_segments": "1",
            "price": None, "price_unit": None, "sid": sid, "status": "queued", "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        })


def _check(form: dict[str, str]) -> tuple[int, str] | None:
    """Twilio's validation of a create-message request, as far as the adapter can trip it."""
    if not form.get("To"):
        return 21604, "A 'To' phone number is required."
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return 21603, "A 'From' phone number is required."
    if form.get("From") and form["From"].startswith("whatsapp:") != form["To"].startswith("whatsapp:"):
        return 63007, "Twilio could not find a Channel with the specified From address"
    if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
        return 21619, "A text message body or media urls must be specified."
    return None


def _basic_auth(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return "", ""
    return username, password


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(twilio_error(status, code, message), status=status)


async def _serve(port: int) -> None:
    async with TwilioFake(port=port) as fake:
        print(f"TwilioFake listening on {fake.url} (TWILIO_API_BASE_URL={fake.url}, "
              f"account {fake.account_sid}, token {fake.auth_token})", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8091)
    asyncio.run(_serve(parser.parse_args().port))
