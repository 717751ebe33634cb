"""A bot as the runtime sees it: immutable values built once from the YAML files.

A *message* is kept as written (a catalog key, inline text, a per-language map, or a list of
those); `engine.i18n` renders it. A *target* says where to go next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

Message = Union[str, dict[str, str], list[Any]]

END = "end"  # the reserved step name that ends a flow


@dataclass(frozen=True, slots=True)
class Target:
    """A step of this flow (`flow` None), or a flow (at `step`, or at its start)."""

    step: str | None = None
    flow: str | None = None

    @property
    def is_end(self) -> bool:
        return self.flow is None and self.step == END

    def state(self) -> str:
        """The name of this target as a state of the flow's machine."""
        if self.flow is None:
            return self.step or END
        return f"@{self.flow}" + (f".{self.step}" if self.step else "")

    @staticmethod
    def from_state(state: str) -> Target:
        if not state.startswith("@"):
            return Target(step=state)
        flow, _, step = state[1:].partition(".")
        return Target(step=step or None, flow=flow)


@dataclass(frozen=True, slots=True)
class Branch:
    """Say something (optional), then go somewhere: `fallback`, `on_error`."""

    next: Target
    say: Message | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    id: str
    title: Message
    description: Message | None = None


@dataclass(frozen=True, slots=True)
class DynamicChoices:
    """Choices computed at run time from an expression yielding a list of mappings."""

    source: str
    id: str = "id"
    title: str = "title"
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Reminder:
    after: float
    say: Message
    template: str | None = None


@dataclass(frozen=True, slots=True)
class Expiry:
    after: float
    next: Target
    say: Message | None = None
    template: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    reminders: tuple[Reminder, ...] = ()
    expire: Expiry | None = None

    def events(self) -> list[tuple[float, Reminder | Expiry]]:
        """Reminders and the expiry in the order they fire."""
        items: list[tuple[float, Reminder | Expiry]] = [(r.after, r) for r in self.reminders]
        if self.expire is not None:
            items.append((self.expire.after, self.expire))
        return sorted(items, key=lambda item: item[0])


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    kind: str  # say, ask, action, if, call, goto, handoff, end
    say: Message | None = None
    next: Target | None = None
    template: str | None = None  # sent instead of the message/question outside the 24-hour window
    # ask
    ask: Message | None = None
    into: str | None = None
    validate: dict[str, Any] | None = None
    invalid: Message | None = None
    retries: int = 3
    fallback: Branch | None = None
    choices: tuple[Choice, ...] | DynamicChoices | None = None
    button: Message | None = None
    wait: Wait | None = None
    # ask with choices, action
    on: dict[str, Target] = field(default_factory=dict)
    # action
    action: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    timeout: float = 10.0
    action_retries: int = 0
    on_error: Branch | None = None
    # if
    conditions: tuple[tuple[str, Target], ...] = ()
    # call, goto, handoff
    call: str | None = None
    goto: Target | None = None
    handoff: dict[str, Any] | None = None

    def targets(self) -> list[tuple[str, Target]]:
        """Every way out of this step, labelled as the flow's machine names its triggers."""
        out: list[tuple[str, Target]] = []
        if self.next is not None:
            out.append(("next", self.next))
        out.extend((f"on:{key}", target) for key, target in self.on.items())
        out.extend((f"if:{i}", target) for i, (_, target) in enumerate(self.conditions))
        if self.fallback is not None:
            out.append(("fallback", self.fallback.next))
        if self.on_error is not None:
            out.append(("error", self.on_error.next))
        if self.wait is not None and self.wait.expire is not None:
            out.append(("expire", self.wait.expire.next))
        if self.goto is not None:
            out.append(("goto", self.goto))
        if self.call is not None:
            out.append(("call", Target(flow=self.call)))
        if self.kind == "end":
            out.append(("next", Target(step=END)))
        return out


@dataclass(frozen=True, slots=True)
class SlotDef:
    name: str
    type: str = "text"
    default: Any = None
    scope: str = "flow"  # flow or session


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    start: str
    steps: dict[str, Step]
    slots: dict[str, SlotDef]
    file: Path
    version: str  # a hash of the file's bytes: sessions finish on the version they started on
    description: str = ""


@dataclass(frozen=True, slots=True)
class Interrupt:
    name: str  # help, menu, cancel, undo, language, stop, start
    words: dict[str, tuple[str, ...]]  # language ("*" for all) -> words
    say: Message | None = None
    flow: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A WhatsApp template a flow may send outside the 24-hour window."""

    key: str
    name: str
    languages: dict[str, str] = field(default_factory=dict)  # bot language -> WhatsApp code
    params: tuple[str, ...] = ()

    def language_code(self, lang: str) -> str:
        return self.languages.get(lang, lang)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    restart_after: float = 30 * 86400.0
    expired: Message | None = None
    undo_depth: int = 5
    ttl: float = 90 * 86400.0


@dataclass(frozen=True)
class Bot:
    name: str
    root: Path
    start: str
    languages: tuple[str, ...]
    fallback: dict[str, str]
    flows: dict[str, Flow]
    interrupts: dict[str, Interrupt] = field(default_factory=dict)
    templates: dict[str, TemplateRef] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    session: SessionSettings = field(default_factory=SessionSettings)
    action_modules: tuple[str, ...] = ()
    proactive: tuple[str, ...] = ()  # flows other systems may start through the proactive API
    manifest: dict[str, Any] = field(default_factory=dict)
    title: str = ""

    @property
    def primary_language(self) -> str:
        return self.languages[0]

    def language_chain(self, lang: str) -> list[str]:
        """Where a message is looked up for `lang`: itself, its fallbacks, then the primary."""
        chain: list[str] = []
        current: str | None = lang
        while current and current not in chain:
            chain.append(current)
            current = self.fallback.get(current)
        if self.primary_language not in chain:
            chain.append(self.primary_language)
        return chain
