"""The built-in catalogs: the same keys in every language, and every message renders with the
params the validators actually give it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from jinja2 import meta

from engine.messages import Inbound, Location, Media
from engine.validators import BUILTIN, Invalid, ValidationContext, validate

CATALOGS = Path(__file__).resolve().parents[2] / "engine" / "i18n" / "builtin"
LANGS = ("en", "sw", "it", "ta", "es")
ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k) for k, _ in node.value]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def flatten(tree: dict[Any, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        assert isinstance(key, str), f"{prefix}{key!r} is not a string key (quote yes/no/on/off)"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load(lang: str) -> dict[str, Any]:
    return flatten(yaml.load((CATALOGS / f"{lang}.yaml").read_text(encoding="utf-8"), Loader=_StrictLoader))


@pytest.fixture(scope="module")
def catalogs() -> dict[str, dict[str, Any]]:
    return {lang: load(lang) for lang in LANGS}


NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
CTX = ValidationContext(lang="en", now=NOW, timezone="Africa/Nairobi", region="KE", currency="KES")


def say(t: str) -> Inbound:
    return Inbound(user="u1", text=t)


PHOTO = Inbound(user="u1", kind="image", media=Media(kind="image", id="m", mime="image/png", size=10**8))
PIN = Inbound(user="u1", kind="location", location=Location(0.0, 0.0))
# One answer for every way each built-in validator can refuse.
REFUSALS: list[tuple[dict[str, Any], Inbound]] = [
    ({"type": "text"}, PHOTO),
    ({"type": "text"}, say(" ")),
    ({"type": "text", "min_length": 3}, say("ab")),
    ({"type": "text", "max_length": 3}, say("abcd")),
    ({"type": "text", "pattern": "[0-9]+"}, say("abc")),
    ({"type": "integer"}, say("abc")),
    ({"type": "integer"}, say("1.5")),
    ({"type": "integer", "min": 2}, say("1")),
    ({"type": "integer", "max": 2}, say("3")),
    ({"type": "decimal"}, say("abc")),
    ({"type": "decimal", "places": 1}, say("1.25")),
    ({"type": "decimal", "min": 2}, say("1.5")),
    ({"type": "decimal", "max": 2}, say("2.5")),
    ({"type": "money"}, say("abc")),
    ({"type": "money"}, say("$5")),
    ({"type": "money"}, say("-5")),
    ({"type": "money", "min": 100}, say("5")),
    ({"type": "money", "max": 100}, say("500")),
    ({"type": "date"}, say("abc")),
    ({"type": "date"}, say("yesterday")),
    ({"type": "date", "within": "7d"}, say("25/11/2026")),
    ({"type": "phone"}, say("123")),
    ({"type": "email"}, say("nobody")),
    ({"type": "yesno"}, say("perhaps")),
    ({"type": "media", "kinds": ["document"]}, PHOTO),
    ({"type": "media", "mime": "application/pdf"}, PHOTO),
    ({"type": "media", "max_size": "5MB"}, PHOTO),
    ({"type": "location"}, PHOTO),
]
OTHER_PARAMS: dict[str, dict[str, Any]] = {
    "flowbot.confirm.ask": {"value": "KES1,500.00"},
    "flowbot.invalid.choice": {},
    "flowbot.yes": {}, "flowbot.no": {}, "flowbot.more": {}, "flowbot.choose": {},
    "flowbot.session.expired": {}, "flowbot.handoff.quiet": {}, "flowbot.error.generic": {},
    "flowbot.language.ask": {}, "flowbot.language.set": {},
    "flowbot.consent.stopped": {}, "flowbot.consent.started": {}, "flowbot.undo.nothing": {}, "flowbot.rate_limited": {},
    "flowbot.forget.ask": {}, "flowbot.forget.queued": {}, "flowbot.forget.done": {}, "flowbot.forget.kept": {},
}


def refusals() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for spec, inbound in REFUSALS:
        outcome = validate(spec, inbound, CTX)
        assert isinstance(outcome, Invalid), (spec, outcome)
        found[outcome.key] = dict(outcome.params)
    return found


def test_every_catalog_has_exactly_the_same_keys(catalogs):
    reference = set(catalogs["en"])
    for lang, catalog in catalogs.items():
        assert set(catalog) == reference, f"{lang}: missing {reference - set(catalog)}, extra {set(catalog) - reference}"


def test_the_keys_are_the_refusals_the_validators_give_plus_the_engine_messages(catalogs):
    produced = refusals()
    assert {key.split(".")[2] for key in produced} == set(BUILTIN)  # every validator is covered
    assert set(catalogs["en"]) == set(produced) | set(OTHER_PARAMS)


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_renders_with_exactly_its_params(catalogs, lang):
    params = {**refusals(), **OTHER_PARAMS}
    for key, source in catalogs[lang].items():
        assert isinstance(source, str) and source.strip(), f"{lang}: {key} is empty"
        used = meta.find_undeclared_variables(ENV.parse(source))
        assert used == set(params[key]), f"{lang}: {key} uses {used}, the engine gives {set(params[key])}"
        rendered = ENV.from_string(source).render(**params[key])
        for value in params[key].values():
            assert str(value) in rendered


@pytest.mark.parametrize("lang", LANGS)
def test_button_titles_fit_whatsapp_limits(catalogs, lang):
    catalog = catalogs[lang]
    for key in ("flowbot.yes", "flowbot.no", "flowbot.choose"):
        assert 0 < len(catalog[key]) <= 20, f"{lang}: {key}"
    assert 0 < len(catalog["flowbot.more"]) <= 24


def test_the_strict_loader_refuses_duplicates():
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("a: 1\na: 2\n", Loader=_StrictLoader)


def test_catalogs_are_translated(catalogs):
    english = catalogs["en"]
    for lang in LANGS[1:]:
        same = {k for k, v in catalogs[lang].items() if v == english[k]}
        assert same <= {"flowbot.no", "flowbot.yes"}, f"{lang} is still English in {same}"
