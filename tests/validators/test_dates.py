from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from engine.messages import Inbound, Media
from engine.validators import Invalid, Valid, ValidationContext
from engine.validators.dates import parse_date, validate_date

# Monday 5 January 2026, 08:00 UTC = 11:00 in Nairobi (the FakeClock's default start).
NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


def ctx(lang: str = "en", now: datetime = NOW, tz: str = "Africa/Nairobi") -> ValidationContext:
    return ValidationContext(lang=lang, now=now, timezone=tz)


def text(t: str) -> Inbound:
    return Inbound(user="u1", text=t)


@pytest.mark.parametrize(
    ("answer", "lang", "expected"),
    [
        ("2026-11-25", "en", "2026-11-25"),
        ("25/11/2026", "en", "2026-11-25"),
        ("25.11.2026", "en", "2026-11-25"),
        ("25 Nov", "en", "2026-11-25"),
        ("tomorrow", "en", "2026-01-06"),
        ("today", "en", "2026-01-05"),
        ("next friday", "en", "2026-01-09"),
        ("in 3 days", "en", "2026-01-08"),
        ("kesho", "sw", "2026-01-06"),
        ("ijumaa", "sw", "2026-01-09"),
        ("domani", "it", "2026-01-06"),
        ("25 novembre 2026", "it", "2026-11-25"),
        ("mañana", "es", "2026-01-06"),
        ("நாளை", "ta", "2026-01-06"),
        ("tomorrow", "sw", "2026-01-06"),  # English is always understood too
        ("amanhã", "pt-BR", "2026-01-06"),
    ],
)
def test_accepts(answer, lang, expected):
    assert validate_date({}, text(answer), ctx(lang)).value == expected


@pytest.mark.parametrize("day", range(5, 12))  # Monday 5 .. Sunday 11 January
def test_next_friday_is_the_coming_friday(day):
    now = datetime(2026, 1, day, 9, 0, tzinfo=ZoneInfo("Africa/Nairobi"))
    found = parse_date("next Friday", ctx(now=now))
    assert found is not None and found.weekday() == 4
    assert 1 <= (found - now.date()).days <= 7


def test_yearless_date_that_is_today_is_today_not_next_year():
    # dateparser's PREFER_DATES_FROM=future gives 2027-01-05 for "5/1" said on 5 January
    assert validate_date({}, text("5/1"), ctx()).value == "2026-01-05"
    assert validate_date({}, text("Jan 5"), ctx()).value == "2026-01-05"
    assert validate_date({}, text("4/1"), ctx()).value == "2027-01-04"  # yesterday's: next year's


def test_today_is_the_bot_timezone_day():
    late = datetime(2026, 1, 5, 22, 30, tzinfo=timezone.utc)  # already 6 January in Nairobi
    assert validate_date({}, text("tomorrow"), ctx(now=late)).value == "2026-01-07"
    assert validate_date({}, text("5/1/2026"), ctx(now=late)) == Invalid("flowbot.invalid.date.in_past")
    assert validate_date({}, text("5/1/2026"), ctx(now=late, tz="UTC")).value == "2026-01-05"


@pytest.mark.parametrize("machine_tz", ["Pacific/Kiritimati", "America/Los_Angeles", "UTC"])
def test_the_machine_timezone_does_not_matter(monkeypatch, machine_tz):
    monkeypatch.setenv("TZ", machine_tz)
    time.tzset()
    try:
        assert validate_date({}, text("tomorrow"), ctx()).value == "2026-01-06"
        assert validate_date({}, text("in 3 days"), ctx()).value == "2026-01-08"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_past_dates():
    assert validate_date({}, text("yesterday"), ctx()) == Invalid("flowbot.invalid.date.in_past")
    assert validate_date({}, text("3 Jan 2026"), ctx()) == Invalid("flowbot.invalid.date.in_past")
    assert validate_date({"not_past": False}, text("3 Jan 2026"), ctx()).value == "2026-01-03"
    assert validate_date({"not_past": False}, text("12/06/1990"), ctx()).value == "1990-06-12"


def test_within():
    spec = {"within": "30d"}
    assert validate_date(spec, text("4 Feb 2026"), ctx()).value == "2026-02-04"
    assert validate_date(spec, text("5 Feb 2026"), ctx()) == Invalid(
        "flowbot.invalid.date.too_far", {"last": "February 4, 2026"}
    )
    assert validate_date(spec, text("5 Feb 2026"), ctx("sw")).params == {"last": "4 Februari 2026"}


def test_shown_in_full_in_the_users_language():
    assert validate_date({}, text("25/11/2026"), ctx()) == Valid("2026-11-25", "Wednesday, November 25, 2026")
    assert validate_date({}, text("25/11/2026"), ctx("it")).shown == "mercoledì 25 novembre 2026"


@pytest.mark.parametrize("answer", ["abc", "", "soon", "1767600000", "31/02/2026", "1230"])
def test_not_a_date(answer):
    assert validate_date({"not_past": False}, text(answer), ctx()) == Invalid("flowbot.invalid.date.not_a_date")


def test_media_is_not_a_date():
    photo = Inbound(user="u1", kind="image", text="tomorrow", media=Media(kind="image"))
    assert validate_date({}, photo, ctx()) == Invalid("flowbot.invalid.date.not_a_date")


def test_no_now_uses_the_current_utc_date():
    before = datetime.now(timezone.utc).date()
    result = validate_date({}, text("tomorrow"), ValidationContext())
    after = datetime.now(timezone.utc).date()
    assert result.value in {(before + timedelta(days=1)).isoformat(), (after + timedelta(days=1)).isoformat()}
    assert isinstance(date.fromisoformat(result.value), date)
