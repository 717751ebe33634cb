"""A small action module with argument schemas, outcomes and a plugin validator, for lint cases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.messages import Inbound
from engine.runtime.actions import Action, ActionContext, ActionResult
from engine.validators import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec


async def reserve(ctx: ActionContext, day: str, qty: int) -> ActionResult:
    return ActionResult("ok", {"ref": f"{day}-{qty}"})


async def ping(ctx: ActionContext) -> ActionResult:
    return ActionResult()


def national_id(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    text = (inbound.text or "").strip()
    return Valid(text) if text.isdigit() else Invalid("shop.bad_id")


ACTIONS = [
    Action(
        name="shop.reserve",
        fn=reserve,
        args={
            "type": "object",
            "properties": {"day": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
            "required": ["day", "qty"],
        },
        outcomes=("ok", "full"),
    ),
    Action(name="shop.ping", fn=ping),
]

VALIDATORS = [
    ValidatorSpec("shop.national_id", national_id, {"country": {"type": "string", "pattern": "^[A-Z]{2}$"}}),
]
