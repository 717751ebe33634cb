"""Reading fields of untrusted webhook JSON without trusting their types.

A webhook body is attacker-reachable input until its signature is checked and may still be
odd after (new Graph versions add and change fields), so every read says what type it wants
and gets an empty value of that type otherwise, instead of raising.
"""

from __future__ import annotations

import math
from typing import Any


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def objs(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON array (other items dropped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def text(value: Any) -> str:
    """A string field; integers are accepted (ids and numbers sometimes arrive unquoted)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def number(value: Any) -> float | None:
    """A finite number from a JSON number or numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        candidate: float | None = _finite(value)
    elif isinstance(value, str):
        try:
            candidate = _finite(float(value.strip()))
        except ValueError:
            candidate = None
    else:
        candidate = None
    return candidate


def integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) <= 18:
            return int(digits)
    return None


def flag(value: Any) -> bool:
    return value is True


def error_info(error: dict[str, Any]) -> dict[str, Any]:
    """The useful part of a webhook error object (`code, title, message, error_data.details`)."""
    return {
        "code": integer(error.get("code")),
        "title": text(error.get("title")) or text(error.get("message")),
        "details": text(obj(error.get("error_data")).get("details")),
    }


def _finite(value: int | float) -> float | None:
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None
