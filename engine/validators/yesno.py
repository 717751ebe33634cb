"""Yes or no, in the words people use: "ndio", "sì", "ஆம்", "👍", or a tapped yes/no button.

Words are compared ignoring case, accents and surrounding punctuation ("Sí!" is "si"). The
user's language is consulted first, then the bot's, then English, then every other language
known here, so a word that means yes in one language and something else in another is read
in the user's.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from engine.messages import Inbound
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec
from engine.validators.numbers import CONFIRM

YES: dict[str, tuple[str, ...]] = {
    "en": ("yes", "y", "yeah", "yea", "yep", "yup", "ok", "okay", "sure", "correct", "right",
           "that's right", "yes please", "of course", "👍", "✅"),
    "sw": ("ndiyo", "ndio", "ndyo", "sawa", "naam", "ee", "eeh", "ehe", "ndiyo sawa", "sawa sawa"),
    "it": ("sì", "si", "certo", "certamente", "esatto", "giusto", "va bene", "ok", "sì grazie"),
    "ta": ("ஆம்", "ஆமாம்", "ஆமா", "சரி", "aam", "aama", "aamam", "amam", "sari", "seri"),
    "es": ("sí", "si", "claro", "vale", "correcto", "de acuerdo", "por supuesto", "ok", "sí gracias"),
    "fr": ("oui", "ouais", "d'accord", "ok", "bien sûr", "exact", "exactement", "oui merci"),
    "hi": ("हाँ", "हां", "जी", "जी हाँ", "ठीक है", "haan", "han", "haa", "ha", "ji", "ji haan", "theek hai"),
    "pt": ("sim", "claro", "certo", "isso", "ok", "pode ser", "com certeza"),
}
NO: dict[str, tuple[str, ...]] = {
    "en": ("no", "n", "nope", "nah", "no thanks", "not really", "wrong", "incorrect", "👎", "❌"),
    "sw": ("hapana", "la", "siyo", "sio", "hapana asante"),
    "it": ("no", "no grazie", "sbagliato", "per niente"),
    "ta": ("இல்லை", "இல்ல", "வேண்டாம்", "illai", "illa", "illey", "vendam"),
    "es": ("no", "no gracias", "para nada", "incorrecto"),
    "fr": ("non", "nan", "non merci", "pas du tout"),
    "hi": ("नहीं", "ना", "nahi", "nahin", "nai", "na"),
    "pt": ("não", "nao", "não obrigado", "não obrigada", "de jeito nenhum"),
}
# How a yes/no answer is said back (confirmation of a yesno step).
SAID = {"en": ("Yes", "No"), "sw": ("Ndiyo", "Hapana"), "it": ("Sì", "No"), "ta": ("ஆம்", "இல்லை"),
        "es": ("Sí", "No"), "fr": ("Oui", "Non"), "hi": ("हाँ", "नहीं"), "pt": ("Sim", "Não")}


def fold(text: str) -> str:
    """Lowercase, without accents, surrounding punctuation or repeated spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("’", "'"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = " ".join(bare.split())
    while words and unicodedata.category(words[0])[0] == "P":
        words = words[1:].lstrip()
    while words and unicodedata.category(words[-1])[0] == "P":
        words = words[:-1].rstrip()
    return words


def _base(lang: str) -> str:
    return lang.replace("_", "-").split("-")[0].lower()


def yes_no(text: str, lang: str, ctx: ValidationContext) -> bool | None:
    """True for a yes, False for a no, None when the text is neither (or both)."""
    word = fold(text)
    if not word:
        return None
    order = [_base(lang), *(_base(code) for code in ctx.languages), "en", *YES, *ctx.yes_words, *ctx.no_words]
    for code in dict.fromkeys(order):
        yes = word in {fold(w) for w in (*YES.get(code, ()), *ctx.yes_words.get(code, ()))}
        no = word in {fold(w) for w in (*NO.get(code, ()), *ctx.no_words.get(code, ()))}
        if yes != no:
            return yes
        if yes and no:
            return None
    return None


def validate_yesno(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    answer: bool | None = None
    if inbound.reply_id is not None and inbound.reply_id.lower() in ("yes", "no"):
        answer = inbound.reply_id.lower() == "yes"
    elif inbound.kind in ("text", "button", "list"):
        answer = yes_no(inbound.text, ctx.lang, ctx)
    if answer is None:
        return Invalid("flowbot.invalid.yesno.unclear")
    said = SAID.get(_base(ctx.lang), SAID["en"])
    return Valid(answer, said[0] if answer else said[1])


YESNO = ValidatorSpec("yesno", validate_yesno, {"confirm": CONFIRM})
