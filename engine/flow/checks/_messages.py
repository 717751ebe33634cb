"""Every message a bot can send, with where it is written and what text it stands for.

A message is a catalog key, inline text, a per-language map or a list of those (see
docs/flow-language.md). Locale, template, length and window checks all need the same walk, so
it lives here: `sites` finds the messages, `leaves` splits one into single texts, and
`resolve` gives the template source each text has in each of the bot's languages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.flow.checks._context import Context
from engine.flow.model import Flow
from engine.i18n.catalog import Catalog, looks_like_key

BUILTIN_PREFIX = "flowbot."


@dataclass(frozen=True)
class Site:
    """One message as written: in `file` at `path`, for a `role` (say, ask, choice_title...)."""

    file: str
    path: tuple[Any, ...]
    role: str
    value: Any
    flow: Flow | None = None
    step: str | None = None


@dataclass(frozen=True)
class Leaf:
    """A single text of a message: the whole of it, one list item, or one language's text."""

    site: Site
    path: tuple[Any, ...]
    text: str
    lang: str | None = None  # set for an entry of a per-language map

    @property
    def is_key(self) -> bool:
        return looks_like_key(self.text)


@dataclass(frozen=True)
class Source:
    """The template source a leaf has in one language; `catalog` set when it came from one."""

    lang: str | None  # None: inline text, the same in every language
    text: str
    catalog: Catalog | None = None
    key: str | None = None
    builtin: bool = False  # the engine's own text (engine/i18n/builtin), not the bot's


_STEP_MESSAGES = (
    (("say",), "say"), (("ask",), "ask"), (("invalid",), "invalid"), (("button",), "button"),
    (("fallback", "say"), "fallback"), (("on_error", "say"), "on_error"),
    (("wait", "expire", "say"), "expire"),
)


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def flow_sites(ctx: Context, flow: Flow) -> Iterator[Site]:
    file = ctx.file_of(flow)
    for name in flow.steps:
        data = ctx.step_data(flow, name)
        base = ("steps", name)
        for rel, role in _STEP_MESSAGES:
            value = _get(data, rel)
            if value is not None:
                yield Site(file, base + rel, role, value, flow, name)
        choices = data.get("choices")
        if isinstance(choices, list):
            for i, choice in enumerate(choices):
                for part in ("title", "description"):
                    if isinstance(choice, dict) and choice.get(part) is not None:
                        yield Site(file, base + ("choices", i, part), f"choice_{part}", choice[part], flow, name)
        reminders = _get(data, ("wait", "remind"))
        for i, reminder in enumerate(reminders if isinstance(reminders, list) else []):
            if isinstance(reminder, dict) and reminder.get("say") is not None:
                yield Site(file, base + ("wait", "remind", i, "say"), "remind", reminder["say"], flow, name)


def manifest_sites(ctx: Context) -> Iterator[Site]:
    data = ctx.bot.manifest
    for name, spec in (data.get("interrupts") or {}).items():
        if isinstance(spec, dict) and spec.get("say") is not None:
            yield Site(ctx.manifest_file, ("interrupts", name, "say"), "interrupt", spec["say"])
    expired = _get(data, ("session", "expired"))
    if expired is not None:
        yield Site(ctx.manifest_file, ("session", "expired"), "session_expired", expired)


def sites(ctx: Context) -> Iterator[Site]:
    """Every message of the bot: its flows' then its manifest's."""
    for flow in ctx.flows:
        yield from flow_sites(ctx, flow)
    yield from manifest_sites(ctx)


def leaves(site: Site) -> Iterator[Leaf]:
    yield from _leaves(site, site.value, site.path, None)


def _leaves(site: Site, value: Any, path: tuple[Any, ...], lang: str | None) -> Iterator[Leaf]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(site, item, path + (i,), lang)
    elif isinstance(value, dict):
        for code, text in value.items():
            yield from _leaves(site, text, path + (code,), str(code))
    elif value is not None:
        yield Leaf(site, path, str(value), lang)


def catalog_text(ctx: Context, key: str, lang: str) -> Source | None:
    """The text `key` has in `lang` itself (no fallback): the bot's catalog, else the engine's."""
    own = ctx.loaded.catalogs.bot.get(lang)
    if own is not None and key in own.messages:
        return Source(lang, own.messages[key], own, key)
    if key.startswith(BUILTIN_PREFIX):
        builtin = ctx.loaded.catalogs.builtin.get(lang.split("_")[0]) or ctx.loaded.catalogs.builtin.get("en")
        if builtin is not None and key in builtin.messages:
            return Source(lang, builtin.messages[key], builtin, key, builtin=True)
    return None


def resolve(ctx: Context, leaf: Leaf) -> list[Source]:
    """The sources of a leaf: inline text once, or a key's text in each language that has it."""
    if not leaf.is_key:
        return [Source(leaf.lang, leaf.text)]
    found = (catalog_text(ctx, leaf.text, lang) for lang in ([leaf.lang] if leaf.lang else ctx.bot.languages))
    return [source for source in found if source is not None]
