"""A bot's FAQ and how questions find its entries: `FaqIndex`, and the in-memory implementation.

A FAQ file is YAML: entries with an id, and per language one or more phrasings of the
question, the answer, and optional tags (a plain string or list means every language):

    fallback: {sw: en}            # optional: a language with no entries is answered from another
    entries:
      - id: opening-hours
        tags: {en: [hours, open], it: [orari]}
        question:
          en:
            - When are you open?
            - What are your opening hours?
          it: Quando siete aperti?
        answer:
          en: Monday to Saturday, 8:00 to 18:00.
          it: Dal lunedì al sabato, dalle 8 alle 18.

Retrieval is hybrid: a keyword ranking (BM25 over the stemmed words of the questions and
tags), a character-trigram ranking (pg_trgm's similarity against each phrasing) and, when the
caller has embeddings, a vector ranking (cosine), merged by reciprocal rank fusion. Each hit
also carries a calibrated `confidence` in [0, 1] (rank fusion scores are not comparable
between questions), which is what "nothing matches well" is decided on.

`FaqIndex` is the interface the answer action uses; a PostgreSQL implementation (full text,
pg_trgm and pgvector in SQL) plugs in through `ctx.services["faq_index"]`, a callable
`(bot, path) -> Awaitable[FaqIndex]`.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from actions.ai import text as tx

RRF_K = 60  # the usual constant: ranks beyond a few dozen hardly count
BM25_K1, BM25_B = 1.2, 0.75
# How much each signal weighs in `confidence`; a signal the search does not have is left out
# and the others are scaled up.
WEIGHTS = {"keyword": 0.5, "trigram": 0.3, "vector": 0.5}


class FaqError(ValueError):
    """A FAQ file that cannot be read or is malformed."""


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One entry in one language."""

    id: str
    lang: str
    questions: tuple[str, ...]
    answer: str
    tags: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.lang}:{self.id}"

    def embedding_text(self) -> str:
        return "\n".join((*self.questions, self.answer))


@dataclass(frozen=True, slots=True)
class Hit:
    entry: FaqEntry
    score: float  # reciprocal rank fusion: orders the hits of one search
    confidence: float  # in [0, 1], comparable between searches
    signals: Mapping[str, float] = field(default_factory=dict)  # keyword, trigram, vector: each in [0, 1]


class FaqIndex(Protocol):
    """A FAQ's entries, searchable. `version` changes whenever the content does (cache keys use it)."""

    version: str

    def languages(self) -> tuple[str, ...]: ...

    async def search(self, query: str, lang: str, *, limit: int = 3, vector: Sequence[float] | None = None,
                     model: str | None = None) -> list[Hit]:
        """The best entries for `query` in `lang` (or its fallback), best first. `vector` is the
        query's embedding by `model`; entries without a vector by that model rank on words only."""
        ...

    async def pending_vectors(self, model: str) -> list[FaqEntry]:
        """Entries that have no embedding by `model` yet."""
        ...

    async def store_vectors(self, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        """Keep embeddings by `model`, keyed by `FaqEntry.key`."""
        ...


# ----- reading the file


def _per_language(value: Any, languages: set[str], what: str, entry_id: str) -> dict[str, tuple[str, ...]]:
    """`{en: [..], it: ..}` or a plain string/list meaning every language, as tuples of strings."""
    def strings(v: Any) -> tuple[str, ...]:
        items = v if isinstance(v, list) else [v]
        if not all(isinstance(i, (str, int, float)) for i in items):
            raise FaqError(f"entry {entry_id!r}: {what} must be text or a list of texts")
        return tuple(str(i).strip() for i in items if str(i).strip())

    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(lang): strings(v) for lang, v in value.items()}
    return {lang: strings(value) for lang in languages} if languages else {"*": strings(value)}


def parse_faq(data: Any, source: str = "<faq>") -> tuple[list[FaqEntry], dict[str, str]]:
    """The entries of a FAQ document and its language fallbacks."""
    if not isinstance(data, Mapping) or not isinstance(data.get("entries"), list):
        raise FaqError(f"{source}: a FAQ is a mapping with a list of `entries`")
    fallback = {str(k): str(v) for k, v in (data.get("fallback") or {}).items()}
    entries: list[FaqEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["entries"]):
        if not isinstance(raw, Mapping) or not raw.get("id"):
            raise FaqError(f"{source}: entries[{i}] needs an `id`")
        entry_id = str(raw["id"])
        if entry_id in seen:
            raise FaqError(f"{source}: the id {entry_id!r} is used twice")
        seen.add(entry_id)
        if not isinstance(raw.get("question"), Mapping) and not isinstance(raw.get("answer"), Mapping):
            langs: set[str] = set()
        else:
            langs = {str(k) for f in ("question", "answer") if isinstance(raw.get(f), Mapping) for k in raw[f]}
        questions = _per_language(raw.get("question"), langs, "question", entry_id)
        answers = _per_language(raw.get("answer"), langs, "answer", entry_id)
        tags = _per_language(raw.get("tags"), langs, "tags", entry_id)
        for lang, answer in answers.items():
            asked = questions.get(lang) or questions.get("*")
            if not asked or not answer:
                raise FaqError(f"{source}: entry {entry_id!r} has an answer in {lang!r} but no question")
            entries.append(FaqEntry(entry_id, lang, asked, " ".join(answer), tags.get(lang) or tags.get("*") or ()))
        if not answers:
            raise FaqError(f"{source}: entry {entry_id!r} has no answer")
    return entries, fallback


def read_faq(path: Path) -> tuple[list[FaqEntry], dict[str, str], str]:
    """Entries, fallbacks and version (a hash of the file's bytes) of the FAQ file at `path`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FaqError(f"cannot read the FAQ {path}: {exc}") from exc
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise FaqError(f"{path}: not valid YAML: {exc}") from exc
    entries, fallback = parse_faq(data, str(path))
    return entries, fallback, hashlib.sha256(raw).hexdigest()[:16]


# ----- the in-memory index


@dataclass
class _Doc:
    entry: FaqEntry
    terms: Counter[str]
    length: int
    phrasings: tuple[frozenset[str], ...]  # the trigrams of each question and of the tags


class InMemoryFaqIndex:
    """The whole FAQ in memory: fine for the hundreds of entries a bot's FAQ has."""

    def __init__(self, entries: Sequence[FaqEntry], version: str, fallback: Mapping[str, str] | None = None) -> None:
        self.version = version
        self.fallback = dict(fallback or {})
        self._docs: dict[str, list[_Doc]] = {}
        for entry in entries:
            words = [t for q in entry.questions for t in tx.terms(q, entry.lang)]
            words += [t for tag in entry.tags for t in tx.terms(tag, entry.lang)]
            words += tx.terms(entry.answer, entry.lang)
            phrasings = tuple(tx.trigrams(q) for q in entry.questions)
            if entry.tags:
                phrasings += (tx.trigrams(" ".join(entry.tags)),)
            self._docs.setdefault(entry.lang, []).append(_Doc(entry, Counter(words), len(words), phrasings))
        self._vectors: dict[str, dict[str, tuple[float, ...]]] = {}

    @classmethod
    def from_file(cls, path: Path) -> InMemoryFaqIndex:
        entries, fallback, version = read_faq(path)
        return cls(entries, version, fallback)

    def languages(self) -> tuple[str, ...]:
        return tuple(self._docs)

    def _language(self, lang: str) -> str | None:
        for candidate in (lang, tx.base_lang(lang), self.fallback.get(lang), self.fallback.get(tx.base_lang(lang)), "*", "en"):
            if candidate and candidate in self._docs:
                return candidate
        return next(iter(self._docs), None)

    async def search(self, query: str, lang: str, *, limit: int = 3, vector: Sequence[float] | None = None,
                     model: str | None = None) -> list[Hit]:
        found = self._language(lang)
        if found is None:
            return []
        docs = self._docs[found]
        query_terms = tx.terms(query, found)
        query_grams = tx.trigrams(query)
        n = len(docs)
        avg = sum(d.length for d in docs) / n or 1.0
        df = Counter(t for d in docs for t in d.terms)
        idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in set(query_terms)}
        total_idf = sum(idf[t] for t in query_terms) or 1.0
        vectors = self._vectors.get(model or "", {}) if vector is not None else {}

        bm25: dict[int, float] = {}
        signals: list[dict[str, float]] = []
        for i, doc in enumerate(docs):
            score = 0.0
            matched = 0.0
            for t in query_terms:
                f = doc.terms.get(t, 0)
                if f:
                    matched += idf[t]
                    score += idf[t] * f * (BM25_K1 + 1) / (f + BM25_K1 * (1 - BM25_B + BM25_B * doc.length / avg))
            bm25[i] = score
            found_signals = {"keyword": matched / total_idf if query_terms else 0.0,
                             "trigram": max((tx.similarity(query_grams, g) for g in doc.phrasings), default=0.0)}
            stored = vectors.get(doc.entry.key)
            if stored is not None and vector is not None:
                found_signals["vector"] = max(0.0, tx.cosine(vector, stored))
            signals.append(found_signals)

        rankings = [sorted((i for i in bm25 if bm25[i] > 0), key=lambda i: -bm25[i])]
        for name in ("trigram", "vector"):
            rankings.append(sorted((i for i, s in enumerate(signals) if s.get(name, 0) > 0), key=lambda i: -signals[i][name]))
        fused = reciprocal_rank_fusion(rankings)
        hits = [Hit(docs[i].entry, score, confidence(signals[i]), signals[i]) for i, score in fused]
        return hits[:limit]

    async def pending_vectors(self, model: str) -> list[FaqEntry]:
        have = self._vectors.get(model, {})
        return [d.entry for docs in self._docs.values() for d in docs if d.entry.key not in have]

    async def store_vectors(self, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        self._vectors.setdefault(model, {}).update({k: tuple(v) for k, v in vectors.items()})


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Items of several best-first rankings ordered by the sum of 1 / (k + rank); ties by first seen."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def confidence(signals: Mapping[str, float]) -> float:
    """A weighted mean of the signals a search had, in [0, 1]."""
    weights = {name: WEIGHTS[name] for name in signals if name in WEIGHTS}
    total = sum(weights.values())
    if not total:
        return 0.0
    return round(min(1.0, max(0.0, sum(signals[n] * w for n, w in weights.items()) / total)), 4)


# ----- finding a bot's FAQ

_REPO = Path(__file__).resolve().parents[2]
_CACHE: dict[Path, tuple[tuple[int, int], InMemoryFaqIndex]] = {}
_CACHE_SIZE = 32

FaqIndexFactory = Callable[[str, str], Awaitable[FaqIndex]]


def resolve(bot: str, path: str) -> Path:
    """A FAQ path as a flow names it: absolute, or relative to the bot's folder (flows/<bot>/),
    else to the working directory."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    for base in (_REPO / "flows" / bot, Path.cwd()):
        if (base / candidate).is_file():
            return base / candidate
    return _REPO / "flows" / bot / candidate


async def open_index(bot: str, path: str, services: Mapping[str, Any]) -> FaqIndex:
    """The index of a bot's FAQ: the host's (`services["faq_index"]`), else read into memory once
    per file version (a changed file is read again)."""
    factory: FaqIndexFactory | None = services.get("faq_index")
    if factory is not None:
        return await factory(bot, path)
    where = resolve(bot, path)
    try:
        stat = os.stat(where)
    except OSError as exc:
        raise FaqError(f"no FAQ file at {where}: {exc}") from exc
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(where)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    index = InMemoryFaqIndex.from_file(where)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[where] = (stamp, index)
    return index
