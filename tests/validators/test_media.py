from __future__ import annotations

import pytest

from engine.messages import Inbound, Location, Media
from engine.validators import Invalid, Valid, ValidationContext
from engine.validators.media import validate_media

EN = ValidationContext(lang="en")


def media(kind: str, mime: str = "", size: int | None = None, caption: str = "", filename: str = "") -> Inbound:
    return Inbound(
        user="u1", kind=kind, text=caption,
        media=Media(kind=kind, id="wamid.M1", mime=mime, size=size, caption=caption, filename=filename),
    )


def test_any_media_by_default():
    for kind in ("image", "video", "audio", "document", "sticker"):
        assert isinstance(validate_media({}, media(kind), EN), Valid)


def test_value_and_shown():
    result = validate_media({}, media("image", "image/jpeg", 2048, caption="my receipt"), EN)
    assert result == Valid(
        {"kind": "image", "id": "wamid.M1", "mime": "image/jpeg", "size": 2048, "caption": "my receipt"}, "my receipt"
    )
    assert validate_media({}, media("document", "application/pdf", filename="id.pdf"), EN).shown == "id.pdf"
    assert validate_media({}, media("image"), ValidationContext(lang="sw")).shown == "picha"


def test_a_file_sent_as_a_url_keeps_its_link():
    """Twilio's MediaUrl0: no media id, a link that storage.save fetches."""
    link = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    inbound = Inbound(user="u1", kind="image", media=Media(kind="image", mime="image/jpeg", link=link))
    result = validate_media({}, inbound, EN)
    assert isinstance(result, Valid) and result.value["link"] == link and result.value["id"] == ""


def test_wrong_kind_names_the_kinds_in_the_users_language():
    spec = {"kinds": ["document", "image"]}
    assert validate_media(spec, media("video"), EN) == Invalid("flowbot.invalid.media.wrong_kind", {"kinds": "a photo or a document"})
    assert validate_media(spec, media("video"), ValidationContext(lang="it")).params == {"kinds": "una foto o un documento"}


@pytest.mark.parametrize("inbound", [Inbound(user="u1", text="here"), Inbound(user="u1", kind="location", location=Location(0, 0))])
def test_text_and_locations_are_not_media(inbound):
    assert validate_media({}, inbound, EN).key == "flowbot.invalid.media.wrong_kind"


def test_mime_list_with_wildcards():
    spec = {"mime": ["image/*", "application/pdf"]}
    assert isinstance(validate_media(spec, media("image", "image/png"), EN), Valid)
    assert isinstance(validate_media(spec, media("document", "application/pdf"), EN), Valid)
    assert validate_media(spec, media("document", "application/zip"), EN) == Invalid(
        "flowbot.invalid.media.wrong_type", {"types": "a photo or PDF"}
    )


def test_mime_string_with_parameters_and_case():
    assert isinstance(validate_media({"mime": "audio/ogg"}, media("audio", "Audio/OGG; codecs=opus"), EN), Valid)
    assert validate_media({"mime": "audio/ogg"}, media("audio", "audio/mpeg"), EN).key == "flowbot.invalid.media.wrong_type"


def test_unknown_mime_does_not_pass_a_mime_check():
    assert validate_media({"mime": "image/*"}, media("image", ""), EN).key == "flowbot.invalid.media.wrong_type"


def test_max_size():
    spec = {"max_size": "5MB"}
    assert isinstance(validate_media(spec, media("image", size=5 * 1024 * 1024), EN), Valid)
    assert validate_media(spec, media("image", size=5 * 1024 * 1024 + 1), EN) == Invalid(
        "flowbot.invalid.media.too_big", {"max_size": "5 MB"}
    )
    assert validate_media({"max_size": "1.5MB"}, media("image", size=2**21), ValidationContext(lang="it")).params == {
        "max_size": "1,5 MB"
    }


def test_unknown_size_is_not_refused():
    assert isinstance(validate_media({"max_size": "1KB"}, media("image", size=None), EN), Valid)
