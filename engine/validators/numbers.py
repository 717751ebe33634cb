"""Whole and decimal numbers as people type them, in their own locale's notation.

Parsing is strict: babel's lenient mode silently reads a misplaced separator as a group
separator ("12,5" becomes 125 in English), which is the wrong answer for a bot that stores
what it heard. A number that is not well formed in the user's locale is tried in English
notation, then in decimal-comma notation: a separator that cannot be grouping there is
unambiguous, so "12.5" from an Italian user is 12.5, never 125.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberFormatError, format_decimal, parse_decimal

from engine.messages import Inbound
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec

_SHAPE = re.compile(r"[+-]?\d[\d.,]*")  # also keeps out NaN, Infinity, 1e3, 1_000
_SPACE_GROUP = re.compile(r"(?<=\d)[ \u00a0\u202f'’](?=\d{3}(?!\d))")  # "1 200", "1'200"
_INDIAN = re.compile(r"[+-]?\d{1,2}(?:,\d{2})+,\d{3}(?:\.\d+)?")  # 1,20,000 (lakh grouping)
_MAX_CHARS = 30

TEXT_KINDS = frozenset({"text", "button", "list"})


@lru_cache(maxsize=64)
def babel_locale(lang: str) -> Locale:
    """The babel locale for a language tag ("sw", "pt-BR"); English when babel has none."""
    try:
        return Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


def parse_number(text: str, lang: str) -> Decimal | None:
    """The number in `text` (nothing else around it), or None."""
    s = _SPACE_GROUP.sub("", text.strip().replace("\u2212", "-"))
    if len(s) > _MAX_CHARS or not _SHAPE.fullmatch(s):
        return None
    if _INDIAN.fullmatch(s):
        return Decimal(s.replace(",", ""))
    for loc in dict.fromkeys((str(babel_locale(lang)), "en", "it")):
        try:
            return parse_decimal(s, locale=loc, strict=True)
        except NumberFormatError:
            continue
    return None


def format_number(value: Decimal | float, lang: str, places: int | None = None) -> str:
    """`value` in the user's notation; with `places`, exactly that many decimals."""
    if places is not None:
        pattern = "#,##0" + ("." + "0" * places if places else "")
        return format_decimal(value, format=pattern, locale=babel_locale(lang))
    return format_decimal(value, locale=babel_locale(lang), decimal_quantization=False)


def check_bounds(
    kind: str, value: Decimal, spec: Mapping[str, Any], shown: Callable[[Decimal], str]
) -> Invalid | None:
    """too_small/too_big against the spec's min/max; `shown` formats the bound for the user."""
    if spec.get("min") is not None and value < Decimal(str(spec["min"])):
        return Invalid(f"flowbot.invalid.{kind}.too_small", {"min": shown(Decimal(str(spec["min"])))})
    if spec.get("max") is not None and value > Decimal(str(spec["max"])):
        return Invalid(f"flowbot.invalid.{kind}.too_big", {"max": shown(Decimal(str(spec["max"])))})
    return None


def validate_integer(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    number = parse_number(inbound.text, ctx.lang) if inbound.kind in TEXT_KINDS else None
    if number is None:
        return Invalid("flowbot.invalid.integer.not_a_number")
    if number != number.to_integral_value():
        return Invalid("flowbot.invalid.integer.not_whole")
    bad = check_bounds("integer", number, spec, lambda d: format_number(d, ctx.lang))
    if bad is not None:
        return bad
    value = int(number)
    return Valid(value, format_number(value, ctx.lang))


def validate_decimal(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    number = parse_number(inbound.text, ctx.lang) if inbound.kind in TEXT_KINDS else None
    if number is None:
        return Invalid("flowbot.invalid.decimal.not_a_number")
    places = spec.get("places")
    if places is not None:
        # trailing zeros are not extra precision: 12.500 is fine with places: 2
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            return Invalid("flowbot.invalid.decimal.too_many_places", {"places": places})
        number = number.quantize(Decimal(1).scaleb(-places))
    bad = check_bounds("decimal", number, spec, lambda d: format_number(d, ctx.lang))
    if bad is not None:
        return bad
    value = str(number) if places is not None else f"{number.normalize():f}"
    return Valid(value, format_number(Decimal(value), ctx.lang, places))


CONFIRM = {"type": "boolean", "default": False, "description": "ask back before storing"}
_BOUND = {"type": ["number", "string"], "pattern": r"^-?\d+(\.\d+)?$"}

INTEGER = ValidatorSpec(
    "integer",
    validate_integer,
    {
        "min": {"type": "integer", "description": "smallest accepted value"},
        "max": {"type": "integer", "description": "largest accepted value"},
        "confirm": CONFIRM,
    },
)
DECIMAL = ValidatorSpec(
    "decimal",
    validate_decimal,
    {
        "min": {**_BOUND, "description": "smallest accepted value"},
        "max": {**_BOUND, "description": "largest accepted value"},
        "places": {"type": "integer", "minimum": 0, "description": "most decimals accepted; the value is stored with exactly this many"},
        "confirm": CONFIRM,
    },
)
