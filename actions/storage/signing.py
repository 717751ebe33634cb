"""Signed, expiring tokens for private media URLs (GET /media/<token>), on itsdangerous.

A token carries the object's public id and an absolute expiry time, signed with
HMAC-SHA256 under FLOWBOT_MEDIA_SECRET. Several comma-separated secrets rotate keys: the last
one signs, every one verifies. Expiry is checked against an injected clock, so tests move
time instead of sleeping.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from engine.clock import Clock

SALT = "flowbot.media.v1"
MIN_SECRET = 16


class TokenRefused(Exception):
    """A token that does not open anything. `public_id` is set when the signature was good
    (an expired URL of a real object), so the refusal can be logged against the object."""

    def __init__(self, outcome: str, public_id: str | None = None) -> None:
        super().__init__(outcome)
        self.outcome = outcome  # expired | bad_signature
        self.public_id = public_id


class MediaSecretMissing(RuntimeError):
    pass


class UrlSigner:
    def __init__(self, secrets: Sequence[str], clock: Clock | None = None) -> None:
        keys = [s for s in secrets if s]
        if not keys:
            raise MediaSecretMissing("private media URLs need a secret: set FLOWBOT_MEDIA_SECRET (a random string "
                                     "of 32 or more characters, the same for every flowbot process)")
        if any(len(k) < MIN_SECRET for k in keys):
            raise MediaSecretMissing(f"FLOWBOT_MEDIA_SECRET is too short: use {MIN_SECRET} characters or more")
        self.clock = clock or Clock()
        self._serializer = URLSafeSerializer(keys, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})

    @classmethod
    def from_env(cls, clock: Clock | None = None) -> UrlSigner:
        return cls([s.strip() for s in os.environ.get("FLOWBOT_MEDIA_SECRET", "").split(",")], clock)

    def sign(self, public_id: str, ttl: float) -> tuple[str, float]:
        """A token for `public_id` valid for `ttl` seconds from now, and when it expires."""
        expires = int(self.clock.now() + ttl) + 1  # whole seconds, never shorter than asked
        return str(self._serializer.dumps({"m": public_id, "x": expires})), float(expires)

    def verify(self, token: str) -> str:
        """The public id a token opens; TokenRefused when it is forged, altered or expired."""
        try:
            payload: Any = self._serializer.loads(token)
        except BadSignature:
            raise TokenRefused("bad_signature") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("m"), str) or not isinstance(payload.get("x"), int):
            raise TokenRefused("bad_signature")
        if self.clock.now() >= payload["x"]:
            raise TokenRefused("expired", payload["m"])
        return str(payload["m"])
