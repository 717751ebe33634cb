"""`ai.answer(question, faq, min_confidence, moderate)`: answer from the bot's FAQ, citing it.

- outcome `answered`: data `{answer, citations: [entry ids], confidence, lang, source, cached}`;
- outcome `unknown`: nothing in the FAQ matches well enough (`confidence` below
  `min_confidence`, default `settings.ai.answer_threshold`), or the model found the retrieved
  entries do not answer the question;
- outcome `unsafe`: only with `moderate: true`, when moderation flags the question.

Retrieval is hybrid (faq.py): keywords and trigrams always, plus embeddings cosine online
(POST /v1/embeddings; the entries are embedded once per FAQ version), merged by reciprocal
rank fusion. Online, a chat completion composes the answer from the best entries and must cite
them (citations outside the retrieved entries are dropped); offline, the best entry's answer
is returned verbatim with its id. Answers (and unknowns) are cached for `settings.ai.cache_ttl`
(a day) in Redis when the host injected one, else in process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from actions.ai.cache import AnswerCache, cache_key
from actions.ai.client import AiSettings, chat_json, connect, embed, online
from actions.ai.faq import FaqEntry, FaqIndex, Hit, open_index
from actions.ai.moderate import check as moderation_check
from engine.runtime.actions import ActionContext, ActionResult

EMBED_BATCH = 256
PROMPT = """You answer a customer's question for a WhatsApp bot, using only the FAQ entries below.
Reply in the language "{lang}", briefly. Put the id of every entry you used in `citations`.
If the entries do not answer the question, reply with an empty answer and no citations.
Never add facts that are not in the entries.

FAQ entries:
{entries}"""


def _schema(ids: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "citations": {"type": "array", "items": {"type": "string", "enum": ids}},
        },
        "required": ["answer", "citations"],
        "additionalProperties": False,
    }


def _entries(hits: Sequence[Hit]) -> str:
    return "\n\n".join(f"[{h.entry.id}]\nQ: {h.entry.questions[0]}\nA: {h.entry.answer}" for h in hits)


def _unknown(hits: Sequence[Hit], source: str) -> ActionResult:
    best = max((h.confidence for h in hits), default=0.0)
    return ActionResult("unknown", {"answer": "", "citations": [], "confidence": best, "source": source})


async def _vectors(client: Any, settings: AiSettings, index: FaqIndex, question: str) -> list[float]:
    """The question's embedding; entries without one are embedded in the same requests."""
    pending: list[FaqEntry] = await index.pending_vectors(settings.embedding_model)
    texts = [question] + [e.embedding_text() for e in pending]
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors += await embed(client, settings, texts[start:start + EMBED_BATCH])
    if pending:
        await index.store_vectors(settings.embedding_model, {e.key: v for e, v in zip(pending, vectors[1:], strict=True)})
    return vectors[0]


async def _online(ctx: ActionContext, settings: AiSettings, index: FaqIndex, question: str, threshold: float,
                  limit: int, moderate: bool) -> ActionResult:
    async with connect(ctx) as client:
        if moderate:
            verdict = await moderation_check(ctx, question, client)
            if verdict.flagged:
                return ActionResult("unsafe", verdict.data())
        vector = await _vectors(client, settings, index, question)
        hits = await index.search(question, ctx.lang, limit=limit, vector=vector, model=settings.embedding_model)
        good = [h for h in hits if h.confidence >= threshold]
        if not good:
            return _unknown(hits, "openai")
        ids = [h.entry.id for h in good]
        prompt = PROMPT.format(lang=ctx.lang, entries=_entries(good))
        composed = await chat_json(client, settings, "faq_answer", _schema(ids),
                                   [{"role": "system", "content": prompt}, {"role": "user", "content": question}])
    composed = composed if isinstance(composed, Mapping) else {}
    cited = [c for c in dict.fromkeys(map(str, composed.get("citations") or [])) if c in ids]
    text = str(composed.get("answer") or "").strip()
    if not cited or not text:
        return _unknown(hits, "openai")
    confidence = max(h.confidence for h in good if h.entry.id in cited)
    return ActionResult("answered", {"answer": text, "citations": cited, "confidence": confidence,
                                     "lang": good[0].entry.lang, "source": "openai"})


async def answer(ctx: ActionContext, question: str, faq: str | None = None, min_confidence: float | None = None,
                 moderate: bool = False, limit: int = 3) -> ActionResult:
    settings = AiSettings.of(ctx)
    path = str(faq or settings.faq or "")
    if not path:
        raise ValueError("ai.answer needs `faq` (a FAQ file) or settings.ai.faq")
    question = str(question or "")
    threshold = settings.answer_threshold if min_confidence is None else float(min_confidence)
    index = await open_index(ctx.bot, path, ctx.services)
    is_online = online(ctx)
    mode = (settings.model, settings.embedding_model) if is_online else ("offline",)
    key = cache_key(str(ctx.services.get("redis_prefix") or "fb"), ctx.bot, ctx.lang, index.version, question,
                    threshold, limit, *mode)
    cache = AnswerCache(ctx.services.get("redis"), settings.cache_ttl)
    cached = await cache.get(key)
    if cached is not None and isinstance(cached.get("data"), dict):
        return ActionResult(str(cached.get("outcome")), {**cached["data"], "cached": True})
    if is_online:
        result = await _online(ctx, settings, index, question, threshold, max(1, int(limit)), moderate)
    else:
        if moderate:
            verdict = await moderation_check(ctx, question)
            if verdict.flagged:
                return ActionResult("unsafe", verdict.data())
        hits = await index.search(question, ctx.lang, limit=max(1, int(limit)))
        best = hits[0] if hits else None
        if best is None or best.confidence < threshold:
            result = _unknown(hits, "offline")
        else:
            result = ActionResult("answered", {"answer": best.entry.answer, "citations": [best.entry.id],
                                               "confidence": best.confidence, "lang": best.entry.lang,
                                               "source": "offline"})
    if result.outcome != "unsafe":
        await cache.set(key, {"outcome": result.outcome, "data": dict(result.data)})
    return ActionResult(result.outcome, {**result.data, "cached": False})
