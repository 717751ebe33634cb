"""Durations (`1h30m`, `22h`, `7d`) and sizes (`500KB`, `5MB`) as flow authors write them."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)$", re.IGNORECASE)
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration; a bare number is seconds. Raises ValueError when malformed."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, (int, float)):
        return float(text)
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"not a duration: {text!r} (write it like 30s, 15m, 1h, 1h30m or 7d)")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return float(days * 86400 + hours * 3600 + minutes * 60 + seconds)


def parse_size(text: str | int) -> int:
    """Bytes in a size such as `5MB`; a bare number is bytes. Raises ValueError when malformed."""
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, int):
        return text
    match = _SIZE.match(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (write it like 500KB or 5MB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])
