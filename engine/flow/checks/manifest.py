"""The bot manifest beyond its schema: fallback languages and interrupt words."""

from __future__ import annotations

from engine.flow.checks._context import Context, listing
from engine.runtime.choices import normalize


def check(ctx: Context) -> None:
    _fallback(ctx)
    _words(ctx)


def _fallback(ctx: Context) -> None:
    languages = ctx.bot.languages
    for lang, then in ctx.bot.fallback.items():
        if lang not in languages:
            ctx.at(ctx.manifest_file, ("fallback", lang), f"{lang!r} is not one of the bot's languages "
                   f"({listing(languages)})", "bot.fallback", key=True)
        if then not in languages:
            ctx.at(ctx.manifest_file, ("fallback", lang), f"{then!r} is not one of the bot's languages "
                   f"({listing(languages)})", "bot.fallback")


def _words(ctx: Context) -> None:
    """A word may trigger only one interrupt. The runtime matches every word in every language,
    ignoring case, accents and punctuation (engine.runtime.choices.normalize), and so does this."""
    seen: dict[str, str] = {}  # normalized word -> the interrupt that has it first
    raw = ctx.bot.manifest.get("interrupts") or {}
    for name, interrupt in ctx.bot.interrupts.items():
        per_language = isinstance((raw.get(name) or {}).get("words"), dict)
        for lang, words in interrupt.words.items():
            for i, word in enumerate(words):
                other = seen.setdefault(normalize(word), name)
                if other != name:
                    path = ("interrupts", name, "words") + ((lang, i) if per_language else (i,))
                    ctx.at(ctx.manifest_file, path, f"{word!r} is also a word of the {other} interrupt; "
                           "a word can trigger only one", "bot.duplicate_word")
