"""The built-in input validators, by type name, and the dispatcher over them.

Plugin validators (`<module>.<name>`) are resolved by the runtime, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.messages import Inbound
from engine.validators._base import (
    Invalid,
    Outcome,
    Valid,
    ValidationContext,
    Validator,
    ValidatorSpec,
)
from engine.validators.dates import DATE
from engine.validators.email import EMAIL
from engine.validators.location import LOCATION
from engine.validators.media import MEDIA
from engine.validators.money import MONEY
from engine.validators.numbers import DECIMAL, INTEGER
from engine.validators.phone import PHONE
from engine.validators.text import TEXT
from engine.validators.yesno import YESNO, yes_no

BUILTIN: dict[str, ValidatorSpec] = {
    spec.name: spec for spec in (TEXT, INTEGER, DECIMAL, MONEY, DATE, PHONE, EMAIL, YESNO, MEDIA, LOCATION)
}


def validate(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    """Check `inbound` against the built-in validator `spec["type"]` names.

    Raises KeyError for a type that is not built in (plugins are looked up elsewhere).
    """
    kind = spec["type"]
    if kind not in BUILTIN:
        raise KeyError(f"no built-in validator {kind!r} (built in: {', '.join(BUILTIN)})")
    return BUILTIN[kind].fn(spec, inbound, ctx)


__all__ = [
    "BUILTIN",
    "Invalid",
    "Outcome",
    "Valid",
    "ValidationContext",
    "Validator",
    "ValidatorSpec",
    "validate",
    "yes_no",
]
