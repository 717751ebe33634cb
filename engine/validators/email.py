"""Email addresses: checked for shape only (no DNS lookups: validation must be offline and
deterministic), stored normalized (the domain lowercased, Unicode normalized)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email

from engine.messages import Inbound
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec
from engine.validators.numbers import CONFIRM, TEXT_KINDS


def validate_email_address(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    text = inbound.text.strip()
    if inbound.kind not in TEXT_KINDS or not text:
        return Invalid("flowbot.invalid.email.not_an_email")
    try:
        address = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return Invalid("flowbot.invalid.email.not_an_email")
    return Valid(address, address)


EMAIL = ValidatorSpec("email", validate_email_address, {"confirm": CONFIRM})
