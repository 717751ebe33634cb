"""Haraka Deliveries: the demo bot's actions and its promo-code validator.

Deterministic, in-memory fakes (no I/O, no clock, no randomness), so transcripts and
benchmarks get the same answers every time:

- `demo.available_slots(day)`: the half-hour pickup slots of a day. Monday to Friday have 12
  (a morning and an afternoon round), Saturday 6 (mornings only), Sunday none (outcome
  `none`). `exclude` leaves one slot out (the one that was just taken).
- `demo.reserve_slot(day, slot, ...)`: books a pickup: data `{ref, until}` (until: when the
  half-hour slot ends). The booking reference is derived from
  the step's idempotency key, so a retried turn gets the same reference, never a second
  booking. The 16:30 slot (the last of the day) is always taken: outcome `full`.
- `demo.track(code)`: the status of a parcel by its booking reference (outcome `found`, or
  `not_found`), looked up in a small table of demo parcels.
- `demo.order_code`: a validator for promo codes `HD-ddd c`, where the last digit `c` is the
  sum of the first three modulo 10 (HD-1236 is valid, HD-1234 is a typo).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from engine.messages import Inbound
from engine.runtime.actions import Action, ActionContext, ActionResult
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec

# ----- pickup slots

MORNING = ("08:00", "08:30", "09:00", "09:30", "10:00", "10:30")
AFTERNOON = ("14:00", "14:30", "15:00", "15:30", "16:00", "16:30")
ALWAYS_FULL = "16:30"  # the last slot of the day: always snapped up
_PART_OF_DAY = {
    "en": ("Morning", "Afternoon"),
    "sw": ("Asubuhi", "Mchana"),
}


def _end_of(start: str) -> str:
    hour, minute = map(int, start.split(":"))
    minute += 30
    return f"{hour + minute // 60:02d}:{minute % 60:02d}"


def slots_for(day: date, lang: str = "en", exclude: str = "") -> list[dict[str, str]]:
    """The free slots of `day`: id is the start time, title the half hour, description the round."""
    weekday = day.weekday()
    if weekday == 6:  # Sunday: riders rest
        starts: tuple[str, ...] = ()
    elif weekday == 5:  # Saturday: mornings only
        starts = MORNING
    else:
        starts = MORNING + AFTERNOON
    morning, afternoon = _PART_OF_DAY.get(lang.split("_")[0], _PART_OF_DAY["en"])
    return [
        {"id": s, "title": f"{s}–{_end_of(s)}", "description": morning if s in MORNING else afternoon}
        for s in starts
        if s != exclude
    ]


async def available_slots(ctx: ActionContext, day: str, exclude: str = "") -> ActionResult:
    slots = slots_for(date.fromisoformat(str(day)[:10]), ctx.lang, str(exclude or ""))
    return ActionResult(outcome="ok" if slots else "none", data={"slots": slots})


# ----- bookings

_REF_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: easy to read out on the phone


def booking_ref(key: str) -> str:
    """A short, readable reference derived from an idempotency key: `HB-` and 5 characters."""
    n = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    chars = []
    for _ in range(5):
        n, digit = divmod(n, len(_REF_ALPHABET))
        chars.append(_REF_ALPHABET[digit])
    return "HB-" + "".join(chars)


async def reserve_slot(ctx: ActionContext, day: str, slot: str, parcels: int = 1, weight: str = "") -> ActionResult:
    if slot == ALWAYS_FULL:
        return ActionResult(outcome="full", data={})
    return ActionResult(outcome="ok", data={"ref": booking_ref(ctx.idempotency_key), "until": _end_of(slot)})


# ----- tracking

PARCELS: dict[str, str] = {
    "HB-7Q2K9": "in_transit",
    "HB-4M8X3": "delivered",
    "HB-2P5R7": "picked_up",
    "HB-9C3TW": "booked",
}


def normalize_ref(code: str) -> str:
    compact = re.sub(r"[\s-]", "", str(code)).upper()
    return f"{compact[:2]}-{compact[2:]}" if compact.startswith("HB") else compact


async def track(ctx: ActionContext, code: str) -> ActionResult:
    ref = normalize_ref(code)
    status = PARCELS.get(ref)
    if status is None:
        return ActionResult(outcome="not_found", data={"code": ref})
    return ActionResult(outcome="found", data={"code": ref, "status": status})


# ----- promo codes

_ORDER_CODE = re.compile(r"HD\s*-?\s*(\d)(\d)(\d)(\d)", re.IGNORECASE)


def validate_order_code(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    text = inbound.text.strip() if inbound.kind in ("text", "button", "list") else ""
    match = _ORDER_CODE.fullmatch(text)
    if match is None:
        return Invalid("demo.invalid.order_code", {"code": text[:20]})
    a, b, c, check = (int(d) for d in match.groups())
    code = f"HD-{a}{b}{c}{check}"
    if (a + b + c) % 10 != check:
        return Invalid("demo.invalid.order_code", {"code": code})
    return Valid(code, code)


ACTIONS = [
    Action(
        name="demo.available_slots",
        fn=available_slots,
        args={
            "day": {"type": "string", "format": "date", "description": "the pickup day, ISO 2026-01-06"},
            "exclude": {"type": "string", "description": "a slot id (start time) to leave out"},
        },
        result={"slots": {"type": "array", "items": {"type": "object"}}},
        outcomes=("ok", "none"),
        description="The free half-hour pickup slots of a day (none on Sundays).",
    ),
    Action(
        name="demo.reserve_slot",
        fn=reserve_slot,
        args={
            "day": {"type": "string", "format": "date", "description": "the pickup day"},
            "slot": {"type": "string", "description": "the slot id (its start time, 08:00)"},
            "parcels": {"type": "integer", "minimum": 1, "description": "how many parcels"},
            "weight": {"type": "string", "description": "the weight in kg, as a decimal string"},
        },
        result={"ref": {"type": "string"}, "until": {"type": "string", "description": "when the slot ends, 09:30"}},
        outcomes=("ok", "full"),
        description="Book a pickup; the reference comes from the idempotency key.",
    ),
    Action(
        name="demo.track",
        fn=track,
        args={"code": {"type": "string", "description": "a booking reference, HB-7Q2K9"}},
        result={"code": {"type": "string"}, "status": {"type": "string"}},
        outcomes=("found", "not_found"),
        description="Where a parcel is.",
    ),
]

VALIDATORS = [
    ValidatorSpec(
        name="demo.order_code",
        fn=validate_order_code,
        options={"confirm": {"type": "boolean", "default": False, "description": "ask back before storing"}},
    ),
]
