"""The demo bot's plugin (actions/demo.py): deterministic fake actions and the promo-code validator."""

from __future__ import annotations

import inspect
import re
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from actions import demo
from engine.flow import limits
from engine.i18n.catalog import read_catalog
from engine.messages import Inbound, Media
from engine.runtime.actions import ActionContext, ActionResult, Plugins, call, idempotency_key
from engine.validators import Invalid, Valid, ValidationContext

ROOT = Path(__file__).resolve().parents[2]
MONDAY, SATURDAY, SUNDAY = date(2026, 1, 5), date(2026, 1, 10), date(2026, 1, 11)


def ctx(lang: str = "en", key: str = "k" * 32) -> ActionContext:
    return ActionContext(bot="demo", user="254700000001", lang=lang, slots={}, settings={"currency": "KES"},
                         idempotency_key=key, flow="booking", step="reserve")


def text(value: str) -> Inbound:
    return Inbound(user="254700000001", text=value)


# ----- the module as the engine loads it


def test_plugins_load_declares_every_action_and_the_validator():
    plugins = Plugins.load(["demo"])
    assert set(plugins.actions) == {"demo.available_slots", "demo.reserve_slot", "demo.track"}
    assert set(plugins.validators) == {"demo.order_code"}
    assert plugins.actions["demo.available_slots"].outcomes == ("ok", "none")
    assert plugins.actions["demo.reserve_slot"].outcomes == ("ok", "full")
    assert plugins.actions["demo.track"].outcomes == ("found", "not_found")


@pytest.mark.parametrize("action", demo.ACTIONS, ids=lambda a: a.name)
def test_declared_args_are_json_schema_and_match_the_function(action):
    jsonschema.Draft202012Validator.check_schema({"type": "object", "properties": dict(action.args)})
    params = inspect.signature(action.fn).parameters
    assert list(params)[0] == "ctx"
    assert set(action.args) == set(list(params)[1:])
    assert all("description" in prop for prop in action.args.values())


def test_validator_options_are_json_schema():
    spec = demo.VALIDATORS[0]
    jsonschema.Draft202012Validator.check_schema({"type": "object", "properties": dict(spec.options)})


# ----- demo.available_slots


def test_weekdays_have_twelve_half_hour_slots_saturday_six_sunday_none():
    weekday = demo.slots_for(MONDAY)
    assert len(weekday) == 12 > limits.LIST_ROWS  # the list pages with "More"
    assert weekday[0] == {"id": "08:00", "title": "08:00–08:30", "description": "Morning"}
    assert weekday[-1] == {"id": "16:30", "title": "16:30–17:00", "description": "Afternoon"}
    assert [s["id"] for s in demo.slots_for(SATURDAY)] == list(demo.MORNING)
    assert demo.slots_for(SUNDAY) == []


def test_rows_fit_whatsapp_limits_in_every_language():
    for lang in ("en", "sw"):
        for slot in demo.slots_for(MONDAY, lang):
            assert len(slot["title"]) <= limits.ROW_TITLE
            assert len(slot["description"]) <= limits.ROW_DESCRIPTION
            assert len(slot["id"]) <= limits.ROW_ID


async def test_available_slots_outcomes_and_exclude():
    result = await demo.available_slots(ctx(), day="2026-01-05")
    assert result.outcome == "ok" and len(result.data["slots"]) == 12
    fewer = await demo.available_slots(ctx(), day="2026-01-05", exclude="16:30")
    assert len(fewer.data["slots"]) == 11 and "16:30" not in {s["id"] for s in fewer.data["slots"]}
    none = await demo.available_slots(ctx(), day="2026-01-11")
    assert none == ActionResult(outcome="none", data={"slots": []})


async def test_available_slots_describes_in_the_users_language():
    result = await demo.available_slots(ctx("sw"), day="2026-01-05")
    assert {s["description"] for s in result.data["slots"]} == {"Asubuhi", "Mchana"}
    other = await demo.available_slots(ctx("ta"), day="2026-01-05")  # unknown: English
    assert other.data["slots"][0]["description"] == "Morning"


# ----- demo.reserve_slot


async def test_reserve_ref_is_derived_from_the_idempotency_key():
    key = idempotency_key("demo", "254700000001", "wamid.1", "booking", "reserve")
    first = await demo.reserve_slot(ctx(key=key), day="2026-01-06", slot="09:00", parcels=2, weight="3.5")
    again = await demo.reserve_slot(ctx(key=key), day="2026-01-06", slot="09:00", parcels=2, weight="3.5")
    other = await demo.reserve_slot(ctx(key=key[::-1]), day="2026-01-06", slot="09:00")
    assert first.outcome == "ok"
    assert first == again  # a retried turn books once, with the same reference
    assert first.data["ref"] != other.data["ref"]
    assert re.fullmatch(r"HB-[2-9A-HJKMNP-Z]{5}", first.data["ref"])
    assert first.data["until"] == "09:30"


async def test_the_last_slot_of_the_day_is_always_full():
    result = await demo.reserve_slot(ctx(), day="2026-01-06", slot=demo.ALWAYS_FULL)
    assert result == ActionResult(outcome="full", data={})


async def test_engine_call_runs_the_actions_with_their_declared_args():
    plugins = Plugins.load(["demo"])
    result = await call(plugins.actions["demo.reserve_slot"], ctx(),
                        {"day": "2026-01-06", "slot": "15:30", "parcels": 1, "weight": "2.0"}, 5.0, 0)
    assert result.outcome == "ok" and result.data["until"] == "16:00"


# ----- demo.track


@pytest.mark.parametrize(("typed", "ref", "status"), [
    ("HB-7Q2K9", "HB-7Q2K9", "in_transit"),
    ("hb 7q2k9", "HB-7Q2K9", "in_transit"),
    ("hb4m8x3", "HB-4M8X3", "delivered"),
    ("HB-2P5R7", "HB-2P5R7", "picked_up"),
    ("HB-9C3TW", "HB-9C3TW", "booked"),
])
async def test_track_finds_known_parcels_however_typed(typed, ref, status):
    assert await demo.track(ctx(), code=typed) == ActionResult(outcome="found", data={"code": ref, "status": status})


async def test_track_unknown_reference():
    assert await demo.track(ctx(), code="hb-zzz22") == ActionResult(outcome="not_found", data={"code": "HB-ZZZ22"})


# ----- demo.order_code


@pytest.mark.parametrize("typed", ["HD-1236", "hd-1236", "HD1236", "hd 1236", " HD - 1236 ", "HD-0000", "HD-9997"])
def test_order_code_accepts_codes_whose_check_digit_is_right(typed):
    outcome = demo.validate_order_code({}, text(typed), ValidationContext())
    assert isinstance(outcome, Valid)
    assert outcome.value == outcome.shown == "HD-" + re.sub(r"\D", "", typed)


def test_order_code_refuses_a_wrong_check_digit_showing_the_code():
    assert demo.validate_order_code({}, text("hd 1234"), ValidationContext()) == Invalid(
        "demo.invalid.order_code", {"code": "HD-1234"})


@pytest.mark.parametrize("typed", ["SUMMER10", "HD-12", "HD-12345", "HX-1236", "1236", ""])
def test_order_code_refuses_other_shapes(typed):
    outcome = demo.validate_order_code({}, text(typed), ValidationContext())
    assert outcome == Invalid("demo.invalid.order_code", {"code": typed.strip()})


def test_order_code_refuses_a_photo_even_with_a_code_caption():
    photo = Inbound(user="u", kind="image", text="HD-1236", media=Media(kind="image", id="m1", caption="HD-1236"))
    assert isinstance(demo.validate_order_code({}, photo, ValidationContext()), Invalid)


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_the_validator_message_is_in_both_demo_catalogs(lang):
    catalog = read_catalog(ROOT / "locales" / "demo" / f"{lang}.yaml", lang)
    assert "{{" in catalog.messages["demo.invalid.order_code"]
