"""Steps the conversation can get stuck in, or leave in a way the author did not plan.

A `say`-only step without `next` stops the bot mid-conversation; a choice with no branch (when
others have one and there is no `next`) silently ends the flow; an action outcome with no
branch is handled as a failure, and a failure without `on_error` shows a generic error and
restarts the conversation (engine/runtime/steps.py).
"""

from __future__ import annotations

from engine.flow.checks._context import WARNING, Context, JsonPath, listing
from engine.flow.model import Step


def check(ctx: Context) -> None:
    for flow in ctx.flows:
        file = ctx.file_of(flow)
        for name, step in flow.steps.items():
            base = ("steps", name)
            if step.kind == "say" and step.next is None:
                ctx.at(file, base, f"step {name!r} only says something and has no `next`, so the "
                       "conversation would stop here; add `next:` or `end: true`", "flow.dead_end", key=True)
            if step.kind == "ask" and isinstance(step.choices, tuple) and step.on and step.next is None:
                for i, choice in enumerate(step.choices):
                    if choice.id not in step.on:
                        ctx.at(file, base + ("choices", i, "id"), f"choosing {choice.id!r} ends the flow without a "
                               "word: it has no entry under `on` and the step has no `next` (write `next: end` if "
                               "that is meant)", "flow.choice_dead_end")
            if step.kind == "action":
                _action(ctx, file, base, step)


def _action(ctx: Context, file: str, base: JsonPath, step: Step) -> None:
    action = ctx.plugins.actions.get(step.action or "")
    if action is not None and step.on and step.next is None:
        missing = [o for o in action.outcomes if o not in step.on]
        if missing:
            ctx.at(file, base + ("on",), f"{action.name} can answer {listing(missing)}, which has no branch "
                   "under `on`, and the step has no `next`: that answer would be handled as an error",
                   "action.outcome_unhandled", WARNING, key=True)
    if step.on_error is None:
        ctx.at(file, base + ("action",), f"if {step.action} fails or times out the user gets a generic error "
               "and the conversation restarts; add `on_error` to say something and go on",
               "action.no_error_branch", WARNING, key=True)
