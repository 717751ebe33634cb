"""Names that must exist: target steps and flows, start steps, the bot's start and interrupts.

A typo in a step name would otherwise surface only when a user reaches that branch.
"""

from __future__ import annotations

from engine.flow.checks._context import Context, JsonPath, suggest
from engine.flow.checks._targets import step_targets
from engine.flow.model import END


def check(ctx: Context) -> None:
    for flow in ctx.flows:
        file = ctx.file_of(flow)
        if flow.start not in flow.steps:
            ctx.unresolved_steps.add(flow.name)
            ctx.at(file, ("start",), f"the flow starts at {flow.start!r}, but it has no such step"
                   + suggest(flow.start, flow.steps), "flow.unknown_start")
        for name in flow.steps:
            if name == END:
                ctx.at(file, ("steps", name), "a step cannot be called 'end': that name is reserved for "
                       "ending the flow (next: end); rename the step", "flow.reserved_step", key=True)
            for rel, where in step_targets(ctx.step_data(flow, name)):
                path = ("steps", name) + rel
                if where.flow is None:
                    step = where.step or END
                    if step != END and step not in flow.steps:
                        ctx.unresolved_steps.add(flow.name)
                        ctx.at(file, path, f"there is no step {step!r} in flow {flow.name!r}"
                               + suggest(step, flow.steps), "flow.unknown_step")
                    continue
                _check_flow_target(ctx, file, path, where.flow, where.step, is_call=rel == ("call",))
    _check_manifest(ctx)


def _check_flow_target(ctx: Context, file: str, path: JsonPath, flow: str, step: str | None, is_call: bool) -> None:
    other = ctx.bot.flows.get(flow)
    if other is None:
        ctx.unresolved_flows = True
        if ctx.all_flows_known:
            ctx.at(file, path if is_call else path + ("flow",), f"there is no flow {flow!r} in this bot"
                   + suggest(flow, ctx.bot.flows), "flow.unknown_flow")
        return
    if step is not None and step not in other.steps:
        ctx.unresolved_steps.add(flow)
        ctx.at(file, path + ("step",), f"there is no step {step!r} in flow {flow!r}"
               + suggest(step, other.steps), "flow.unknown_step")


def _check_manifest(ctx: Context) -> None:
    if not ctx.all_flows_known:
        return
    flows = ctx.bot.flows
    if ctx.bot.start not in flows:
        ctx.unresolved_flows = True
        ctx.at(ctx.manifest_file, ("start",), f"the bot starts with flow {ctx.bot.start!r}, but there is no such flow"
               + suggest(ctx.bot.start, flows), "bot.unknown_flow")
    for name, interrupt in ctx.bot.interrupts.items():
        if interrupt.flow is not None and interrupt.flow not in flows:
            ctx.unresolved_flows = True
            ctx.at(ctx.manifest_file, ("interrupts", name, "flow"),
                   f"the {name} interrupt starts flow {interrupt.flow!r}, but there is no such flow"
                   + suggest(interrupt.flow, flows), "bot.unknown_flow")
