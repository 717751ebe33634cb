from __future__ import annotations

from decimal import Decimal

import pytest

from engine.messages import Inbound, Media
from engine.validators import Invalid, Valid, ValidationContext
from engine.validators.numbers import parse_number, validate_decimal, validate_integer

EN = ValidationContext(lang="en")
IT = ValidationContext(lang="it")


def text(t: str) -> Inbound:
    return Inbound(user="u1", text=t)


@pytest.mark.parametrize(
    ("answer", "lang", "expected"),
    [
        ("12", "en", Decimal("12")),
        (" 12 ", "en", Decimal("12")),
        ("1,200", "en", Decimal("1200")),
        ("1.200", "it", Decimal("1200")),
        ("12,5", "it", Decimal("12.5")),
        ("1,200.50", "en", Decimal("1200.50")),
        ("1.200,50", "es", Decimal("1200.50")),
        ("1 200", "fr", Decimal("1200")),  # a plain space where French uses a narrow no-break one
        ("1,20,000", "ta", Decimal("120000")),  # lakh grouping
        ("12.5", "it", Decimal("12.5")),  # a dot that cannot be grouping is a decimal point
        ("12,5", "en", Decimal("12.5")),  # and so is a comma
        ("-3", "en", Decimal("-3")),
        ("12", "xx-nowhere", Decimal("12")),  # unknown locale: English
    ],
)
def test_parse_number(answer, lang, expected):
    assert parse_number(answer, lang) == expected


@pytest.mark.parametrize("answer", ["abc", "", "12 apples", "NaN", "Infinity", "1e3", "1_000", "1" * 40, "1,2,3.4.5"])
def test_parse_number_refuses(answer):
    assert parse_number(answer, "en") is None


def test_lenient_babel_misreading_is_avoided():
    # babel's non-strict parse reads "12,5" in English as 125
    assert parse_number("12,5", "en") != Decimal("125")


@pytest.mark.parametrize(("answer", "value"), [("12", 12), (" 12 ", 12), ("1,200", 1200), ("12.0", 12), ("0", 0)])
def test_integer_accepts(answer, value):
    result = validate_integer({}, text(answer), EN)
    assert isinstance(result, Valid) and result.value == value and type(result.value) is int


def test_integer_shown_in_locale():
    assert validate_integer({}, text("1200"), EN).shown == "1,200"
    assert validate_integer({}, text("1200"), IT).shown == "1.200"


def test_integer_refuses():
    assert validate_integer({}, text("12.5"), EN) == Invalid("flowbot.invalid.integer.not_whole")
    assert validate_integer({}, text("abc"), EN) == Invalid("flowbot.invalid.integer.not_a_number")
    photo = Inbound(user="u1", kind="image", text="12", media=Media(kind="image"))
    assert validate_integer({}, photo, EN) == Invalid("flowbot.invalid.integer.not_a_number")


def test_integer_bounds():
    spec = {"min": 1, "max": 2000}
    assert validate_integer(spec, text("0"), EN) == Invalid("flowbot.invalid.integer.too_small", {"min": "1"})
    assert validate_integer(spec, text("2001"), EN) == Invalid("flowbot.invalid.integer.too_big", {"max": "2,000"})
    assert validate_integer(spec, text("1"), EN).value == 1
    assert validate_integer(spec, text("2,000"), EN).value == 2000


@pytest.mark.parametrize(
    ("answer", "ctx", "spec", "value", "shown"),
    [
        ("12,5", IT, {}, "12.5", "12,5"),
        ("1,200.50", EN, {}, "1200.5", "1,200.5"),
        ("1200", EN, {}, "1200", "1,200"),  # not "1.2E+3"
        ("12.5", EN, {"places": 2}, "12.50", "12.50"),
        ("12,5", IT, {"places": 2}, "12.50", "12,50"),
        ("12.500", EN, {"places": 2}, "12.50", "12.50"),  # trailing zeros are not extra places
        ("7", EN, {"places": 0}, "7", "7"),
        ("0.123456", EN, {}, "0.123456", "0.123456"),  # shown unrounded
    ],
)
def test_decimal_accepts(answer, ctx, spec, value, shown):
    assert validate_decimal(spec, text(answer), ctx) == Valid(value, shown)


def test_decimal_refuses():
    assert validate_decimal({"places": 2}, text("12.505"), EN) == Invalid("flowbot.invalid.decimal.too_many_places", {"places": 2})
    assert validate_decimal({}, text("twelve"), EN) == Invalid("flowbot.invalid.decimal.not_a_number")


def test_decimal_bounds_are_shown_in_locale():
    spec = {"min": "0.5", "max": 99.5}
    assert validate_decimal(spec, text("0,4"), IT) == Invalid("flowbot.invalid.decimal.too_small", {"min": "0,5"})
    assert validate_decimal(spec, text("100"), EN) == Invalid("flowbot.invalid.decimal.too_big", {"max": "99.5"})
    assert validate_decimal(spec, text("99.5"), EN).value == "99.5"
