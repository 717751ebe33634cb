"""Steps and flows nothing leads to: usually a forgotten `next` or a renamed flow (warnings).

A step is reachable from its flow's start or from another flow's `{flow, step}` target; a flow
is used when the bot starts with it, an interrupt starts it, or another flow calls or jumps to it.
Where a name did not resolve (a typo already reported), the typo is likely the missing way in:
those flows are not judged, so one mistake gives one problem.
"""

from __future__ import annotations

from collections import defaultdict

from engine.flow.checks._context import WARNING, Context
from engine.flow.checks._targets import step_targets
from engine.flow.model import END, Flow


def check(ctx: Context) -> None:
    if not ctx.all_flows_known:  # an unreadable file may hold the missing way in
        return
    entries: dict[str, set[str]] = defaultdict(set)  # flow -> steps entered from elsewhere
    used = {ctx.bot.start} | {i.flow or ctx.bot.start for i in ctx.bot.interrupts.values()} | set(ctx.bot.proactive)
    for flow in ctx.flows:
        for name in flow.steps:
            for _, where in step_targets(ctx.step_data(flow, name)):
                if where.flow is not None and where.flow != flow.name:
                    used.add(where.flow)
                    other = ctx.bot.flows.get(where.flow)
                    if other is not None:
                        entries[other.name].add(where.step or other.start)
    for flow in ctx.flows:
        file = ctx.file_of(flow)
        if flow.name not in used and not ctx.unresolved_flows:
            ctx.at(file, ("flow",), f"nothing starts flow {flow.name!r}: not the bot's start, no interrupt, "
                   "no other flow calls or jumps to it, and it is not listed under `proactive`", "flow.unused", WARNING)
        if flow.name in ctx.unresolved_steps:
            continue
        seen = _reachable(ctx, flow, {flow.start} | entries[flow.name])
        for name in flow.steps:
            if name not in seen and name != END:  # a step named end is reported as reserved
                ctx.at(file, ("steps", name), f"no step leads to step {name!r}, so it can never run",
                       "flow.unreachable", WARNING, key=True)


def _reachable(ctx: Context, flow: Flow, starts: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = [s for s in starts if s in flow.steps]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for _, where in step_targets(ctx.step_data(flow, name)):
            step = where.step or END
            if where.flow is None and step in flow.steps:
                todo.append(step)
            elif where.flow == flow.name:  # {flow: self, step: x} jumps within the flow
                todo.append(where.step or flow.start)
    return seen
