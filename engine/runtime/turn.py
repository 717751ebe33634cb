"""One turn: a session, an event (a message or a timer), and the steps it sets going.

A `Turn` walks the flow from where the session stands until the bot needs the user again (an
ask), hands the chat to a human, or the conversation ends. It collects what to send and what
happened; the `Runtime` around it loads and saves the session under the user's lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from engine.flow import limits
from engine.flow.model import Flow, Step, Target
from engine.messages import Outbound, Template
from engine.runtime.session import Frame, Session
from engine.runtime.questions import Questions
from engine.runtime.steps import execute

if TYPE_CHECKING:
    from engine.runtime.runtime import Runtime

log = logging.getLogger("flowbot.turn")
MAX_STEPS_PER_TURN = 64
CONFIRMED_BY_DEFAULT = {"money", "date"}


@dataclass
class TurnResult:
    outbound: list[Outbound] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    forget: bool = False  # the user confirmed "delete my data": the host queues the deletion


class FlowBug(Exception):
    """A flow that cannot go on (a missing step, a loop without a question): an author's bug."""


class Turn(Questions):
    def __init__(self, runtime: Runtime, session: Session, user: str, now: float, message_id: str = "") -> None:
        self.rt = runtime
        self.session = session
        self.user = user
        self.now = now
        self.message_id = message_id
        self.result = TurnResult()
        self.stubs: dict[str, Any] = {}
        self.user_name = ""

    # ----- where we are
    def flow(self, frame: Frame | None = None) -> Flow:
        frame = frame or self.session.frame
        assert frame is not None
        return self.rt.flow_version(frame.flow, frame.version)

    def step(self) -> Step | None:
        frame = self.session.frame
        if frame is None:
            return None
        return self.flow(frame).steps.get(frame.step)

    def chain(self) -> list[str]:
        return self.rt.bot.language_chain(self.session.lang)

    def variables(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        frame = self.session.frame
        slots = dict(self.session.globals)
        if frame is not None:
            slots.update(frame.slots)
        result = self.session.result or {}
        tz = ZoneInfo(str(self.rt.bot.settings.get("timezone", "UTC")))
        out: dict[str, Any] = {
            "slots": slots,
            "result": {"outcome": result.get("o"), **(result.get("d") or {})},
            "user": {"id": self.user, "lang": self.session.lang, "name": self.user_name},
            "bot": {"name": self.rt.bot.name, "settings": self.rt.bot.settings},
            "now": datetime.fromtimestamp(self.now, tz),
            "_lang": self.session.lang,
        }
        if extra:
            out.update(extra)
        return out

    # ----- output
    def outside_window(self) -> bool:
        last = self.session.last_inbound
        return last is None or self.now - last > limits.SERVICE_WINDOW

    def emit(self, out: Outbound) -> None:
        if self.outside_window():
            self.event(f"not sent, outside the 24-hour window: {out.text[:40]!r}")
            return
        self.result.outbound.append(out)

    def texts(self, message: Any, extra: dict[str, Any] | None = None) -> list[str]:
        return self.rt.renderer.render(message, self.chain(), self.variables(extra))

    def say(self, message: Any, extra: dict[str, Any] | None = None) -> None:
        for text in self.texts(message, extra):
            if text:
                self.emit(Outbound(to=self.user, text=text[: limits.TEXT_BODY]))

    def say_or_template(self, message: Any, template: str | None) -> None:
        """A message that may go out after the window closed: the template then, text before.

        Inside the window the text carries the template too, so the sender can fall back to
        it if WhatsApp still answers that the window is closed (131047).
        """
        if not template:
            if message is not None:
                self.say(message)
            return
        ref = self.rt.bot.templates[template]
        params = tuple(self.rt.renderer.text(p, self.variables()) for p in ref.params)
        tpl = Template(name=ref.name, language=ref.language_code(self.session.lang), params=params)
        if self.outside_window():
            self.result.outbound.append(Outbound(to=self.user, kind="template", template=tpl))
            self.event(f"template {ref.name} (outside the 24-hour window)")
            return
        for text in self.texts(message) if message is not None else []:
            if text:
                self.emit(Outbound(to=self.user, text=text[: limits.TEXT_BODY], template=tpl))

    def event(self, text: str) -> None:
        self.result.events.append(text)

    # ----- moving
    async def go(self, target: Target, via: str | None = None) -> None:
        """Move to a target and run steps until the bot must wait. `via` names the way out of the
        current step this is (`expire`, or `next` after a handoff's release), for coverage."""
        frame = self.session.frame
        if via is not None and frame is not None and self.rt.coverage is not None:
            self.rt.coverage.take(frame.flow, frame.step, via)
        self.session.tries = 0
        self.session.pending = None
        self._move(target)
        await self.run()

    def _move(self, target: Target) -> None:
        if target.flow is not None:
            if self.session.stack:
                self.session.stack.pop()
            self.push(target.flow, target.step)
            self.prune_history()
        elif target.is_end:
            self.end_flow()
        else:
            frame = self.session.frame
            assert frame is not None
            frame.step = target.step or self.flow(frame).start

    def push(self, flow_name: str, step: str | None = None, resume: str | None = None) -> None:
        flow = self.rt.current_flow(flow_name)
        self.session.stack.append(Frame(flow=flow.name, version=flow.version, step=step or flow.start, resume=resume))
        for slot in flow.slots.values():
            if slot.default is not None:
                if slot.scope == "session":
                    self.session.globals.setdefault(slot.name, slot.default)
                else:
                    self.session.stack[-1].slots[slot.name] = slot.default

    def end_flow(self) -> None:
        ended = self.session.stack.pop()
        self.prune_history()
        if self.session.stack and ended.resume:
            caller = self.session.stack[-1]
            called = self.flow(caller).steps.get(caller.step)
            if self.rt.coverage is not None and called is not None and called.kind == "call":  # its `next`, on return
                self.rt.coverage.take(caller.flow, caller.step, "next")
            self._move(Target.from_state(ended.resume))

    async def start(self, flow: str | None = None) -> None:
        self.session.stack.clear()
        self.session.history.clear()
        self.push(flow or self.rt.bot.start)
        await self.run()

    async def run(self) -> None:
        for _ in range(MAX_STEPS_PER_TURN):
            step = self.step()
            if step is None:
                if self.session.stack:
                    raise FlowBug(f"step {self.session.stack[-1].step!r} does not exist in flow {self.session.stack[-1].flow!r}")
                return
            if self.rt.coverage is not None:
                self.rt.coverage.visit(self.session.stack[-1].flow, step.name)
            if not await execute(self, step):
                return
        raise FlowBug(f"more than {MAX_STEPS_PER_TURN} steps without a question: a loop in flow {self.session.stack[-1].flow!r}?")

    def follow(self, step: Step, label: str) -> bool:
        """Take the way out named `label` (via the flow machine); False if there is none."""
        frame = self.session.frame
        assert frame is not None
        target = self.rt.machine(frame.flow, frame.version).destination(step.name, label)
        if target is None:
            return False
        if self.rt.coverage is not None:
            self.rt.coverage.take(frame.flow, step.name, label)
        self.session.tries = 0
        self.session.pending = None
        self._move(target)
        return True

    # ----- slots
    def store(self, name: str, value: Any) -> None:
        frame = self.session.frame
        assert frame is not None
        slot = self.flow(frame).slots.get(name)
        if slot is not None and slot.scope == "session":
            self.session.globals[name] = value
        else:
            frame.slots[name] = value

    def remember_for_undo(self, step: Step) -> None:
        """Note where the user was and what the answered slot held, to take it back (`undo`).

        An entry is small (the stack's positions and one slot's old value), and only lives as
        long as the frames it points at: a flow that ends takes its entries with it.
        """
        depth = self.rt.bot.session.undo_depth
        frame = self.session.frame
        if depth <= 0 or frame is None:
            return
        entry: dict[str, Any] = {"s": [[f.flow, f.version, f.step, f.resume] for f in self.session.stack]}
        if step.into:
            slot = self.flow(frame).slots.get(step.into)
            scoped = self.session.globals if slot is not None and slot.scope == "session" else frame.slots
            entry["k"] = step.into
            if slot is not None and slot.scope == "session":
                entry["g"] = 1
            if step.into in scoped:
                entry["o"] = scoped[step.into]
        self.session.history = (self.session.history + [entry])[-depth:]

    def prune_history(self) -> None:
        stack = self.session.stack
        self.session.history = [
            e for e in self.session.history
            if len(e["s"]) <= len(stack) and all(stack[i].flow == pos[0] for i, pos in enumerate(e["s"]))
        ]

    def undo(self) -> bool:
        self.prune_history()
        if not self.session.history:
            return False
        entry = self.session.history.pop()
        stack = self.session.stack[: len(entry["s"])]
        for frame, (flow, version, step, resume) in zip(stack, entry["s"]):
            frame.version, frame.step, frame.resume = version, step, resume
        self.session.stack = stack
        if "k" in entry:
            scoped = self.session.globals if entry.get("g") else stack[-1].slots
            if "o" in entry:
                scoped[entry["k"]] = entry["o"]
            else:
                scoped.pop(entry["k"], None)
        self.session.tries = 0
        self.session.pending = None
        return True
