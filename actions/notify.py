"""Built-in plugin `notify`: start a flow for ANOTHER user from a flow (a seller told of a new
order, an agent told of an escalation), through the same queue as the proactive API.

    steps:
      tell_seller:
        action: notify.start
        with: {to: "{{ slots.seller_phone }}", flow: new_order, params: {order: "{{ slots.order }}"}}
        next: thanks

The started flow's first message goes out as its template when that user is outside the
24-hour window; users who opted out get nothing. The idempotency key (this turn's) makes a
retried turn start it once. Needs a queue (`flowbot serve`/`worker`); in `flowbot chat` and
transcripts, where there is none, the action says so as an error.
"""

from __future__ import annotations

from typing import Any

from engine.runtime.actions import Action, ActionContext, ActionResult


class NoQueue(Exception):
    pass


async def start(ctx: ActionContext, to: str, flow: str, params: dict[str, Any] | None = None) -> ActionResult:
    queue = ctx.services.get("queue")
    if queue is None:
        raise NoQueue("notify.start needs the delivery queue (run under flowbot serve or flowbot worker)")
    user = str(to).lstrip("+").replace(" ", "")
    fresh = await queue.enqueue(ctx.bot, user, {"k": "start", "f": flow, "p": params or {}, "id": ctx.idempotency_key},
                                f"notify:{ctx.idempotency_key}:{user}")
    return ActionResult(outcome="ok", data={"queued": fresh})


ACTIONS = [
    Action(
        name="notify.start",
        fn=start,
        args={
            "to": {"type": "string", "description": "The other user's WhatsApp id or phone number."},
            "flow": {"type": "string", "description": "The flow to start for them (listed under `proactive`)."},
            "params": {"type": "object", "description": "Slots to set in that flow."},
        },
        description="Start a flow for another user (through the outbox)",
    ),
]
