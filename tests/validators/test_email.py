from __future__ import annotations

import pytest

from engine.messages import Inbound, Location
from engine.validators import Invalid, Valid, ValidationContext
from engine.validators.email import validate_email_address

CTX = ValidationContext()


def text(t: str) -> Inbound:
    return Inbound(user="u1", text=t)


@pytest.mark.parametrize(
    ("answer", "normalized"),
    [
        ("amina@example.com", "amina@example.com"),
        ("  Amina@Example.COM ", "Amina@example.com"),  # the domain is case-insensitive, the local part not
        ("ü@müller.de", "ü@müller.de"),
        ("first.last+tag@sub.example.co.ke", "first.last+tag@sub.example.co.ke"),
    ],
)
def test_accepts_and_normalizes(answer, normalized):
    assert validate_email_address({}, text(answer), CTX) == Valid(normalized, normalized)


@pytest.mark.parametrize("answer", ["amina", "amina@", "@example.com", "a@b", "a@localhost", "a b@example.com", ""])
def test_refuses(answer):
    assert validate_email_address({}, text(answer), CTX) == Invalid("flowbot.invalid.email.not_an_email")


def test_no_network_lookup_for_an_unknown_domain():
    # check_deliverability=False: a domain that does not exist is still well formed
    assert validate_email_address({}, text("x@no-such-domain-flowbot.example"), CTX).value == "x@no-such-domain-flowbot.example"


def test_a_location_is_not_an_email():
    pin = Inbound(user="u1", kind="location", location=Location(lat=1.0, lon=2.0))
    assert validate_email_address({}, pin, CTX) == Invalid("flowbot.invalid.email.not_an_email")
