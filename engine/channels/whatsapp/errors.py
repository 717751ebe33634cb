"""Graph API errors as classes keyed by Meta's error codes.

Delivery code branches on the class (`except OutsideWindow: send the template`), never on a
number. Meta recommends handling errors by `code` rather than by HTTP status or subcode
(subcodes are deprecated since v16), so the code decides first, then `is_transient`, then the
HTTP status. Codes: Meta's Cloud API error-code reference (see tests/fixtures/whatsapp/errors/).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from engine.channels.base import SendError


class WhatsAppError(SendError):
    """A failed Graph API call. `details` is Meta's `error_data.details`; `fbtrace_id` is what
    Meta support asks for."""

    codes: ClassVar[tuple[int, ...]] = ()
    retryable_default: ClassVar[bool] = False
    retry_after_default: ClassVar[float | None] = None

    def __init__(self, message: str, *, code: int | None = None, subcode: int | None = None,
                 status: int | None = None, retry_after: float | None = None, details: str = "",
                 fbtrace_id: str = "", error_type: str = "") -> None:
        super().__init__(message, code=code, subcode=subcode, status=status,
                         retryable=self.retryable_default,
                         retry_after=retry_after if retry_after is not None else self.retry_after_default)
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.error_type = error_type


class RateLimited(WhatsAppError):
    """Throughput of the business number reached (80 msg/s by default, inbound included)."""

    codes = (130429, 4, 80007)
    retryable_default = True
    retry_after_default = 1.0


class PairRateLimited(WhatsAppError):
    """Too many messages to the same user in a short time (about one every 6 s); other users
    can still be sent to."""

    codes = (131056,)
    retryable_default = True
    retry_after_default = 6.0


class OutsideWindow(WhatsAppError):
    """More than 24 h since the user last wrote: only an approved template can be sent now."""

    codes = (131047,)


class TokenExpired(WhatsAppError):
    """The access token is expired or invalid (190, or any HTTP 401). The client refreshes the
    token and retries once; if this still escapes, a rotated token may fix it later."""

    codes = (190,)
    retryable_default = True


class MarketingOptOut(WhatsAppError):
    """The user stopped marketing messages; do not retry marketing templates to them."""

    codes = (131050,)


class MediaUploadError(WhatsAppError):
    """The media could not be uploaded or fetched from its link."""

    codes = (131053,)


class MediaTooLarge(WhatsAppError):
    """A media download was stopped because it is larger than the caller accepts."""


class TemporaryError(WhatsAppError):
    """Meta's side failed (HTTP 5xx, unknown/service errors) or the request timed out."""

    codes = (1, 2, 131000, 131016, 133004)
    retryable_default = True


class InvalidRequest(WhatsAppError):
    """The request itself is wrong (other 4xx): sending it again will fail again."""


_BY_CODE: dict[int, type[WhatsAppError]] = {
    code: cls
    for cls in (RateLimited, PairRateLimited, OutsideWindow, TokenExpired, MarketingOptOut,
                MediaUploadError, TemporaryError)
    for code in cls.codes
}


def error_class(code: int | None, status: int | None = None, *, transient: bool = False) -> type[WhatsAppError]:
    """The class for a Graph error code (also usable for `failed` status webhooks' codes)."""
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if transient or (status is not None and status >= 500):
        return TemporaryError
    if status == 401:
        return TokenExpired
    if status == 429:
        return RateLimited
    return InvalidRequest


def error_from_response(status: int, body: bytes | str | Mapping[str, Any] | None,
                        headers: Mapping[str, str] | None = None) -> WhatsAppError:
    """The error for a non-2xx Graph response: `{"error": {message, type, code, error_subcode,
    error_data: {details}, fbtrace_id, is_transient}}` (the bare inner object is accepted too)."""
    error = _error_object(body)
    code = _int(error.get("code"))
    data = error.get("error_data")
    details = _str(data.get("details")) if isinstance(data, Mapping) else ""
    message = _str(error.get("message")) or _str(error.get("title")) or f"HTTP {status}"
    cls = error_class(code, status, transient=error.get("is_transient") is True)
    fbtrace_id = _str(error.get("fbtrace_id"))
    text = f"{message} (code {code}, HTTP {status}" + (f", fbtrace_id {fbtrace_id})" if fbtrace_id else ")")
    return cls(text, code=code, subcode=_int(error.get("error_subcode")), status=status,
               retry_after=retry_after(headers), details=details, fbtrace_id=fbtrace_id,
               error_type=_str(error.get("type")))


def retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), if any."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _error_object(body: bytes | str | Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            return {"message": _snippet(body)}
    if not isinstance(body, Mapping):
        return {}
    inner = body.get("error")
    return dict(inner) if isinstance(inner, Mapping) else dict(body)


def _snippet(body: bytes | str) -> str:
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return " ".join(raw.split())[:200]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
