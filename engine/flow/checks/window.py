"""WhatsApp's 24-hour customer-service window (ECOSYSTEM.md): past 24 hours since the user's
last message only approved templates can be sent, so a reminder or expiry that late needs one,
and what the flow says after such an expiry, before it asks again, would be refused.
"""

from __future__ import annotations

from typing import Any

from engine.flow.checks._context import WARNING, Context, JsonPath, suggest
from engine.flow.checks._targets import step_targets
from engine.flow.limits import SERVICE_WINDOW
from engine.flow.model import Flow, Target

HOURS = SERVICE_WINDOW / 3600


def check(ctx: Context) -> None:
    for flow in ctx.flows:
        file = ctx.file_of(flow)
        for name, step in flow.steps.items():
            if step.wait is None:
                continue
            base = ("steps", name, "wait")
            data = ctx.step_data(flow, name).get("wait") or {}
            for i, reminder in enumerate(step.wait.reminders):
                _late(ctx, file, base + ("remind", i), reminder.after, reminder.template, True, "reminder")
            expire = step.wait.expire
            if expire is not None:
                _late(ctx, file, base + ("expire",), expire.after, expire.template, expire.say is not None, "expiry message")
                if expire.after > SERVICE_WINDOW and "next" in (data.get("expire") or {}):
                    _after_expiry(ctx, flow, expire.next, f"the expiry of step {name!r}")


def _late(ctx: Context, file: str, path: JsonPath, after: float, template: str | None, says: bool, what: str) -> None:
    if template is not None and template not in ctx.bot.templates:
        ctx.at(file, path + ("template",), f"there is no template {template!r} under `templates` in bot.yaml"
               + suggest(template, ctx.bot.templates), "window.unknown_template")
    if after > SERVICE_WINDOW and template is None and says:
        ctx.at(file, path + ("after",), f"this {what} is sent {_hours(after)} after the question, outside "
               f"WhatsApp's {HOURS:g}-hour window, where only templates can be sent; add `template:` "
               "naming one of bot.yaml's templates", "window.template")


def _after_expiry(ctx: Context, flow: Flow, start: Target, why: str) -> None:
    """Walk from an expiry's target up to the next question, flagging every message on the way."""
    todo: list[tuple[Flow, str]] = []
    _enqueue(ctx, flow, start, todo)
    seen: set[tuple[str, str]] = set()
    while todo:
        current, name = todo.pop()
        if (current.name, name) in seen:
            continue
        seen.add((current.name, name))
        step, data = current.steps[name], ctx.step_data(current, name)
        for rel in (("say",), ("ask",), ("on_error", "say")):
            if _get(data, rel) is not None:
                ctx.at(ctx.file_of(current), ("steps", name) + rel, "this message would be sent more than "
                       f"{HOURS:g} hours after the user's last message ({why}); WhatsApp will refuse it — "
                       "send a template or ask first", "window.after_expiry", WARNING)
        if step.kind in ("ask", "handoff"):
            continue  # the bot waits here: the user's answer opens a new window
        for _, where in step_targets(data, fallback=False):
            _enqueue(ctx, current, where, todo)


def _enqueue(ctx: Context, flow: Flow, where: Target, todo: list[tuple[Flow, str]]) -> None:
    target_flow = flow if where.flow is None else ctx.bot.flows.get(where.flow)
    if target_flow is None:
        return
    step = where.step or target_flow.start
    if step in target_flow.steps:
        todo.append((target_flow, step))


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None  # type: ignore[assignment]
    return data


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds % 3600 == 0 else f"{seconds / 60:g}m"
