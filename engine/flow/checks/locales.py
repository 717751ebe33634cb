"""Catalog keys and translations: a key missing in the primary language is an error (users would
see the raw key); a missing translation is a warning (users get the fallback language's text).
"""

from __future__ import annotations

from engine.flow.checks._context import WARNING, Context, JsonPath, suggest
from engine.flow.checks._messages import BUILTIN_PREFIX, Leaf, catalog_text, leaves, sites
from engine.flow.loader import display_path


def check(ctx: Context) -> None:
    for site in sites(ctx):
        for leaf in leaves(site):
            if leaf.is_key:
                _key(ctx, leaf)
        _maps(ctx, site.file, site.path, site.value)
    _extra_keys(ctx)


def _key(ctx: Context, leaf: Leaf) -> None:
    key, catalogs, primary = leaf.text, ctx.loaded.catalogs.bot, ctx.bot.primary_language
    file, path = leaf.site.file, leaf.path
    if key.startswith(BUILTIN_PREFIX):
        if catalog_text(ctx, key, leaf.lang or primary) is None:
            ctx.at(file, path, f"{key!r} is not one of flowbot's built-in messages", "locale.missing_key")
        return
    first = leaf.lang or primary
    if first not in catalogs:  # no catalog to look in: already reported by the loader
        return
    if key not in catalogs[first].messages:
        ctx.at(file, path, f"the message {key!r} is not in the {first} catalog ({_where(ctx, first)})"
               + suggest(key, catalogs[first].messages), "locale.missing_key")
        return
    if leaf.lang is not None:
        return
    for lang in ctx.bot.languages[1:]:
        if lang in catalogs and key not in catalogs[lang].messages:
            shown = next((c for c in ctx.bot.language_chain(lang)[1:]
                          if c in catalogs and key in catalogs[c].messages), primary)
            ctx.at(file, path, f"the message {key!r} has no {lang} translation in {_where(ctx, lang)}; "
                   f"{lang} users will see the {shown} text", "locale.missing_translation", WARNING)


def _maps(ctx: Context, file: str, path: JsonPath, value: object) -> None:
    """Per-language texts ({en: ..., sw: ...}) should cover every language of the bot."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            _maps(ctx, file, path + (i,), item)
    elif isinstance(value, dict):
        for lang in ctx.bot.languages:
            if lang not in value:
                ctx.at(file, path, f"this message has no {lang} text; {lang} users will see "
                       f"another language", "locale.missing_translation", WARNING)


def _extra_keys(ctx: Context) -> None:
    catalogs, primary = ctx.loaded.catalogs.bot, ctx.bot.primary_language
    if primary not in catalogs:
        return
    for lang, catalog in catalogs.items():
        if lang == primary:
            continue
        for key in catalog.messages:
            if key not in catalogs[primary].messages and not key.startswith(BUILTIN_PREFIX):
                ctx.at_catalog(catalog, key, f"{key!r} is translated in {lang} but missing from the primary "
                               f"language ({primary}), so no flow can use it", "locale.extra_key", WARNING)


def _where(ctx: Context, lang: str) -> str:
    catalog = ctx.loaded.catalogs.bot.get(lang)
    return display_path(catalog.file) if catalog is not None and catalog.file else f"{lang}.yaml"
