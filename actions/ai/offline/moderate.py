"""Offline moderation: word lists (offline/words.py) and a few heuristics against the usual
disguises: accents, l33t digits ("sh1t"), stretched letters ("fuuuck"), spaced letters
("f u c k"). A weak gate, documented as such: it catches the obvious, nothing subtle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from actions.ai import text as tx
from actions.ai.offline.words import BLOCKED

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_RUNS = re.compile(r"(.)\1+")


def _squash(word: str) -> str:
    """Runs of one letter as one: "fuuuck" and "fuck" meet as "fuck", "kill" as "kil"."""
    return _RUNS.sub(r"\1", word)


def _words(text: str) -> list[str]:
    raw = tx.fold(text).translate(_LEET)
    words = re.findall(r"[^\W_]+", raw)
    joined: list[str] = []
    letters: list[str] = []
    for w in words + [""]:  # spaced letters ("f u c k") are read as one word
        if len(w) == 1 and w.isalpha():
            letters.append(w)
            continue
        if len(letters) >= 3:
            joined.append("".join(letters))
        else:
            joined.extend(letters)
        letters = []
        if w:
            joined.append(w)
    return [_squash(w) for w in joined]


def _matches(words: list[str], entry: str) -> bool:
    parts = [_squash(p) for p in tx.fold(entry).split()]
    prefix = parts[-1].endswith("*")
    if prefix:
        parts[-1] = parts[-1][:-1]
    n = len(parts)
    for i in range(len(words) - n + 1):
        window = words[i:i + n]
        if window[:-1] == parts[:-1] and (window[-1].startswith(parts[-1]) if prefix else window[-1] == parts[-1]):
            return True
    return False


def moderate(text: str, lang: str) -> list[str]:
    """The categories `text` is flagged for (empty: not flagged), from the lists of `lang` and English."""
    words = _words(text)
    flagged: set[str] = set()
    for language in dict.fromkeys((tx.base_lang(lang), "en")):
        for category, entries in BLOCKED.get(language, {}).items():
            if category not in flagged and any(_matches(words, e) for e in entries):
                flagged.add(category)
    return sorted(flagged)


def contains_any(text: str, entries: Iterable[str]) -> bool:
    """Whether `text` holds one of `entries` (words, `prefix*`, phrases), seen through the same disguises."""
    words = _words(text)
    return any(_matches(words, e) for e in entries)
