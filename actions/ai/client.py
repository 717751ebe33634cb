"""The OpenAI side: settings, whether to go online, the client, and the three calls the actions make.

Online when the host injected a client (`ctx.services["openai"]`, an `openai.AsyncOpenAI`) or
`OPENAI_API_KEY` is set; then every action speaks to the API (the official client reads
`OPENAI_API_KEY` and `OPENAI_BASE_URL` itself, so any server that speaks the OpenAI HTTP API
will do). Offline otherwise: the deterministic fallbacks in `actions/ai/offline/`.

An online failure (HTTP error, timeout, an answer that is not the JSON asked for) raises: the
step's `retries` and then its `on_error` apply. Falling back to the offline matchers on a
server error would silently answer worse, so it is never done.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.runtime.actions import ActionContext


class AiError(Exception):
    """The model answered something the action cannot use."""


class Refused(AiError):
    """The model refused to answer (structured outputs' `refusal`)."""


@dataclass(frozen=True)
class AiSettings:
    """`settings.ai` of a bot (every key optional)."""

    model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    moderation_model: str = "omni-moderation-latest"
    temperature: float | None = None  # omitted unless set: some models accept only their default
    timeout: float = 20.0  # seconds per request; the step's `timeout` bounds the whole action
    max_retries: int = 0  # retries inside the client; the step's `retries` is the usual place
    products: tuple[Any, ...] = ()  # vocabulary of the offline extractor: names or {name, synonyms}
    blocked_words: tuple[str, ...] = ()  # added to the offline moderation word list
    classify_threshold: float = 0.5
    answer_threshold: float = 0.35
    cache_ttl: int = 86_400  # seconds an answer stays cached
    faq: str = ""  # the default FAQ file of ai.answer

    @classmethod
    def of(cls, ctx: ActionContext) -> AiSettings:
        raw = ctx.settings.get("ai") or {}
        if not isinstance(raw, Mapping):
            raise TypeError("settings.ai must be a mapping")
        known = {f.name for f in fields(cls)}
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items() if k in known}
        return cls(**values)


def online(ctx: ActionContext) -> bool:
    return ctx.services.get("openai") is not None or bool(os.environ.get("OPENAI_API_KEY"))


def now(ctx: ActionContext) -> datetime:
    """The host's clock (`services["clock"]`) or the wall clock, naive, in the bot's timezone."""
    clock = ctx.services.get("clock")
    moment = clock.datetime() if clock is not None else datetime.now(UTC)
    return moment.astimezone(ZoneInfo(str(ctx.settings.get("timezone") or "UTC"))).replace(tzinfo=None)


@asynccontextmanager
async def connect(ctx: ActionContext) -> AsyncIterator[Any]:
    """The injected client, or a fresh `AsyncOpenAI` closed afterwards."""
    injected = ctx.services.get("openai")
    if injected is not None:
        yield injected
        return
    # imported when first used: offline bots never pay for it
    from openai import AsyncOpenAI

    settings = AiSettings.of(ctx)
    async with AsyncOpenAI(timeout=settings.timeout, max_retries=settings.max_retries) as client:
        yield client


async def chat_json(client: Any, settings: AiSettings, name: str, schema: Mapping[str, Any],
                    messages: Sequence[Mapping[str, str]]) -> Any:
    """A chat completion constrained to `schema` (structured outputs, strict), parsed."""
    extra = {"temperature": settings.temperature} if settings.temperature is not None else {}
    completion = await client.chat.completions.create(
        model=settings.model,
        messages=list(messages),
        response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}},
        **extra,
    )
    if not completion.choices:
        raise AiError("the chat completion has no choices")
    message = completion.choices[0].message
    if getattr(message, "refusal", None):
        raise Refused(str(message.refusal))
    try:
        return json.loads(message.content or "")
    except ValueError as exc:
        raise AiError(f"the model did not answer JSON: {str(message.content)[:200]!r}") from exc


async def embed(client: Any, settings: AiSettings, texts: Sequence[str]) -> list[list[float]]:
    """Embeddings of `texts`, in order."""
    response = await client.embeddings.create(model=settings.embedding_model, input=list(texts))
    vectors = sorted(response.data, key=lambda d: d.index)
    if len(vectors) != len(texts):
        raise AiError(f"asked for {len(texts)} embeddings, got {len(vectors)}")
    return [list(v.embedding) for v in vectors]


async def moderation(client: Any, settings: AiSettings, text: str) -> tuple[bool, list[str]]:
    """(flagged, the flagged categories) from the moderation endpoint."""
    response = await client.moderations.create(model=settings.moderation_model, input=text)
    if not response.results:
        raise AiError("the moderation has no results")
    result = response.results[0]
    categories = result.categories.model_dump(by_alias=True) if hasattr(result.categories, "model_dump") else {}
    return bool(result.flagged), sorted(name for name, on in categories.items() if on)
