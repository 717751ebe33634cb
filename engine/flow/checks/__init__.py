"""Static checks beyond the schema: everything lint can know before a user says anything.

The schema has checked each file's shape; these checks look across files: references between
steps and flows, translations, templates, WhatsApp limits and the 24-hour window. Each module
holds one concern and reports through a shared `Context`; `run` is the entry point the loader
calls. Problems point at the exact key or value, with a stable code (docs: `flowbot lint`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.flow.checks import (
    actions, exits, locales, manifest, reachability, references, templates, validators, whatsapp, window,
)
from engine.flow.checks import _plugins
from engine.flow.checks._context import Context
from engine.flow.problems import Problem

if TYPE_CHECKING:
    from engine.flow.loader import LoadedBot

log = logging.getLogger("flowbot.checks")

CHECKS: tuple[Callable[[Context], None], ...] = (
    references.check, reachability.check, exits.check, actions.check, validators.check,
    locales.check, templates.check, whatsapp.check, window.check, manifest.check,
)


def run(loaded: LoadedBot) -> list[Problem]:
    """Every problem the checks find in a bot whose files each passed the schema."""
    ctx = Context(loaded)
    if loaded.plugins is not None:
        ctx.plugins = loaded.plugins
    else:
        _plugins.load(ctx)
        loaded.plugins = ctx.plugins if ctx.plugins_complete else None
    for check in CHECKS:
        try:
            check(ctx)
        except Exception as exc:  # a bug in one check must not hide what the others find
            log.debug("check %s crashed", check.__module__, exc_info=True)
            ctx.at(ctx.manifest_file, (), f"flowbot could not finish the {check.__module__.rsplit('.', 1)[-1]} "
                   f"checks ({type(exc).__name__}: {exc}); please report it", "lint.internal")
    return sorted(set(ctx.problems))
