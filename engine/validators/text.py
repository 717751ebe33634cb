"""Free text: trimmed, with optional length limits and a pattern the whole answer must match."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.messages import Inbound
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec
from engine.validators.numbers import CONFIRM, TEXT_KINDS


def validate_text(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    # A tapped button or list row is text too: its title is in inbound.text. A photo with a
    # caption is not: the question asked for words.
    if inbound.kind not in TEXT_KINDS:
        return Invalid("flowbot.invalid.text.not_text")
    text = inbound.text.strip()
    if not text:
        return Invalid("flowbot.invalid.text.empty")
    min_length, max_length = spec.get("min_length"), spec.get("max_length")
    if min_length is not None and len(text) < min_length:
        return Invalid("flowbot.invalid.text.too_short", {"min_length": min_length})
    if max_length is not None and len(text) > max_length:
        return Invalid("flowbot.invalid.text.too_long", {"max_length": max_length})
    pattern = spec.get("pattern")
    if pattern is not None and re.fullmatch(pattern, text) is None:
        return Invalid("flowbot.invalid.text.wrong_format")
    return Valid(text, text)


TEXT = ValidatorSpec(
    "text",
    validate_text,
    {
        "min_length": {"type": "integer", "minimum": 0, "description": "fewest characters accepted"},
        "max_length": {"type": "integer", "minimum": 1, "description": "most characters accepted"},
        "pattern": {
            "type": "string",
            "format": "regex",
            "description": "a Python regular expression the whole (trimmed) answer must match",
        },
        "confirm": CONFIRM,
    },
)
