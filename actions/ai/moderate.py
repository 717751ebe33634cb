"""`ai.moderate(text)`: outcome `ok` or `flagged`, with the flagged categories.

Online: POST /v1/moderations. Offline: word lists and heuristics (offline/moderate.py), a weak
gate. Either way the bot's own `settings.ai.blocked_words` are checked too (category `blocked`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actions.ai.client import AiSettings, connect, moderation, online
from actions.ai.offline.moderate import contains_any
from actions.ai.offline.moderate import moderate as offline_moderate
from engine.runtime.actions import ActionContext, ActionResult


@dataclass(frozen=True, slots=True)
class Verdict:
    flagged: bool
    categories: tuple[str, ...]
    source: str  # "openai" or "offline"

    def data(self) -> dict[str, Any]:
        return {"flagged": self.flagged, "categories": list(self.categories), "source": self.source}


async def check(ctx: ActionContext, text: str, client: Any = None) -> Verdict:
    """Moderate `text`: online with `client` (or a fresh connection), else offline."""
    settings = AiSettings.of(ctx)
    blocked = ["blocked"] if settings.blocked_words and contains_any(text, settings.blocked_words) else []
    if not online(ctx):
        categories = sorted(set(offline_moderate(text, ctx.lang)) | set(blocked))
        return Verdict(bool(categories), tuple(categories), "offline")
    if client is None:
        async with connect(ctx) as fresh:
            flagged, found = await moderation(fresh, settings, text)
    else:
        flagged, found = await moderation(client, settings, text)
    return Verdict(flagged or bool(blocked), tuple(sorted(set(found) | set(blocked))), "openai")


async def moderate(ctx: ActionContext, text: str) -> ActionResult:
    verdict = await check(ctx, str(text or ""))
    return ActionResult(outcome="flagged" if verdict.flagged else "ok", data=verdict.data())
