"""The validator contract: an answer goes in, a typed value or a reason comes out.

A validator is a plain function `(spec, inbound, ctx) -> Valid | Invalid`. It never sends
anything: the runtime turns `Invalid.key` into a message in the user's language (catalog keys
under `flowbot.invalid.*`, overridable by a bot's own catalog) and re-asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union

from engine.messages import Inbound


@dataclass(frozen=True, slots=True)
class Valid:
    """An accepted answer: `value` is stored in the slot (JSON-serializable), `shown` is how
    the value is said back to the user when a step confirms it."""

    value: Any
    shown: str = ""


@dataclass(frozen=True, slots=True)
class Invalid:
    """A refused answer: a catalog key saying what was wrong, and values for its template."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


Outcome = Union[Valid, Invalid]


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """What a validator may know about the user and the bot."""

    lang: str = "en"
    languages: tuple[str, ...] = ("en",)
    now: datetime | None = None  # aware; the injected clock's time in the bot's timezone
    timezone: str = "UTC"
    region: str | None = None  # default phone region, e.g. "KE"
    currency: str | None = None
    yes_words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # extra words per lang
    no_words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


Validator = Callable[[Mapping[str, Any], Inbound, ValidationContext], Outcome]


@dataclass(frozen=True, slots=True)
class ValidatorSpec:
    """A validator with the options it accepts, so lint can check a step's `validate:`."""

    name: str
    fn: Validator
    options: Mapping[str, Any] = field(default_factory=dict)  # JSON Schema properties
