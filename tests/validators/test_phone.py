from __future__ import annotations

import pytest

from engine.messages import Inbound, Media
from engine.validators import Invalid, Valid, ValidationContext
from engine.validators.phone import validate_phone

KE = ValidationContext(region="KE")
NO_REGION = ValidationContext()


def text(t: str) -> Inbound:
    return Inbound(user="u1", text=t)


@pytest.mark.parametrize(
    ("answer", "ctx", "e164"),
    [
        ("0712 345 678", KE, "+254712345678"),
        ("0712-345-678", KE, "+254712345678"),
        ("+39 347 123 4567", KE, "+393471234567"),
        ("+39 347 123 4567", NO_REGION, "+393471234567"),
        ("254712345678", KE, "+254712345678"),
        ("254712345678", NO_REGION, "+254712345678"),  # a country code without the +
        ("00254712345678", KE, "+254712345678"),  # 00 for +, though Kenya dials 000
        ("+254 712 345 678 ext 5", KE, "+254712345678"),
    ],
)
def test_accepts(answer, ctx, e164):
    result = validate_phone({}, text(answer), ctx)
    assert isinstance(result, Valid), result
    assert result.value == e164


def test_shown_in_international_format():
    assert validate_phone({}, text("0712345678"), KE) == Valid("+254712345678", "+254 712 345678")


def test_spec_region_is_used_and_wins_over_context():
    assert validate_phone({"region": "IT"}, text("347 123 4567"), NO_REGION).value == "+393471234567"
    assert validate_phone({"region": "IT"}, text("347 123 4567"), KE).value == "+393471234567"


@pytest.mark.parametrize(
    ("answer", "ctx"),
    [
        ("12345", KE),
        ("abc", KE),
        ("", KE),
        ("0712 345 678", NO_REGION),  # national format with no region to read it in
        ("+254 12", KE),
        ("+999 712 345 678", KE),
    ],
)
def test_refuses(answer, ctx):
    assert validate_phone({}, text(answer), ctx) == Invalid("flowbot.invalid.phone.not_a_phone")


def test_media_is_not_a_phone():
    doc = Inbound(user="u1", kind="document", text="0712345678", media=Media(kind="document"))
    assert validate_phone({}, doc, KE) == Invalid("flowbot.invalid.phone.not_a_phone")
