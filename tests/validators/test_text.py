from __future__ import annotations

import pytest

from engine.messages import Inbound, Media
from engine.validators import Invalid, Valid, ValidationContext, validate
from engine.validators.text import validate_text

CTX = ValidationContext()


def text(t: str, kind: str = "text") -> Inbound:
    return Inbound(user="u1", kind=kind, text=t)


def test_trims_and_keeps_the_text():
    assert validate_text({}, text("  Amina Wanjiru \n"), CTX) == Valid("Amina Wanjiru", "Amina Wanjiru")


def test_button_and_list_replies_count_as_text():
    assert validate_text({}, Inbound(user="u1", kind="button", text="Tomorrow", reply_id="tomorrow"), CTX).value == "Tomorrow"
    assert validate_text({}, Inbound(user="u1", kind="list", text="Nairobi", reply_id="nbo"), CTX).value == "Nairobi"


def test_an_image_is_not_text_even_with_a_caption():
    photo = Inbound(user="u1", kind="image", text="my name", media=Media(kind="image", id="m1", caption="my name"))
    assert validate_text({}, photo, CTX) == Invalid("flowbot.invalid.text.not_text")


def test_whitespace_only_is_empty():
    assert validate_text({}, text("   "), CTX) == Invalid("flowbot.invalid.text.empty")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("A", Invalid("flowbot.invalid.text.too_short", {"min_length": 2})),
        ("Al", Valid("Al", "Al")),
        ("  Al  ", Valid("Al", "Al")),  # length is counted after trimming
        ("x" * 40, Valid("x" * 40, "x" * 40)),
        ("x" * 41, Invalid("flowbot.invalid.text.too_long", {"max_length": 40})),
    ],
)
def test_length_limits(answer, expected):
    assert validate_text({"min_length": 2, "max_length": 40}, text(answer), CTX) == expected


def test_pattern_must_match_the_whole_trimmed_answer():
    spec = {"pattern": r"[A-Z]{3}\d{3}"}
    assert validate_text(spec, text(" KDA123 "), CTX).value == "KDA123"
    assert validate_text(spec, text("KDA1234"), CTX) == Invalid("flowbot.invalid.text.wrong_format")
    assert validate_text(spec, text("xKDA123"), CTX) == Invalid("flowbot.invalid.text.wrong_format")


def test_dispatch_through_validate():
    assert validate({"type": "text", "min_length": 3}, text("ab"), CTX).key == "flowbot.invalid.text.too_short"
