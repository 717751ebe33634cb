"""Test helpers for plugin authors: run one action, or a whole transcript, against real clients
(a real database, a local fake server) in a few lines.

    from engine.testing.plugins import play_transcript, run_action

    async def test_find_product(pool, tmp_path):
        result = await run_action("db.query", {"name": "find_product", "params": {"sku": "A1"}},
                                  services={"db": pool}, bot_root="flows/shop")
        assert result.outcome == "ok" and result.data["row"]["name"] == "Maize flour"

    async def test_the_shop_conversation(pool):
        played = await play_transcript(Path("tests/transcripts/shop/01_order.yaml"), services={"db": pool})
        assert not played.failures, played.failures

`run_action` goes through the same path as a flow step: the plugin module is loaded as a bot
manifest would load it (`Plugins.load`), and the call has the step's timeout, retries and
error handling (`engine.runtime.actions.call`), so a failure is an ActionError.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.runtime.actions import ActionContext, ActionError, ActionResult, Plugins, call
from engine.testing.transcript import Played, play

__all__ = ["Played", "context", "play_transcript", "run_action"]


def context(*, bot: str = "test", user: str = "15550000001", lang: str = "en", slots: Mapping[str, Any] | None = None,
            settings: Mapping[str, Any] | None = None, services: Mapping[str, Any] | None = None,
            bot_root: str | Path | None = None, idempotency_key: str | None = None, flow: str = "test",
            step: str = "test") -> ActionContext:
    """An ActionContext as a flow step would build it. A fresh idempotency key each time (a new
    inbound message) unless one is given: pass the same key twice to play a retried turn."""
    return ActionContext(bot=bot, user=user, lang=lang, slots=dict(slots or {}), settings=dict(settings or {}),
                         idempotency_key=idempotency_key or uuid.uuid4().hex, flow=flow, step=step,
                         services=dict(services or {}), bot_root=str(bot_root) if bot_root is not None else "")


async def run_action(name: str, args: Mapping[str, Any] | None = None, *, slots: Mapping[str, Any] | None = None,
                     user: str = "15550000001", bot: str = "test", lang: str = "en",
                     services: Mapping[str, Any] | None = None, bot_root: str | Path | None = None,
                     timeout: float = 10, retries: int = 0, settings: Mapping[str, Any] | None = None,
                     idempotency_key: str | None = None, module: str | None = None) -> ActionResult:
    """Run the action `name` (e.g. "db.query") once, as a flow step would, and return its result.

    The plugin module is the name's prefix ("db" → actions/db.py, or an installed plugin
    registered under that name), or `module`. Raises ActionError when the action fails, times
    out or returns something else than a result, exactly what a step's `on_error` handles."""
    plugins = Plugins.load([module or name.split(".", 1)[0]])
    action = plugins.actions.get(name)
    if action is None:
        raise ActionError(f"no action named {name!r} in that module (it offers: {', '.join(sorted(plugins.actions)) or 'none'})")
    ctx = context(bot=bot, user=user, lang=lang, slots=slots, settings=settings, services=services,
                  bot_root=bot_root, idempotency_key=idempotency_key, step=name)
    return await call(action, ctx, dict(args or {}), timeout, retries)


async def play_transcript(path: str | Path, services: Mapping[str, Any] | None = None) -> Played:
    """Play a transcript file (docs/transcripts.md) with `services` given to every action; the bot
    is found in a `flows/<bot>/` folder above the file. Check `played.failures` (the failed
    `expect`s) and `played.text` (the conversation as the snapshot shows it)."""
    return await play(Path(path), services=services)
