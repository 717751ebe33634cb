"""Phone numbers, stored in E.164 (`+254712345678`) whatever way they were typed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from engine.messages import Inbound
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec
from engine.validators.numbers import CONFIRM, TEXT_KINDS

_DIGITS_ONLY = re.compile(r"\d{8,15}")


def _candidates(text: str) -> list[str]:
    """The text, then readings of common slips: "00" or a bare country code without "+"."""
    compact = re.sub(r"[\s().-]", "", text)
    found = [text]
    if compact.startswith("00"):
        found.append("+" + compact[2:])
    elif _DIGITS_ONLY.fullmatch(compact):
        found.append("+" + compact)
    return found


def parse_phone(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """A valid number for `text`, numbers without "+" read as in `region`; else None."""
    for candidate in _candidates(text.strip()):
        try:
            number = phonenumbers.parse(candidate, region)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


def validate_phone(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    region = spec.get("region") or ctx.region
    number = parse_phone(inbound.text, region.upper() if region else None) if inbound.kind in TEXT_KINDS else None
    if number is None:
        return Invalid("flowbot.invalid.phone.not_a_phone")
    return Valid(
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
    )


PHONE = ValidatorSpec(
    "phone",
    validate_phone,
    {
        "region": {
            "type": "string",
            "pattern": "^[A-Z]{2}$",
            "description": "ISO 3166 region for numbers typed without +, e.g. KE; default: the bot's",
        },
        "confirm": CONFIRM,
    },
)
