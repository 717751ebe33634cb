"""A user's conversation between turns: a small JSON document.

Short keys keep a typical session well under 1 KB:

    {"l": "en", "k": [{"f": "booking", "v": "3f9a…", "s": "ask_qty", "r": "confirm", "d": {...}}],
     "g": {...}, "t": 0, "p": {...}, "h": [...], "w": [1767600000.0, 0], "i": 1767600000.0,
     "a": 1767600000.0, "o": 1, "u": {...}, "x": {...}}

k: the flow stack (flow, version, step, where the caller resumes, flow-scoped slots);
g: session-scoped slots; t: failed tries at the current question; p: a pending confirmation,
choice page or language pick; h: undo history; w: the current wait (since, next event index);
i: last inbound time (the 24-hour window); a: last activity; o: opted out; u: handed to a human;
x: the last action result; c: where replies go (e.g. a Chatwoot conversation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine import wire


@dataclass
class Frame:
    flow: str
    version: str
    step: str
    resume: str | None = None  # the caller's target state when this frame was called
    slots: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"f": self.flow, "v": self.version, "s": self.step}
        if self.resume is not None:
            out["r"] = self.resume
        if self.slots:
            out["d"] = self.slots
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> Frame:
        return Frame(flow=data["f"], version=data["v"], step=data["s"], resume=data.get("r"),
                     slots=dict(data.get("d") or {}))


@dataclass
class Session:
    lang: str
    stack: list[Frame] = field(default_factory=list)
    globals: dict[str, Any] = field(default_factory=dict)
    tries: int = 0
    pending: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    wait: list[float] | None = None  # [since, index of the next reminder/expiry]
    last_inbound: float | None = None
    last_active: float = 0.0
    opted_out: bool = False
    human: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    route: dict[str, Any] | None = None  # where replies go on channels that need more than the user id

    @property
    def frame(self) -> Frame | None:
        return self.stack[-1] if self.stack else None

    def to_bytes(self) -> bytes:
        out: dict[str, Any] = {"l": self.lang, "k": [f.to_json() for f in self.stack], "a": self.last_active}
        if self.globals:
            out["g"] = self.globals
        if self.tries:
            out["t"] = self.tries
        if self.pending is not None:
            out["p"] = self.pending
        if self.history:
            out["h"] = self.history
        if self.wait is not None:
            out["w"] = self.wait
        if self.last_inbound is not None:
            out["i"] = self.last_inbound
        if self.opted_out:
            out["o"] = 1
        if self.human is not None:
            out["u"] = self.human
        if self.result is not None:
            out["x"] = self.result
        if self.route is not None:
            out["c"] = self.route
        return wire.dumps(out)

    @staticmethod
    def from_bytes(raw: bytes) -> Session:
        data = wire.loads(raw)
        return Session(
            lang=data["l"], stack=[Frame.from_json(f) for f in data.get("k", [])],
            globals=dict(data.get("g") or {}), tries=int(data.get("t", 0)), pending=data.get("p"),
            history=list(data.get("h") or []), wait=data.get("w"), last_inbound=data.get("i"),
            last_active=float(data.get("a", 0.0)), opted_out=bool(data.get("o")), human=data.get("u"),
            result=data.get("x"), route=data.get("c"),
        )
