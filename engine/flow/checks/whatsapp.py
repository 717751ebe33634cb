"""WhatsApp Cloud API limits (engine/flow/limits.py) on choices and message texts.

The runtime clips what is too long, so a user would see a cut title; lint says so when the
flow is written. Texts with `{{ }}` are measured without their expressions (the rendered text
is longer, or shorter when a block is skipped): an overflow there is a warning.
"""

from __future__ import annotations

import re
from typing import Any

from engine.flow import limits
from engine.flow.checks._context import ERROR, WARNING, Context
from engine.flow.checks._messages import Leaf, Site, leaves, resolve, sites
from engine.flow.model import Flow

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def check(ctx: Context) -> None:
    for flow in ctx.flows:
        for name, step in flow.steps.items():
            if isinstance(step.choices, tuple):
                _choices(ctx, flow, name)
    for site in sites(ctx):
        if site.role.startswith("choice_") or site.role == "button":
            continue
        interactive = site.role == "ask" and site.flow is not None and site.flow.steps[site.step or ""].choices is not None
        for leaf in leaves(site):
            if interactive and _is_last(site, leaf):
                _length(ctx, leaf, limits.INTERACTIVE_BODY, "whatsapp.interactive_body", "a question with choices")
            else:
                _length(ctx, leaf, limits.TEXT_BODY, "whatsapp.text_body", "a message")


def _is_last(site: Site, leaf: Leaf) -> bool:
    """The last message of an `ask` list is the question sent with the choices."""
    if not isinstance(site.value, list):
        return True
    return leaf.path[len(site.path)] == len(site.value) - 1


def _choices(ctx: Context, flow: Flow, step: str) -> None:
    file, data, base = ctx.file_of(flow), ctx.step_data(flow, step), ("steps", step)
    choices = [c for c in data.get("choices") or [] if isinstance(c, dict)]
    buttons = len(choices) <= limits.REPLY_BUTTONS
    seen: dict[str, int] = {}
    for i, choice in enumerate(choices):
        path = base + ("choices", i)
        cid = str(choice.get("id", ""))
        if cid in seen:
            ctx.at(file, path + ("id",), f"choice id {cid!r} is used twice in this step (first as choice "
                   f"{seen[cid] + 1}); ids must be different", "flow.duplicate_choice")
        seen.setdefault(cid, i)
        id_limit = limits.BUTTON_ID if buttons else limits.ROW_ID
        if len(cid) > id_limit:
            ctx.at(file, path + ("id",), f"this choice id is {len(cid)} characters; WhatsApp allows at most "
                   f"{id_limit}", "whatsapp.choice_id")
        title = Site(file, path + ("title",), "choice_title", choice.get("title"), flow, step)
        description = Site(file, path + ("description",), "choice_description", choice.get("description"), flow, step)
        if buttons:
            _all(ctx, title, limits.BUTTON_TITLE, "whatsapp.button_title", "a button title")
            if description.value is not None:
                ctx.at(file, description.path, f"with {len(choices)} choices WhatsApp shows buttons, which "
                       "cannot show a description; it will not be seen", "whatsapp.button_description",
                       WARNING, key=True)
        else:
            _all(ctx, title, limits.ROW_TITLE, "whatsapp.row_title", "a list row title")
            _all(ctx, description, limits.ROW_DESCRIPTION, "whatsapp.row_description", "a list row description")
    if not buttons and data.get("button") is not None:
        button = Site(file, base + ("button",), "button", data["button"], flow, step)
        _all(ctx, button, limits.LIST_BUTTON, "whatsapp.list_button", "the list's button label")


def _all(ctx: Context, site: Site, limit: int, code: str, what: str) -> None:
    for leaf in leaves(site):
        _length(ctx, leaf, limit, code, what)


def _length(ctx: Context, leaf: Leaf, limit: int, code: str, what: str) -> None:
    for source in resolve(ctx, leaf):
        size, templated = measure(source.text)
        if size <= limit:
            continue
        lang = f" in {source.lang}" if source.lang else ""
        named = f" ({source.key}{lang})" if source.key else lang
        counted = f"at least {size} characters without its {{{{ }}}} parts" if templated else f"{size} characters"
        ctx.at(leaf.site.file, leaf.path, f"{what}{named} is {counted}; WhatsApp allows at most {limit}",
               code, WARNING if templated else ERROR)


def measure(text: Any) -> tuple[int, bool]:
    """The length of a text as sent, and whether it has template parts (then: their literal parts)."""
    text = str(text)
    if "{{" not in text and "{%" not in text:
        return len(text.strip()), False
    return len(_JINJA.sub("", text).strip()), True
