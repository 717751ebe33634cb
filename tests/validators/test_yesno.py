from __future__ import annotations

import pytest

from engine.messages import Inbound, Media
from engine.validators import Invalid, Valid, ValidationContext, yes_no
from engine.validators.yesno import NO, YES, fold, validate_yesno

EN = ValidationContext(lang="en")


def text(t: str) -> Inbound:
    return Inbound(user="u1", text=t)


@pytest.mark.parametrize(
    ("word", "lang"),
    [
        ("yes", "en"), ("Y", "en"), ("yeah", "en"), ("Yep!", "en"), ("ok", "en"), ("Sure.", "en"), ("👍", "en"),
        ("ndiyo", "sw"), ("Ndio", "sw"), ("sawa", "sw"),
        ("sì", "it"), ("si", "it"), ("Certo", "it"), ("va bene", "it"),
        ("ஆம்", "ta"), ("aam", "ta"), ("sari", "ta"), ("சரி", "ta"),
        ("sí", "es"), ("SI", "es"), ("claro", "es"),
        ("oui", "fr"), ("haan", "hi"), ("हाँ", "hi"), ("ha", "hi"), ("sim", "pt"),
    ],
)
def test_yes(word, lang):
    assert yes_no(word, lang, ValidationContext(lang=lang)) is True


@pytest.mark.parametrize(
    ("word", "lang"),
    [
        ("no", "en"), ("N", "en"), ("nope", "en"), ("Nah", "en"), ("👎", "en"),
        ("hapana", "sw"), ("la", "sw"), ("no", "it"), ("இல்லை", "ta"), ("illai", "ta"),
        ("no", "es"), ("non", "fr"), ("nahi", "hi"), ("नहीं", "hi"), ("não", "pt"), ("NAO", "pt"),
    ],
)
def test_no(word, lang):
    assert yes_no(word, lang, ValidationContext(lang=lang)) is False


@pytest.mark.parametrize("word", ["maybe", "", "   ", "yes no", "later", "12"])
def test_neither(word):
    assert yes_no(word, "en", EN) is None


def test_words_of_other_languages_are_understood():
    assert yes_no("ndio", "en", EN) is True
    assert yes_no("Sí", "sw", ValidationContext(lang="sw")) is True


def test_the_users_language_is_consulted_first():
    ctx = ValidationContext(lang="sw", yes_words={"en": ("la",)})  # "la" is yes somewhere else
    assert yes_no("la", "sw", ctx) is False
    assert yes_no("la", "en", ctx) is True


def test_extra_words_from_the_context():
    ctx = ValidationContext(lang="sw", yes_words={"sw": ("poa",)}, no_words={"sw": ("wapi",)})
    assert yes_no("Poa!", "sw", ctx) is True
    assert yes_no("wapi", "sw", ctx) is False
    assert yes_no("poa", "sw", EN) is None


def test_a_word_that_is_both_in_one_language_is_unclear():
    ctx = ValidationContext(lang="en", no_words={"en": ("ok",)})
    assert yes_no("ok", "en", ctx) is None


def test_no_builtin_word_is_yes_in_one_language_and_no_in_another():
    yes = {fold(w) for words in YES.values() for w in words}
    no = {fold(w) for words in NO.values() for w in words}
    assert yes & no == set()


def test_fold_ignores_case_accents_and_punctuation():
    assert fold("  ¡Sí!  ") == "si"
    assert fold("NÃO...") == "nao"
    assert fold("va   bene") == "va bene"


def test_buttons_by_id():
    assert validate_yesno({}, Inbound(user="u1", kind="button", text="Ndiyo", reply_id="yes"), EN) == Valid(True, "Yes")
    assert validate_yesno({}, Inbound(user="u1", kind="button", text="Whatever", reply_id="no"), EN) == Valid(False, "No")


def test_shown_in_the_users_language():
    assert validate_yesno({}, text("ndio"), ValidationContext(lang="sw")) == Valid(True, "Ndiyo")
    assert validate_yesno({}, text("no"), ValidationContext(lang="it")) == Valid(False, "No")
    assert validate_yesno({}, text("oui"), ValidationContext(lang="xx")) == Valid(True, "Yes")


def test_unclear():
    assert validate_yesno({}, text("perhaps"), EN) == Invalid("flowbot.invalid.yesno.unclear")
    sticker = Inbound(user="u1", kind="sticker", media=Media(kind="sticker", id="s1"))
    assert validate_yesno({}, sticker, EN) == Invalid("flowbot.invalid.yesno.unclear")
