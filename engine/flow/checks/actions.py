"""Actions a flow calls: they must be loaded, called with the arguments they declare (and what
the action's own `check` asks, such as a query the bot declares), and branch only on outcomes
they answer.

Argument values that are templates (`"{{ slots.qty }}"`) are only known at run time, so they
count as any type; missing and unknown arguments are still caught.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft7Validator, SchemaError, ValidationError

from engine.flow.checks._context import Context, JsonPath, listing, suggest
from engine.flow.problems import Problem
from engine.runtime.actions import Action


def check(ctx: Context) -> None:
    for flow in ctx.flows:
        file = ctx.file_of(flow)
        for name, step in flow.steps.items():
            if step.action is None:
                continue
            base = ("steps", name)
            action = ctx.plugins.actions.get(step.action)
            if action is None:
                if ctx.plugins_complete:
                    ctx.at(file, base + ("action",), _unknown(ctx, step.action), "action.unknown")
                continue
            data = ctx.step_data(flow, name)
            if action.args:
                _check_args(ctx, file, base, data, action)
            if action.check is not None:
                _check_call(ctx, file, base, data, action)
            _check_outcomes(ctx, file, base, data, action)


def _unknown(ctx: Context, name: str) -> str:
    if not ctx.bot.action_modules:
        return f"there is no action {name!r}: bot.yaml lists no action modules under `actions`"
    return (f"there is no action {name!r} in the action modules ({listing(ctx.bot.action_modules)})"
            + suggest(name, ctx.plugins.actions))


def _check_args(ctx: Context, file: str, base: JsonPath, data: dict[str, Any], action: Action) -> None:
    args = data.get("with") if isinstance(data.get("with"), dict) else {}
    schema = dict(action.args)
    declared = schema.get("properties") or {}
    open_ended = schema.get("additionalProperties", False) is not False or "patternProperties" in schema
    if declared and not open_ended:
        for arg in args:
            if arg not in declared:
                ctx.at(file, base + ("with", arg), f"{action.name} has no argument {arg!r}"
                       + suggest(str(arg), declared) + f" (its arguments: {listing(declared)})",
                       "action.args", key=True)
    try:
        errors = list(Draft7Validator(schema).iter_errors(args))
    except SchemaError as exc:
        ctx.at(file, base + ("action",), f"{action.name} declares arguments that are not a valid JSON Schema: "
               f"{exc.message}", "action.args")
        return
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" or _templated(args, path):
            continue
        if error.validator == "required":
            missing = [k for k in error.validator_value if k not in args]
            where = base + ("with",) if "with" in data else base + ("action",)
            for arg in missing:
                ctx.at(file, where, f"{action.name} needs the argument {arg!r}", "action.args", key="with" in data)
            continue
        ctx.at(file, base + ("with",) + path, f"the argument {'.'.join(map(str, path)) or 'with'} of "
               f"{action.name}: {_explain(error)}", "action.args")


def _check_call(ctx: Context, file: str, base: JsonPath, data: dict[str, Any], action: Action) -> None:
    """What the action's own check finds (the db plugin: query names and their parameters)."""
    assert action.check is not None
    args = data.get("with") if isinstance(data.get("with"), dict) else {}
    for found in action.check(args, ctx.bot.root):
        if found.file:
            ctx.problems.append(Problem(found.file, found.line, 1, "$", found.message, found.code))
        else:
            where = base + ("with",) + found.path if "with" in data else base + ("action",)
            ctx.at(file, where, f"{action.name}: {found.message}", found.code, key=found.key and "with" in data)


def _check_outcomes(ctx: Context, file: str, base: JsonPath, data: dict[str, Any], action: Action) -> None:
    """A branch under `on` for an outcome the action never answers is never taken."""
    branches = data.get("on") if isinstance(data.get("on"), dict) else {}
    outcomes = action.outcomes
    if action.outcomes_of is not None:
        more = action.outcomes_of(data.get("with") if isinstance(data.get("with"), dict) else {})
        if more is None:
            return
        outcomes += more
    for outcome in branches:
        if outcome not in outcomes:
            ctx.at(file, base + ("on", outcome), f"{action.name} never answers {outcome!r}, so this branch is "
                   f"never taken" + suggest(str(outcome), outcomes)
                   + f" (its outcomes: {listing(outcomes)})", "action.outcome_unknown", key=True)


def _explain(error: ValidationError) -> str:
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {expected}, found {error.instance!r}"
    return str(error.message)


def _templated(args: Any, path: JsonPath) -> bool:
    """Whether `path` leads into a template string, whose type is only known at run time."""
    value = args
    for part in path:
        if isinstance(value, str):
            break
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(value, str) and ("{{" in value or "{%" in value)
