"""Messages and expressions as Jinja2 templates: they must compile, and use known variables.

Templates render with StrictUndefined, so a misspelled variable is an error the user would
meet; lint finds those it can know: unknown top-level names, `user.`/`bot.` fields, settings,
and `slots.x` for a slot no flow declares (a warning: it may be set in ways lint cannot see).
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes

from engine.flow.checks._context import ERROR, WARNING, Context, listing, suggest
from engine.flow.checks._jinja import Compiler, attributes, settings_read
from engine.flow.checks._messages import Leaf, Source, leaves, resolve, sites
from engine.flow.model import Flow
from engine.flow.problems import Severity

VARIABLES = ("slots", "result", "user", "bot", "now")
FIELDS = {"user": ("id", "lang", "name"), "bot": ("name", "settings")}
MAPPING_METHODS = ("get", "items", "keys", "values")
LOCAL_ROLES = ("invalid",)  # rendered with the validator's own values ({{ min }}): names unknowable


def check(ctx: Context) -> None:
    jinja = Compiler(ctx.env)
    allowed = set(VARIABLES) | set(ctx.env.globals) | {"loop"}
    for catalog in ctx.loaded.catalogs.bot.values():
        for key, text in catalog.messages.items():
            if "{" in text and (error := jinja.template(text).error):
                ctx.at_catalog(catalog, key, f"this message is not a valid template: {error}", "template.syntax")
    for site in sites(ctx):
        slots = _known_slots(ctx, site.flow)
        for leaf in leaves(site):
            for source in resolve(ctx, leaf):
                if "{" not in source.text:
                    continue
                compiled = jinja.template(source.text)
                if compiled.ast is None:
                    if source.catalog is None:
                        ctx.at(site.file, leaf.path, f"this message is not a valid template: {compiled.error}",
                               "template.syntax")
                    continue
                if source.builtin:
                    continue  # the engine's own messages, rendered with their own values
                names = set() if site.role in LOCAL_ROLES else jinja.undeclared(compiled.ast) - allowed
                for problem, code in _variables(ctx, compiled.ast, names, slots):
                    _report(ctx, leaf, source, problem, code)
    _expressions(ctx, jinja, allowed)
    _manifest_templates(ctx, jinja, allowed)


def _report(ctx: Context, leaf: Leaf, source: Source, problem: str, code: str) -> None:
    """Unknown names are the text's fault: at the catalog entry, when the text comes from one.
    Unknown slots depend on the flow using the text: at the flow's message, naming the entry."""
    if source.catalog is not None and code != "template.unknown_slot":
        ctx.at_catalog(source.catalog, source.key or "", problem, code, _severity(code))
        return
    where = f" (in the {source.lang} text of {source.key!r})" if source.catalog is not None else ""
    ctx.at(leaf.site.file, leaf.path, problem + where, code, _severity(code))


def _severity(code: str) -> Severity:
    return WARNING if code == "template.unknown_slot" else ERROR


def _variables(ctx: Context, ast: nodes.Template, names: set[str], slots: set[str]) -> list[tuple[str, str]]:
    out = [(f"there is no variable {name!r} (messages can use {', '.join(VARIABLES)})" + suggest(name, VARIABLES),
            "template.unknown_variable") for name in sorted(names)]
    for var, fields in FIELDS.items():
        for attr in sorted(set(attributes(ast, var)) - set(fields) - set(MAPPING_METHODS)):
            out.append((f"{var}.{attr} does not exist" + suggest(attr, fields)
                        + f" ({var} has {', '.join(fields)})", "template.unknown_variable"))
    settings = ctx.bot.settings
    for attr in sorted(set(settings_read(ast)) - set(settings) - set(MAPPING_METHODS)):
        out.append((f"bot.settings.{attr} is not set in bot.yaml" + suggest(attr, settings)
                    + f" (settings: {listing(settings)})", "template.unknown_variable"))
    for slot in sorted(set(attributes(ast, "slots")) - slots - set(MAPPING_METHODS)):
        out.append((f"slots.{slot}: no slot {slot!r} is declared in this flow, shared by another flow, "
                    "or filled by `into`" + suggest(slot, slots), "template.unknown_slot"))
    return out


def _known_slots(ctx: Context, flow: Flow | None) -> set[str]:
    """Slots a message may read: its flow's, every session slot, and what its steps store into."""
    flows = [flow] if flow is not None else ctx.flows
    known = {n for f in ctx.flows for n, s in f.slots.items() if s.scope == "session"}
    for f in flows:
        known |= set(f.slots) | {s.into for s in f.steps.values() if s.into}
    return known


def _expressions(ctx: Context, jinja: Compiler, allowed: set[str]) -> None:
    """`if[].when`, `choices.from` (expressions) and `with` values (templates) of every step."""
    for flow in ctx.flows:
        file, slots = ctx.file_of(flow), _known_slots(ctx, flow)
        for name in flow.steps:
            data, base = ctx.step_data(flow, name), ("steps", name)
            found: list[tuple[tuple[Any, ...], str, bool]] = []
            for i, condition in enumerate(data.get("if") or []):
                if isinstance(condition, dict) and isinstance(condition.get("when"), str):
                    found.append((base + ("if", i, "when"), condition["when"], True))
            choices = data.get("choices")
            if isinstance(choices, dict) and isinstance(choices.get("from"), str):
                found.append((base + ("choices", "from"), choices["from"], True))
            found.extend((base + ("with",) + p, v, False) for p, v in _strings(data.get("with")) if "{" in v)
            for path, source, is_expression in found:
                compiled = jinja.expression(source) if is_expression else jinja.template(source)
                if compiled.ast is None:
                    what = "expression" if is_expression else "template"
                    ctx.at(file, path, f"this is not a valid {what}: {compiled.error}",
                           "template.expression" if is_expression else "template.syntax")
                    continue
                for problem, code in _variables(ctx, compiled.ast, jinja.undeclared(compiled.ast) - allowed, slots):
                    ctx.at(file, path, problem, code, _severity(code))


def _manifest_templates(ctx: Context, jinja: Compiler, allowed: set[str]) -> None:
    """The params of the manifest's WhatsApp templates are rendered like messages."""
    slots = _known_slots(ctx, None)
    for key, ref in ctx.bot.templates.items():
        for i, param in enumerate(ref.params):
            path = ("templates", key, "params", i)
            compiled = jinja.template(param)
            if compiled.ast is None:
                ctx.at(ctx.manifest_file, path, f"this parameter is not a valid template: {compiled.error}",
                       "template.syntax")
                continue
            for problem, code in _variables(ctx, compiled.ast, jinja.undeclared(compiled.ast) - allowed, slots):
                ctx.at(ctx.manifest_file, path, problem, code, _severity(code))


def _strings(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _strings(v, path + (k,))]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in _strings(v, path + (i,))]
    return [(path, value)] if isinstance(value, str) else []
