"""The `X-Hub-Signature-256` check on WhatsApp webhooks.

Meta signs the raw request body: `sha256=` + lowercase hex HMAC-SHA256(app secret, body bytes).
It escapes non-ASCII characters as `\\uXXXX` before signing and sends that escaped form on the
wire, so the digest must be taken over the bytes exactly as received; a body decoded and
re-serialized (or one carrying raw UTF-8) gives another digest.
"""

from __future__ import annotations

import hashlib
import hmac
import string

_PREFIX = "sha256="
_HEX = frozenset(string.hexdigits)


def signature_header(app_secret: str, body: bytes) -> str:
    """The header value Meta would send for `body` (for tests, fakes and replay tools)."""
    return _PREFIX + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is a valid `sha256=<hex>` signature of `body` under `app_secret`.

    False for a missing secret, a missing or malformed header, or a wrong digest; the digest
    comparison runs in constant time.
    """
    if not app_secret or not header:
        return False
    header = header.strip()
    if header[: len(_PREFIX)].lower() != _PREFIX:
        return False
    digest = header[len(_PREFIX):].strip().lower()
    if len(digest) != 64 or not _HEX.issuperset(digest):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest)
