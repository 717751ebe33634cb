from __future__ import annotations

from engine.messages import Inbound, Location, Media
from engine.validators import Invalid, Valid, ValidationContext
from engine.validators.location import validate_location

CTX = ValidationContext()


def test_a_named_location():
    pin = Inbound(user="u1", kind="location", location=Location(-1.2921, 36.8219, "Kenyatta Avenue", "Nairobi"))
    assert validate_location({}, pin, CTX) == Valid(
        {"lat": -1.2921, "lon": 36.8219, "name": "Kenyatta Avenue", "address": "Nairobi"},
        "Kenyatta Avenue, Nairobi",
    )


def test_a_bare_pin_is_shown_as_coordinates():
    pin = Inbound(user="u1", kind="location", location=Location(-1.2921, 36.8219))
    result = validate_location({}, pin, CTX)
    assert result.value == {"lat": -1.2921, "lon": 36.8219, "name": "", "address": ""}
    assert result.shown == "-1.29210, 36.82190"


def test_text_is_not_a_location():
    assert validate_location({}, Inbound(user="u1", text="Nairobi"), CTX) == Invalid("flowbot.invalid.location.not_location")


def test_an_image_is_not_a_location():
    photo = Inbound(user="u1", kind="image", media=Media(kind="image", id="m1"))
    assert validate_location({}, photo, CTX) == Invalid("flowbot.invalid.location.not_location")


def test_location_kind_without_coordinates_is_refused():
    assert validate_location({}, Inbound(user="u1", kind="location"), CTX) == Invalid("flowbot.invalid.location.not_location")
