"""`ai.classify(text, intents, threshold)`: which of the flow's intents a message means.

The outcome is the intent's name (a flow branches on it under `on:`), or `unknown` when the
confidence is below `threshold` (default `settings.ai.classify_threshold`, 0.5); data
`{intent, confidence, guess, source}` (`guess`: the best intent even when below threshold).

Online: a chat completion answering `{intent, confidence}` in a strict JSON Schema whose
intent is one of the names or "unknown". Offline: keyword and trigram similarity to each
intent's examples (offline/classify.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from actions.ai.client import AiSettings, chat_json, connect, online
from actions.ai.offline.classify import classify as offline_classify
from engine.runtime.actions import ActionContext, ActionResult

UNKNOWN = "unknown"
PROMPT = """You classify a message a user sent to a WhatsApp bot into one of these intents.
Answer the intent's name and your confidence between 0 and 1. Answer "unknown" when none fits.
The message is in the language "{lang}"; the examples may be in other languages.

{intents}"""


def parse_intents(intents: Any) -> list[tuple[str, list[str], str]]:
    """(name, examples, description) of each intent a flow lists."""
    if not isinstance(intents, Sequence) or isinstance(intents, str) or not intents:
        raise ValueError("`intents` is a non-empty list of {name, examples: [...]}")
    out = []
    for item in intents:
        if not isinstance(item, Mapping) or not str(item.get("name") or "").strip():
            raise ValueError(f"an intent needs a `name`: {item!r}")
        name = str(item["name"]).strip()
        if name == UNKNOWN:
            raise ValueError(f"{UNKNOWN!r} is the outcome below the threshold, not an intent name")
        examples = item.get("examples") or []
        if isinstance(examples, str):
            examples = [examples]
        description = str(item.get("description") or "")
        if not examples and not description:
            raise ValueError(f"the intent {name!r} needs `examples` (or at least a `description`)")
        out.append((name, [str(e) for e in examples], description))
    return out


def _schema(names: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "intent": {"type": "string", "enum": [*names, UNKNOWN]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["intent", "confidence"],
        "additionalProperties": False,
    }


def _listing(intents: list[tuple[str, list[str], str]]) -> str:
    lines = []
    for name, examples, description in intents:
        lines.append(f"- {name}" + (f": {description}" if description else ""))
        lines += [f"    e.g. {e}" for e in examples]
    return "\n".join(lines)


async def classify(ctx: ActionContext, text: str, intents: list[Mapping[str, Any]],
                   threshold: float | None = None) -> ActionResult:
    settings = AiSettings.of(ctx)
    parsed = parse_intents(intents)
    names = [name for name, _, _ in parsed]
    limit = settings.classify_threshold if threshold is None else float(threshold)
    text = str(text or "")
    if online(ctx):
        prompt = PROMPT.format(lang=ctx.lang, intents=_listing(parsed))
        async with connect(ctx) as client:
            answer = await chat_json(client, settings, "intent", _schema(names),
                                     [{"role": "system", "content": prompt}, {"role": "user", "content": text}])
        answer = answer if isinstance(answer, Mapping) else {}
        guess = str(answer.get("intent") or UNKNOWN)
        try:
            confidence = float(answer.get("confidence", 0.0))
        except (TypeError, ValueError):
            confidence = 0.0
        source = "openai"
    else:
        best, confidence = offline_classify(text, [(n, e or [d]) for n, e, d in parsed], ctx.lang)
        guess, source = best or UNKNOWN, "offline"
    confidence = round(min(1.0, max(0.0, confidence)), 4)
    intent = guess if guess in names and confidence >= limit else UNKNOWN
    return ActionResult(intent, {"intent": intent, "confidence": confidence, "guess": guess, "source": source})
