"""Validators named by `validate.type` or a slot's `type`, their options, and `into` slots.

Built-in validators are checked by the schema too; plugin validators (`module.name`) only here,
against the `options` their ValidatorSpec declares.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft7Validator, SchemaError

from engine.flow.checks._context import WARNING, Context, JsonPath, listing, suggest
from engine.validators import BUILTIN, ValidatorSpec

ALWAYS = ("type", "confirm")  # options every validator takes


def check(ctx: Context) -> None:
    for flow in ctx.flows:
        file = ctx.file_of(flow)
        for name, slot in flow.slots.items():
            raw = (ctx.document(file).data.get("slots") or {}).get(name)
            if isinstance(raw, dict) and "type" in raw:
                _spec(ctx, file, ("slots", name, "type"), slot.type)
        for name, step in flow.steps.items():
            base = ("steps", name)
            if isinstance(step.validate, dict) and "type" in step.validate:
                spec = _spec(ctx, file, base + ("validate", "type"), str(step.validate["type"]))
                if spec is not None:
                    _options(ctx, file, base + ("validate",), step.validate, spec)
            if step.into and step.into not in flow.slots:
                ctx.at(file, base + ("into",), _undeclared(ctx, flow.name, step.into), "slot.undeclared", WARNING)


def _spec(ctx: Context, file: str, path: JsonPath, kind: str) -> ValidatorSpec | None:
    spec = BUILTIN.get(kind) or ctx.plugins.validators.get(kind)
    if spec is None and ctx.plugins_complete:
        known = list(BUILTIN) + list(ctx.plugins.validators)
        ctx.at(file, path, f"there is no validator {kind!r}{suggest(kind, known)} (known: {listing(known)})",
               "validator.unknown")
    return spec


def _options(ctx: Context, file: str, path: JsonPath, given: dict[str, Any], spec: ValidatorSpec) -> None:
    for option, value in given.items():
        if option in ("type",):
            continue
        schema = spec.options.get(option)
        if schema is None and option not in ALWAYS:
            allowed = [o for o in spec.options if o != "type"]
            ctx.at(file, path + (option,), f"the {spec.name} validator has no option {option!r}"
                   + suggest(str(option), allowed) + f" (its options: {listing(allowed)})",
                   "validator.option", key=True)
            continue
        try:
            errors = list(Draft7Validator(schema or {}).iter_errors(value))
        except SchemaError:
            continue  # the plugin's own schema is broken; its author finds out in its tests
        for error in errors[:1]:
            ctx.at(file, path + (option,) + tuple(error.absolute_path),
                   f"option {option!r} of the {spec.name} validator: {error.message}", "validator.option")


def _undeclared(ctx: Context, flow: str, slot: str) -> str:
    elsewhere = [f.name for f in ctx.flows if f.name != flow and slot in f.slots]
    text = f"slot {slot!r} is not declared under `slots` of flow {flow!r}"
    if elsewhere:
        text += (f"; flow {elsewhere[0]!r} declares it, but each flow must declare the slots it "
                 "stores into (with scope: session to share them)")
    return text
