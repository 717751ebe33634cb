from __future__ import annotations

import pytest

from engine.messages import Inbound, Media
from engine.validators import Invalid, Valid, ValidationContext
from engine.validators.money import validate_money

KES_EN = ValidationContext(lang="en", currency="KES")
KES_SW = ValidationContext(lang="sw", currency="KES")
EUR_IT = ValidationContext(lang="it", currency="EUR")


def text(t: str) -> Inbound:
    return Inbound(user="u1", text=t)


def kes(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "KES"}


@pytest.mark.parametrize(
    ("answer", "amount"),
    [
        ("1500", "1500.00"),
        ("1,500", "1500.00"),
        ("KES 1,500", "1500.00"),
        ("kes1500", "1500.00"),
        ("1500 ksh", "1500.00"),
        ("1500 Kshs.", "1500.00"),
        ("Ksh1,500.50", "1500.50"),
        ("1500/=", "1500.00"),
        ("sh 200", "200.00"),
        ("1.5k", "1500.00"),
        ("2k", "2000.00"),
        ("2K ksh", "2000.00"),
        ("1.2m", "1200000.00"),
        ("12.505", "12.51"),  # quantized to the currency's minor digits
    ],
)
def test_accepts_kes(answer, amount):
    result = validate_money({}, text(answer), KES_EN)
    assert isinstance(result, Valid), result
    assert result.value == kes(amount)


def test_italian_notation_and_euro_sign():
    assert validate_money({}, text("€12,50"), EUR_IT) == Valid({"amount": "12.50", "currency": "EUR"}, "12,50\xa0€")
    assert validate_money({}, text("1,5k"), EUR_IT).value == {"amount": "1500.00", "currency": "EUR"}
    assert validate_money({}, text("12 euro"), EUR_IT).value == {"amount": "12.00", "currency": "EUR"}


def test_shown_with_the_locale_currency_format():
    assert validate_money({}, text("1500"), KES_EN).shown == "KES1,500.00"
    assert validate_money({}, text("1500"), KES_SW).shown == "Ksh\xa01,500.00"


def test_currency_precision_zero_digits():
    ctx = ValidationContext(lang="en", currency="UGX")
    assert validate_money({}, text("1,500.4"), ctx).value == {"amount": "1500", "currency": "UGX"}


def test_spec_currency_overrides_context():
    assert validate_money({"currency": "USD"}, text("$20"), KES_EN).value == {"amount": "20.00", "currency": "USD"}


@pytest.mark.parametrize("answer", ["USD 5", "$5", "5 €", "5 tsh", "£3"])
def test_another_currency_is_refused(answer):
    assert validate_money({}, text(answer), KES_EN) == Invalid("flowbot.invalid.money.wrong_currency", {"currency": "KES"})


@pytest.mark.parametrize("answer", ["-5", "KES -5", "-KES 5", "−200"])
def test_negatives_are_refused(answer):
    assert validate_money({}, text(answer), KES_EN) == Invalid("flowbot.invalid.money.negative")


@pytest.mark.parametrize("answer", ["abc", "", "1500 apples", "5 - 10", "2 km"])
def test_not_an_amount(answer):
    assert validate_money({}, text(answer), KES_EN) == Invalid("flowbot.invalid.money.not_an_amount")


def test_media_is_not_an_amount():
    photo = Inbound(user="u1", kind="image", text="1500", media=Media(kind="image"))
    assert validate_money({}, photo, KES_EN) == Invalid("flowbot.invalid.money.not_an_amount")


def test_bounds_are_shown_as_money():
    spec = {"min": 100, "max": "50000"}
    assert validate_money(spec, text("99"), KES_EN) == Invalid("flowbot.invalid.money.too_small", {"min": "KES100.00"})
    assert validate_money(spec, text("50k"), KES_EN).value == kes("50000.00")
    assert validate_money(spec, text("50,001"), KES_EN) == Invalid("flowbot.invalid.money.too_big", {"max": "KES50,000.00"})


def test_no_currency_anywhere_is_a_configuration_error():
    with pytest.raises(ValueError, match="currency"):
        validate_money({}, text("1500"), ValidationContext())
