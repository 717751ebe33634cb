"""Photos, videos, voice notes, documents and stickers, checked by kind, type and size.

Only what WhatsApp tells us is checked: the file itself is fetched later, by whoever needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from babel.lists import format_list

from engine.flow.durations import parse_size
from engine.messages import MEDIA_KINDS, Inbound
from engine.validators._base import Invalid, Outcome, Valid, ValidationContext, ValidatorSpec
from engine.validators.numbers import CONFIRM, babel_locale, format_number

KIND_ORDER = ("image", "video", "audio", "document", "sticker")
# What each kind is called in the error messages; a language missing here uses English.
_KIND_NAMES: dict[str, dict[str, str]] = {
    "en": {"image": "a photo", "video": "a video", "audio": "a voice note", "document": "a document", "sticker": "a sticker"},
    "sw": {"image": "picha", "video": "video", "audio": "ujumbe wa sauti", "document": "hati", "sticker": "stika"},
    "it": {"image": "una foto", "video": "un video", "audio": "un vocale", "document": "un documento", "sticker": "uno sticker"},
    "ta": {"image": "புகைப்படம்", "video": "வீடியோ", "audio": "குரல் பதிவு", "document": "ஆவணம்", "sticker": "ஸ்டிக்கர்"},
    "es": {"image": "una foto", "video": "un video", "audio": "un audio", "document": "un documento", "sticker": "un sticker"},
}
_TYPE_NAMES = {
    "application/pdf": "PDF",
    "application/msword": "Word",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
    "application/vnd.ms-excel": "Excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel",
}


def _kinds_said(kinds: list[str], lang: str) -> str:
    names = _KIND_NAMES.get(lang.split("-")[0].split("_")[0], _KIND_NAMES["en"])
    return format_list([names[k] for k in kinds], style="or", locale=babel_locale(lang))


def _types_said(patterns: list[str], lang: str) -> str:
    names: list[str] = []
    for pattern in patterns:
        major, _, minor = pattern.partition("/")
        if minor == "*" and major in MEDIA_KINDS:
            name = _kinds_said([major], lang)
        else:
            name = _TYPE_NAMES.get(pattern, minor.removeprefix("x-").upper() or pattern)
        names.append(name)
    return format_list(list(dict.fromkeys(names)), style="or", locale=babel_locale(lang))


def _size_said(size: int, lang: str) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{format_number(round(size / factor, 1), lang)} {unit}"
    return f"{size} B"


def validate_media(spec: Mapping[str, Any], inbound: Inbound, ctx: ValidationContext) -> Outcome:
    kinds = [k for k in KIND_ORDER if k in (spec.get("kinds") or KIND_ORDER)]
    media = inbound.media
    if inbound.kind not in kinds or media is None:
        return Invalid("flowbot.invalid.media.wrong_kind", {"kinds": _kinds_said(kinds, ctx.lang)})
    mimes = spec.get("mime")
    if mimes:
        patterns = [mimes] if isinstance(mimes, str) else list(mimes)
        mime = media.mime.split(";")[0].strip().lower()  # "audio/ogg; codecs=opus"
        if not any(fnmatchcase(mime, p.lower()) for p in patterns):
            return Invalid("flowbot.invalid.media.wrong_type", {"types": _types_said(patterns, ctx.lang)})
    if spec.get("max_size") is not None and media.size is not None:
        limit = parse_size(spec["max_size"])
        if media.size > limit:
            return Invalid("flowbot.invalid.media.too_big", {"max_size": _size_said(limit, ctx.lang)})
    value = {"kind": inbound.kind, "id": media.id, "mime": media.mime, "size": media.size, "caption": media.caption}
    if media.link:  # Twilio and Interakt carry the file as a URL (storage.save's `url`), not an id
        value["link"] = media.link
    return Valid(value, media.filename or media.caption or _kinds_said([inbound.kind], ctx.lang))


MEDIA = ValidatorSpec(
    "media",
    validate_media,
    {
        "kinds": {
            "type": "array",
            "items": {"enum": list(KIND_ORDER)},
            "minItems": 1,
            "uniqueItems": True,
            "description": "the kinds accepted (default: all)",
        },
        "mime": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ],
            "description": "MIME types accepted; wildcards such as image/* allowed",
        },
        "max_size": {
            "type": ["string", "integer"],
            "pattern": r"^\d+(\.\d+)?\s*[KkMmGg]?[Bb]$",
            "description": "largest file accepted, e.g. 5MB",
        },
        "confirm": CONFIRM,
    },
)
