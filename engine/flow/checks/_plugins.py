"""The bot's action modules, imported one by one so a failure points at its `actions` entry."""

from __future__ import annotations

from engine.flow.checks._context import Context
from engine.runtime.actions import PluginError, Plugins


def load(ctx: Context) -> None:
    """Fill `ctx.plugins`; report each module that cannot be imported [plugin.import]."""
    for i, module in enumerate(ctx.bot.action_modules):
        try:
            found = Plugins.load((module,))
        except PluginError as exc:
            _failed(ctx, i, str(exc))
            continue
        except Exception as exc:  # a plugin's own bug at import time: still the author's to fix
            _failed(ctx, i, f"importing action module {module!r} failed: {type(exc).__name__}: {exc}")
            continue
        for name, action in found.actions.items():
            if name in ctx.plugins.actions:
                ctx.at(ctx.manifest_file, ("actions", i), f"action {name!r} is declared by two action modules",
                       "plugin.duplicate")
            ctx.plugins.actions[name] = action
        ctx.plugins.validators.update(found.validators)


def _failed(ctx: Context, index: int, message: str) -> None:
    ctx.plugins_complete = False
    ctx.at(ctx.manifest_file, ("actions", index), message, "plugin.import")
