"""Offline intent classification, deterministic: keyword evidence plus trigram similarity.

- keyword: each topic word (stemmed, stop words dropped) the message shares with an intent's
  examples counts 1 / (how many intents use that word), summed and capped at 1: a word only
  one intent uses ("sell") is strong evidence, a word every intent uses is none;
- trigram: pg_trgm similarity between the message and the intent's closest example.

score = 0.6 keyword + 0.4 trigram, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

from actions.ai import text as tx

KEYWORD_WEIGHT, TRIGRAM_WEIGHT = 0.6, 0.4


def scores(text: str, intents: Sequence[tuple[str, Sequence[str]]], lang: str) -> dict[str, float]:
    """Each intent's score in [0, 1] for `text`."""
    vocab = {name: {t for e in examples for t in tx.terms(e, lang)} for name, examples in intents}
    users: dict[str, int] = {}
    for terms in vocab.values():
        for t in terms:
            users[t] = users.get(t, 0) + 1
    query = set(tx.terms(text, lang))
    grams = tx.trigrams(text)
    out: dict[str, float] = {}
    for name, examples in intents:
        keyword = min(1.0, sum(1.0 / users[t] for t in query & vocab[name]))
        trigram = max((tx.similarity(grams, tx.trigrams(e)) for e in examples), default=0.0)
        out[name] = round(KEYWORD_WEIGHT * keyword + TRIGRAM_WEIGHT * trigram, 4)
    return out


def classify(text: str, intents: Sequence[tuple[str, Sequence[str]]], lang: str) -> tuple[str | None, float]:
    """The best intent and its score; (None, 0.0) when no intent scores at all."""
    found = scores(text, intents, lang)
    if not found:
        return None, 0.0
    best = max(found, key=lambda name: found[name])  # the first declared wins a tie
    return (best, found[best]) if found[best] > 0 else (None, 0.0)
