"""Calendar dates in the user's words: "25/11/2026", "tomorrow", "next friday", "kesho".

dateparser does the reading, with every setting that depends on the machine made explicit
(base time, timezone, day order), so the same answer gives the same date anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import dateparser
from babel.dates import format_date
from dateparser.data import languages_info

from engine.flow.durations import parse_duration
from engine.messages import Inbound
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec
from engine.validators.numbers import CONFIRM, TEXT_KINDS, babel_locale

_SUPPORTED = frozenset(languages_info.language_order)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NEXT_WEEKDAY = re.compile(r"(?:next|coming)\s+(" + "|".join(_WEEKDAYS) + r")", re.IGNORECASE)
# Not the timestamp parser: a long number is a mistyped phone number, not seconds since 1970.
_PARSERS = ["relative-time", "custom-formats", "absolute-time", "no-spaces-time"]
_OLDEST_YEARS = 150
_LATEST_YEARS = 100


def local_now(ctx: ValidationContext) -> datetime:
    """The context's time as a naive datetime in the bot's timezone."""
    now = ctx.now or datetime.now(timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(ZoneInfo(ctx.timezone)).replace(tzinfo=None)
    return now


def _languages(lang: str) -> list[str]:
    base = lang.replace("_", "-").split("-")[0].lower()
    return [code for code in dict.fromkeys((base, "en")) if code in _SUPPORTED]


def _parse(text: str, languages: list[str], base: datetime, ctx: ValidationContext, prefer: str) -> datetime | None:
    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": prefer,
        "DATE_ORDER": "DMY",
        "TIMEZONE": ctx.timezone,
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PARSERS": _PARSERS,
    }
    try:
        return dateparser.parse(text, languages=languages, settings=settings)
    except (ValueError, OverflowError):
        return None


def parse_date(text: str, ctx: ValidationContext) -> date | None:
    """The date `text` means, seen from the context's now; None when it is not a date."""
    text = text.strip()
    base = local_now(ctx)
    today = base.date()
    nxt = _NEXT_WEEKDAY.fullmatch(text)
    if nxt:  # the coming one, 1 to 7 days ahead, whatever dateparser's version thinks
        ahead = (_WEEKDAYS.index(nxt[1].lower()) - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    languages = _languages(ctx.lang)
    found = _parse(text, languages, base, ctx, "future")
    if found is None:
        return None
    day = found.date()
    if day > today and any(c.isdigit() for c in text):
        # "5/1" said on 5 January: dateparser's future is strictly after now, so it gives
        # next year's. A yearless date that is today means today.
        current = _parse(text, languages, base, ctx, "current_period")
        if current is not None and current.date() == today:
            day = today
    if not today.year - _OLDEST_YEARS <= day.year <= today.year + _LATEST_YEARS:
        return None
    return day


def validate_date(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    day = parse_date(inbound.text, ctx) if inbound.kind in TEXT_KINDS else None
    if day is None:
        return Invalid("flowbot.invalid.date.not_a_date")
    today = local_now(ctx).date()
    locale = babel_locale(ctx.lang)
    if spec.get("not_past", True) and day < today:
        return Invalid("flowbot.invalid.date.in_past")
    if spec.get("within") is not None:
        last = (datetime.combine(today, time()) + timedelta(seconds=parse_duration(spec["within"]))).date()
        if day > last:
            return Invalid("flowbot.invalid.date.too_far", {"last": format_date(last, "long", locale=locale)})
    return Valid(day.isoformat(), format_date(day, "full", locale=locale))


DATE = ValidatorSpec(
    "date",
    validate_date,
    {
        "not_past": {"type": "boolean", "default": True, "description": "refuse dates before today"},
        "within": {
            "type": "string",
            "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$",
            "description": "a duration (30d): refuse dates later than today plus this",
        },
        "confirm": CONFIRM,
    },
)
