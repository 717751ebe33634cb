"""Phone numbers and secrets never reach the logs in clear.

`MaskingFilter` rewrites every log record (message, arguments, and `extra` fields) so that
digit runs that look like phone numbers keep only their first 3 and last 2 digits, and bearer
tokens, API keys and signatures show only their first 4 characters. It is installed on the root
handlers by `configure_logging`, so plugins' logs are masked too.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

_PHONE = re.compile(r"(?<![\w.])\+?\d[\d ]{6,17}\d(?![\w.])")
_SECRET = re.compile(
    r"(?i)(authorization[=:]\s*(?:bearer\s+|basic\s+)?|bearer\s+|access_token[=:]\s*|token[=:]\s*|api[_-]?key[=:]\s*|sha256=|secret[=:]\s*)"
    r"([A-Za-z0-9._\-~+/=]{4})[A-Za-z0-9._\-~+/=]*"
)


def mask_phone(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if len(digits) < 7:
        return text
    return f"{'+' if text.startswith('+') else ''}{digits[:3]}{'•' * (len(digits) - 5)}{digits[-2:]}"


def mask(text: str) -> str:
    text = _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}…", text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


class MaskingFilter(logging.Filter):
    _STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = mask(record.getMessage())
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            record.msg = mask(str(record.msg))
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in self._STANDARD and isinstance(value, str):
                setattr(record, key, mask(value))
        return True


def configure_logging(level: str | None = None) -> None:
    """Plain one-line logs on stderr, masked; the level from FLOWBOT_LOG_LEVEL (default info)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("FLOWBOT_LOG_LEVEL", "info")).upper())


def masked(value: Any) -> str:
    return mask(str(value))
