from __future__ import annotations

import jsonschema
import pytest

from engine.messages import Inbound
from engine.validators import BUILTIN, Invalid, Valid, ValidationContext, ValidatorSpec, validate

TYPES = {"text", "integer", "decimal", "money", "date", "phone", "email", "yesno", "media", "location"}


def test_builtin_has_every_documented_type():
    assert set(BUILTIN) == TYPES
    assert all(isinstance(spec, ValidatorSpec) and spec.name == name for name, spec in BUILTIN.items())


def test_dispatch_on_type():
    ctx = ValidationContext(region="KE", currency="KES")
    assert validate({"type": "integer", "max": 5}, Inbound(user="u1", text="7"), ctx) == Invalid(
        "flowbot.invalid.integer.too_big", {"max": "5"}
    )
    assert validate({"type": "phone"}, Inbound(user="u1", text="0712345678"), ctx).value == "+254712345678"
    assert validate({"type": "yesno"}, Inbound(user="u1", text="ndio"), ctx) == Valid(True, "Yes")


def test_unknown_type_is_a_key_error():
    with pytest.raises(KeyError, match="shop.sku"):
        validate({"type": "shop.sku"}, Inbound(user="u1", text="x"), ValidationContext())


@pytest.mark.parametrize("name", sorted(TYPES))
def test_options_are_valid_json_schema_properties(name):
    schema = {"type": "object", "properties": dict(BUILTIN[name].options), "additionalProperties": False}
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "confirm" in schema["properties"]
    assert all("description" in prop for prop in schema["properties"].values())


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("text", {"min_length": 2, "max_length": 40, "pattern": "[a-z]+"}, {"min_length": "two"}),
        ("integer", {"min": 1, "max": 20}, {"minimum": 1}),
        ("decimal", {"min": "0.5", "max": 10, "places": 2}, {"places": -1}),
        ("money", {"currency": "KES", "min": 100, "confirm": False}, {"currency": "ksh"}),
        ("date", {"not_past": True, "within": "30d"}, {"within": "a month"}),
        ("phone", {"region": "KE"}, {"region": "Kenya"}),
        ("media", {"kinds": ["image", "document"], "mime": "image/*", "max_size": "5MB"}, {"kinds": ["photo"]}),
        ("email", {"confirm": True}, {"domain": "x"}),
    ],
)
def test_a_linter_can_check_options(name, good, bad):
    validator = jsonschema.Draft202012Validator(
        {"type": "object", "properties": dict(BUILTIN[name].options), "additionalProperties": False}
    )
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors(bad)) != []
