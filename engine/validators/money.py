"""Amounts of money: "1500", "KES 1,500", "1500 ksh", "Ksh1,500.50", "€12,50", "1.5k".

The currency is the bot's (the step's `currency`, else the context's). A user may name it in
any of its usual spellings; naming another currency is refused rather than converted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from babel.numbers import format_currency, get_currency_precision, get_currency_symbol, list_currencies

from engine.messages import Inbound
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec
from engine.validators.numbers import CONFIRM, TEXT_KINDS, babel_locale, check_bounds, parse_number

_AMOUNT = re.compile(
    r"(?P<pre>\D*?)\s*(?P<num>\d(?:[\d.,'\u00a0\u202f ]*\d)?)\s*(?P<mult>[kKmM](?![^\W\d_]))?(?P<post>\D*)"
)
_MULTIPLIERS = {"k": Decimal(1000), "m": Decimal(1_000_000)}
_NOISE = re.compile(r"^[\s/=.,:+-]+|[\s/=.,:]+$")  # "1500/=" is East African for "shillings"
_SHILLINGS = {"KES", "TZS", "UGX", "SOS"}
# Everyday spellings babel does not list as symbols; each maps to the currencies it can mean.
_ALIASES: dict[str, set[str]] = {
    "ksh": {"KES"}, "kshs": {"KES"}, "kes": {"KES"}, "bob": {"KES"},
    "sh": _SHILLINGS, "shs": _SHILLINGS, "shilingi": _SHILLINGS, "shillings": _SHILLINGS,
    "tsh": {"TZS"}, "tshs": {"TZS"}, "ush": {"UGX"}, "ushs": {"UGX"},
    "$": {"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"}, "us$": {"USD"},
    "dollar": {"USD"}, "dollars": {"USD"}, "€": {"EUR"}, "euro": {"EUR"}, "euros": {"EUR"},
    "£": {"GBP"}, "₹": {"INR"}, "rs": {"INR", "LKR", "PKR"}, "rupees": {"INR", "LKR", "PKR"},
    "¥": {"JPY", "CNY"}, "₦": {"NGN"}, "r$": {"BRL"}, "reais": {"BRL"},
}


def _currencies_named(token: str, lang: str, wanted: str) -> set[str]:
    """Which currencies `token` can name (empty when it names none)."""
    t = token.casefold()
    found = set(_ALIASES.get(t, ()))
    if len(t) == 3 and t.isalpha() and t.upper() in list_currencies():
        found.add(t.upper())
    for loc in (str(babel_locale(lang)), "en"):
        if get_currency_symbol(wanted, loc).casefold() == t:
            found.add(wanted)
    return found


def validate_money(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    currency = str(spec.get("currency") or ctx.currency or "").upper()
    if not currency:
        raise ValueError("a money validator needs a currency (on the step or in bot settings)")
    match = _AMOUNT.fullmatch(inbound.text.strip()) if inbound.kind in TEXT_KINDS else None
    if match is None:
        return Invalid("flowbot.invalid.money.not_an_amount")
    pre, post = match["pre"], match["post"]
    if re.search(r"[-\u2212]", pre):
        return Invalid("flowbot.invalid.money.negative")
    for token in (_NOISE.sub("", pre), _NOISE.sub("", post)):
        if not token:
            continue
        named = _currencies_named(token, ctx.lang, currency)
        if not named:
            return Invalid("flowbot.invalid.money.not_an_amount")
        if currency not in named:
            return Invalid("flowbot.invalid.money.wrong_currency", {"currency": currency})
    number = parse_number(match["num"], ctx.lang)
    if number is None:
        return Invalid("flowbot.invalid.money.not_an_amount")
    if match["mult"]:
        number *= _MULTIPLIERS[match["mult"].lower()]
    amount = number.quantize(Decimal(1).scaleb(-get_currency_precision(currency)), ROUND_HALF_UP)
    locale = babel_locale(ctx.lang)
    bad = check_bounds("money", amount, spec, lambda d: format_currency(d, currency, locale=locale))
    if bad is not None:
        return bad
    return Valid(
        {"amount": str(amount), "currency": currency},
        format_currency(amount, currency, locale=locale),
    )


_BOUND = {"type": ["number", "string"], "pattern": r"^\d+(\.\d+)?$"}

MONEY = ValidatorSpec(
    "money",
    validate_money,
    {
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code; default: the bot's currency setting"},
        "min": {**_BOUND, "description": "smallest accepted amount"},
        "max": {**_BOUND, "description": "largest accepted amount"},
        "confirm": {**CONFIRM, "default": True},
    },
)
