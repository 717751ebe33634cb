"""`X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth token, of the full URL Twilio
called followed by every POST parameter's name and value, names sorted.

Mirrors twilio-python's `RequestValidator` (tests/fixtures/twilio/SIGNATURE.md): values of a
repeated name are sorted and exact duplicates dropped, and a signature is accepted whether
Twilio computed it over the URL with its port removed or with the default port added, because
Twilio's own back end is inconsistent about it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature(url: str, params: Mapping[str, str | Sequence[str]], auth_token: str) -> str:
    """The signature Twilio sends for a request to `url` carrying the form `params`."""
    parts = [url]
    for name in sorted(set(params)):
        value = params[name]
        values = [value] if isinstance(value, str) else value
        parts.extend(name + v for v in sorted(set(values)))
    digest = hmac.new(auth_token.encode(), "".join(parts).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """`url` as configured, without its port, and with the scheme's default port added."""
    variants = [url]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return variants
    if port is not None:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])))
    elif parts.scheme in DEFAULT_PORTS and parts.netloc:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{DEFAULT_PORTS[parts.scheme]}")))
    return variants


def signature_matches(signature: str, url: str, params: Mapping[str, str | Sequence[str]], auth_token: str) -> bool:
    """True if `signature` is Twilio's for this request (compared in constant time)."""
    given = signature.encode("utf-8", "replace")
    return any(
        hmac.compare_digest(twilio_signature(variant, params, auth_token).encode("ascii"), given)
        for variant in url_variants(url)
    )
