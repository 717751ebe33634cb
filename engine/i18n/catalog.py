"""Message catalogs: one YAML file per language, nested keys read as dotted names.

A bot's catalogs live in `locales/<bot>/<lang>.yaml`; the engine's own messages (validation,
confirmations, paging) in `engine/i18n/builtin/`, which a bot may override key by key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.flow._yaml import Document, YamlProblem, load

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
KEY_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def looks_like_key(text: str) -> bool:
    """`booking.ask_day` is a key; `Thanks!` or `{{ x }}` is inline text."""
    return bool(KEY_PATTERN.match(text))


@dataclass
class Catalog:
    lang: str
    messages: dict[str, str] = field(default_factory=dict)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    file: Path | None = None


def flatten(data: Any, prefix: str, doc: Document | None, path: tuple[Any, ...], out: Catalog) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            flatten(value, f"{prefix}.{key}" if prefix else str(key), doc, path + (key,), out)
    elif data is not None:
        out.messages[prefix] = data if isinstance(data, str) else str(data)
        if doc is not None:
            out.positions[prefix] = doc.where(path)


def read_catalog(file: Path, lang: str) -> Catalog:
    """Read one catalog file. Raises YamlProblem when it is not a valid YAML mapping."""
    doc = load(file.read_bytes())
    if doc.data is not None and not isinstance(doc.data, dict):
        raise YamlProblem("a catalog must be a mapping of keys to messages", 1, 1, "locale.shape")
    catalog = Catalog(lang=lang, file=file)
    flatten(doc.data or {}, "", doc, (), catalog)
    return catalog


def builtin_catalogs() -> dict[str, Catalog]:
    return {f.stem: read_catalog(f, f.stem) for f in sorted(BUILTIN_DIR.glob("*.yaml"))}


class Catalogs:
    """Look-ups along a language chain: the bot's catalog first, then the engine's."""

    def __init__(self, bot: dict[str, Catalog], builtin: dict[str, Catalog], primary: str) -> None:
        self.bot = bot
        self.builtin = builtin
        self.primary = primary

    def has(self, key: str) -> bool:
        return any(key in c.messages for c in self.bot.values()) or any(key in c.messages for c in self.builtin.values())

    def lookup(self, key: str, chain: list[str]) -> str | None:
        for lang in chain:
            catalog = self.bot.get(lang)
            if catalog is not None and key in catalog.messages:
                return catalog.messages[key]
        for lang in chain + ["en"]:
            catalog = self.builtin.get(lang.split("_")[0])
            if catalog is not None and key in catalog.messages:
                return catalog.messages[key]
        return None
