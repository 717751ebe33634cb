"""The webhook subscription handshake: Meta's `GET ?hub.mode=subscribe&hub.verify_token=...`.

Meta calls the callback URL whenever the URL or the verify token is edited in the App Dashboard
and expects `hub.challenge` echoed back with 200; anything else fails the subscription.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def answer_challenge(query: Mapping[str, str], verify_token: str) -> str | None:
    """The body to answer (the challenge), or None when the request must get 403.

    None when no verify token is configured, the mode is not `subscribe`, a parameter is
    missing, or the token differs (compared in constant time).
    """
    if not verify_token or query.get("hub.mode") != "subscribe":
        return None
    token = query.get("hub.verify_token")
    challenge = query.get("hub.challenge")
    if not isinstance(token, str) or not isinstance(challenge, str):
        return None
    if not hmac.compare_digest(token.encode("utf-8"), verify_token.encode("utf-8")):
        return None
    return challenge
