"""A shared location (the WhatsApp pin), stored as coordinates with its place name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.messages import Inbound
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec
from engine.validators.numbers import CONFIRM


def validate_location(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    where = inbound.location
    if inbound.kind != "location" or where is None:
        return Invalid("flowbot.invalid.location.not_location")
    value = {"lat": where.lat, "lon": where.lon, "name": where.name, "address": where.address}
    place = ", ".join(part for part in (where.name, where.address) if part)
    return Valid(value, place or f"{where.lat:.5f}, {where.lon:.5f}")


LOCATION = ValidatorSpec("location", validate_location, {"confirm": CONFIRM})
