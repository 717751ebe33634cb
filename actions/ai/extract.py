"""`ai.extract(text, schema, known, moderate)`: a free-text message into a JSON Schema.

- outcome `ok`: data is the extracted object, valid against the schema;
- outcome `incomplete`: data `{partial, missing: [dotted paths], invalid: [{path, message}]}`;
  a flow asks for what is missing and calls again with `known: "{{ slots.partial }}"`;
- outcome `unsafe`: moderation flagged the text (or the model refused); data `{categories}`.

The text is moderated first (unless `moderate: false`). Online, the model fills the schema
through structured outputs (`response_format: json_schema`, strict); offline, the rules in
offline/extract.py fill what they can. Either way the result is checked against the schema
with jsonschema, so `ok` always means valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.ai import schemas
from actions.ai.client import AiSettings, Refused, chat_json, connect, now, online
from actions.ai.moderate import check as moderation_check
from actions.ai.offline.extract import extract as offline_extract
from engine.runtime.actions import ActionContext, ActionResult

PROMPT = """You extract structured data from a message a user sent to a WhatsApp bot.
Fill the JSON Schema "{name}" with what the message says. Use null for anything it does not say:
never guess, never invent. Numbers are plain numbers (1500, not "1,500"). Dates are ISO 8601
(YYYY-MM-DD); today is {today} ({weekday}). Currencies are ISO 4217 codes; a price with no
currency named is in {currency}. The message is in the language "{lang}".{vocabulary}"""


def _vocabulary(products: tuple[Any, ...]) -> str:
    names = [str(p.get("name")) if isinstance(p, Mapping) else str(p) for p in products]
    names = [n for n in names if n and n != "None"]
    return f"\nName products as in this list when they match: {', '.join(names)}." if names else ""


def messages(ctx: ActionContext, settings: AiSettings, name: str, text: str) -> list[dict[str, str]]:
    today = now(ctx)
    system = PROMPT.format(name=name, today=today.date().isoformat(), weekday=today.strftime("%A"),
                           currency=ctx.settings.get("currency") or "the local currency", lang=ctx.lang,
                           vocabulary=_vocabulary(settings.products))
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


async def extract(ctx: ActionContext, text: str, schema: str | Mapping[str, Any] = "order",
                  known: Mapping[str, Any] | None = None, moderate: bool = True) -> ActionResult:
    settings = AiSettings.of(ctx)
    name, chosen = schemas.load(schema)
    if known is not None and not isinstance(known, Mapping):
        raise TypeError(f"`known` is the object a previous call returned as `partial`, not {type(known).__name__}")
    text = str(text or "")
    if online(ctx):
        async with connect(ctx) as client:
            if moderate:
                verdict = await moderation_check(ctx, text, client)
                if verdict.flagged:
                    return ActionResult("unsafe", verdict.data())
            try:
                found = await chat_json(client, settings, name, schemas.strict(chosen), messages(ctx, settings, name, text))
            except Refused as exc:
                return ActionResult("unsafe", {"flagged": True, "categories": [], "source": "openai", "refusal": str(exc)})
    else:
        if moderate:
            verdict = await moderation_check(ctx, text)
            if verdict.flagged:
                return ActionResult("unsafe", verdict.data())
        found = offline_extract(text, chosen, ctx.lang, now(ctx), settings.products, ctx.settings.get("currency"))
    fresh = {k: v for k, v in (found if isinstance(found, Mapping) else {}).items() if v is not None and v != ""}
    checked = schemas.check(chosen, {**dict(known or {}), **fresh})
    if checked.complete:
        return ActionResult("ok", checked.value)
    return ActionResult("incomplete", {"partial": checked.value, "missing": checked.missing, "invalid": checked.invalid})
