"""Built-in plugin `ai`: extraction, classification, moderation and FAQ answers (docs/plugins.md).

    actions: [ai]            # in bot.yaml
    settings:
      ai: {model: gpt-4o-mini, products: [maize, beans], faq: faq.yaml}

Online when `OPENAI_API_KEY` is set (or the host injects a client as `services["openai"]`):
the official `openai` client, pointed elsewhere with `OPENAI_BASE_URL`. Offline otherwise:
deterministic keyword, trigram and rule-based fallbacks, so development and tests need no
network. An online failure is never answered offline instead: the action raises, and the
step's `retries` and `on_error` apply.

One module per concept: client (settings, the OpenAI calls), extract, classify, moderate,
answer, faq (`FaqIndex` and the in-memory index), cache, schemas/ (the built-in JSON Schemas),
offline/ (the fallbacks), text (words, stems, trigrams).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.ai.answer import answer
from actions.ai.classify import classify
from actions.ai.extract import extract
from actions.ai.moderate import moderate
from actions.ai.schemas import BUILTIN
from engine.runtime.actions import Action

_TEXT = {"type": "string", "description": "The user's message, usually {{ inbound.text }} or a slot."}


def _intent_names(args: Mapping[str, Any]) -> tuple[str, ...] | None:
    """ai.classify's outcomes beyond `unknown`: the intents' names (None when a template gives them)."""
    intents = args.get("intents")
    if not isinstance(intents, list):
        return None
    names = [i.get("name") for i in intents if isinstance(i, dict)]
    if len(names) != len(intents) or not all(isinstance(n, str) and "{" not in n for n in names):
        return None
    return tuple(names)

def _moderated(args: Mapping[str, Any]) -> tuple[str, ...] | None:
    """ai.answer's outcomes beyond `answered` and `unknown`: `unsafe` when it moderates first
    (None when a template decides)."""
    moderate = args.get("moderate", False)
    if not isinstance(moderate, bool):
        return None
    return ("unsafe",) if moderate else ()


ACTIONS = [
    Action(
        name="ai.extract",
        fn=extract,
        args={
            "type": "object",
            "properties": {
                "text": _TEXT,
                "schema": {
                    "description": f"A built-in schema ({', '.join(BUILTIN)}) or an inline JSON Schema object.",
                    "anyOf": [{"type": "string", "enum": list(BUILTIN)}, {"type": "object"}],
                },
                "known": {"type": "object", "description": "Fields already collected (a previous `partial`)."},
                "moderate": {"type": "boolean", "default": True, "description": "Moderate the text first."},
            },
            "required": ["text", "schema"],
            "additionalProperties": False,
        },
        result={"partial": {"type": "object"}, "missing": {"type": "array"}, "invalid": {"type": "array"}},
        outcomes=("ok", "incomplete", "unsafe"),
        description="Extract the fields of a JSON Schema from free text (moderated first).",
    ),
    Action(
        name="ai.classify",
        fn=classify,
        args={
            "type": "object",
            "properties": {
                "text": _TEXT,
                "intents": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "examples": {"type": "array", "items": {"type": "string"}},
                            "description": {"type": "string"},
                        },
                        "required": ["name"],
                    },
                    "description": "The intents: [{name, examples: [...]}]; the outcome is a name or `unknown`.",
                },
                "threshold": {"type": "number", "minimum": 0, "maximum": 1,
                              "description": "Below this confidence the outcome is `unknown` (default 0.5)."},
            },
            "required": ["text", "intents"],
            "additionalProperties": False,
        },
        result={"intent": {"type": "string"}, "confidence": {"type": "number"}},
        outcomes=("unknown",),  # and each intent's name
        outcomes_of=_intent_names,
        description="Classify a message into one of the flow's intents, with a confidence.",
    ),
    Action(
        name="ai.moderate",
        fn=moderate,
        args={
            "type": "object",
            "properties": {"text": _TEXT},
            "required": ["text"],
            "additionalProperties": False,
        },
        result={"flagged": {"type": "boolean"}, "categories": {"type": "array"}},
        outcomes=("ok", "flagged"),
        description="Moderate a message (offline: a weak word-list gate).",
    ),
    Action(
        name="ai.answer",
        fn=answer,
        args={
            "type": "object",
            "properties": {
                "question": _TEXT,
                "faq": {"type": "string", "description": "The FAQ file, relative to the bot's folder (default settings.ai.faq)."},
                "min_confidence": {"type": "number", "minimum": 0, "maximum": 1,
                                   "description": "Below this retrieval confidence the outcome is `unknown` (default 0.35)."},
                "moderate": {"type": "boolean", "default": False, "description": "Moderate the question first."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 10, "description": "Entries retrieved (default 3)."},
            },
            "required": ["question"],
            "additionalProperties": False,
        },
        result={"answer": {"type": "string"}, "citations": {"type": "array"}, "confidence": {"type": "number"}},
        outcomes=("answered", "unknown"),  # and `unsafe` with `moderate: true`
        outcomes_of=_moderated,
        description="Answer from the bot's FAQ with citations (hybrid search, cached).",
    ),
]
