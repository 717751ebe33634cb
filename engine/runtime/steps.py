"""What each kind of step does when the conversation reaches it.

`execute` returns True when the turn should go on to the next step, False when the bot now
waits (a question was asked, the chat went to a human, the conversation ended).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from engine import metrics
from engine.flow.model import END, Step, Target
from engine.runtime import actions as act

if TYPE_CHECKING:
    from engine.runtime.turn import Turn

log = logging.getLogger("flowbot.steps")
_WHOLE_EXPRESSION = re.compile(r"^\{\{(.*)\}\}$", re.DOTALL)


async def execute(turn: Turn, step: Step) -> bool:
    if step.say is not None and step.kind != "ask":
        turn.say_or_template(step.say, step.template)
    return await _KINDS[step.kind](turn, step)


async def _say(turn: Turn, step: Step) -> bool:
    if not turn.follow(step, "next"):
        turn._move(Target(step=END))
    return bool(turn.session.stack)


async def _ask(turn: Turn, step: Step) -> bool:
    if step.template is not None and turn.outside_window():
        turn.say_or_template(None, step.template)  # the template's quick replies answer the question
        return False
    if step.say is not None:
        turn.say(step.say)
    turn.prompt(step)
    return False


async def _end(turn: Turn, step: Step) -> bool:
    turn._move(Target(step=END))
    return bool(turn.session.stack)


async def _if(turn: Turn, step: Step) -> bool:
    variables = turn.variables()
    for i, (expression, _) in enumerate(step.conditions):
        if turn.rt.renderer.evaluate(expression, variables):
            turn.follow(step, f"if:{i}")
            return True
    return await _say(turn, step)


async def _call(turn: Turn, step: Step) -> bool:
    assert step.call is not None
    resume = step.next.state() if step.next is not None else END
    turn.push(step.call, resume=resume)
    return True


async def _goto(turn: Turn, step: Step) -> bool:
    turn.follow(step, "goto")
    return True


async def _handoff(turn: Turn, step: Step) -> bool:
    reason = str((step.handoff or {}).get("reason", ""))
    resume = step.next.state() if step.next is not None else END
    turn.session.human = {"since": turn.now, "reason": reason, "resume": resume}
    turn.event(f"handed to a human ({reason or 'no reason given'})")
    return False


async def _action(turn: Turn, step: Step) -> bool:
    assert step.action is not None
    frame = turn.session.frame
    assert frame is not None
    try:
        args = render_args(turn, step.args)
        result = await _run_action(turn, step, args)
    except (act.ActionError, Exception) as exc:  # noqa: BLE001 - every failure follows on_error
        metrics.count(metrics.ACTION_FAILURES, turn.rt.bot.name, step.action)
        return _failed(turn, step, frame.flow, str(exc), f"{step.action} failed: {exc}")
    turn.session.result = {"o": result.outcome, "d": dict(result.data)}
    turn.event(f"{step.action} → {result.outcome}")
    if step.into:
        turn.store(step.into, dict(result.data))
    if turn.follow(step, f"on:{result.outcome}") or turn.follow(step, "next"):
        return True
    if step.on:  # an outcome the flow does not handle is an error, not a silent end
        problem = f"outcome {result.outcome!r} has no branch"
        return _failed(turn, step, frame.flow, problem, f"{step.action}: {problem}")
    turn._move(Target(step=END))
    return bool(turn.session.stack)


def _failed(turn: Turn, step: Step, flow: str, problem: str, event: str) -> bool:
    """An action failed (raised, timed out, answered something of the wrong shape): log it with
    the flow, step and action (the user's number is not in the line), then `on_error`, or a
    polite generic error and a fresh start."""
    log.warning("action %s failed at %s.%s: %s", step.action, flow, step.name, problem,
                extra={"flow": flow, "step": step.name, "action": step.action})
    turn.event(event)
    if step.on_error is not None:
        if step.on_error.say is not None:
            turn.say(step.on_error.say)
        turn.follow(step, "error")
        return True
    turn.say("flowbot.error.generic")
    turn.session.stack.clear()
    return False


async def _run_action(turn: Turn, step: Step, args: dict[str, Any]) -> act.ActionResult:
    assert step.action is not None
    stub = turn.stubs.get(step.action)
    if stub is not None:
        return stub_result(stub)
    action = turn.rt.plugins.actions.get(step.action)
    if action is None:
        raise act.ActionError(f"no action named {step.action!r} is loaded")
    frame = turn.session.frame
    assert frame is not None
    variables = turn.variables()
    ctx = act.ActionContext(
        bot=turn.rt.bot.name, user=turn.user, lang=turn.session.lang, slots=variables["slots"],
        settings=turn.rt.bot.settings, flow=frame.flow, step=step.name, services=turn.rt.services,
        idempotency_key=act.idempotency_key(turn.rt.bot.name, turn.user, turn.message_id, frame.flow, step.name),
        bot_root=str(turn.rt.bot.root),
    )
    return await act.call(action, ctx, args, step.timeout, step.action_retries)


def stub_result(stub: dict[str, Any]) -> act.ActionResult:
    """A transcript's stand-in for an action: `{outcome, data}`, `{error}` or `{timeout: true}`."""
    if "error" in stub:
        raise act.ActionError(str(stub["error"]))
    if stub.get("timeout"):
        raise act.ActionError("timed out (stub)")
    return act.ActionResult(outcome=str(stub.get("outcome", "ok")), data=dict(stub.get("data") or {}))


def render_args(turn: Turn, value: Any) -> Any:
    """Arguments with templates filled in; `"{{ expr }}"` alone keeps the expression's type."""
    if isinstance(value, dict):
        return {k: render_args(turn, v) for k, v in value.items()}
    if isinstance(value, list):
        return [render_args(turn, v) for v in value]
    if isinstance(value, str) and "{" in value:
        whole = _WHOLE_EXPRESSION.match(value.strip())
        if whole and "{{" not in whole.group(1) and "}}" not in whole.group(1):
            return turn.rt.renderer.evaluate(whole.group(1).strip(), turn.variables())
        return turn.rt.renderer.text(value, turn.variables())
    return value


_KINDS: dict[str, Callable[[Turn, Step], Awaitable[bool]]] = {
    "say": _say, "ask": _ask, "end": _end, "if": _if, "call": _call, "goto": _goto,
    "handoff": _handoff, "action": _action,
}
