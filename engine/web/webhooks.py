"""Provider webhooks: verify, parse, queue durably, answer 200 (fast, and only once queued).

A message id seen before is acknowledged and ignored; statuses update the delivery record
(out of order is fine: records only move forward); a malformed body gets a 4xx, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from engine.channels.base import Parsed, Status, WebhookRejected, WebhookRequest
from engine.delivery import logship
from engine.delivery.turns import inbound_event
from engine.deployment import BotHost, Deployment
from engine.messages import Inbound
from engine.web._body import webhook_request

log = logging.getLogger("flowbot.web")
OK = PlainTextResponse("ok")


def _rejected(exc: WebhookRejected) -> Response:
    log.info("webhook refused: %s", exc.reason)
    return PlainTextResponse(exc.reason, status_code=exc.status)


async def take(deployment: Deployment, bot: str, parsed: Parsed) -> None:
    queue = deployment.queue
    for event in parsed.events:
        if isinstance(event, Inbound):
            fresh = await queue.enqueue(bot, event.user, inbound_event(event), event.message_id)
            if not fresh:
                log.info("duplicate message ignored", extra={"bot": bot})
        elif isinstance(event, Status):
            await deployment.records.status(event)
            if queue.logging:
                await deployment.redis.rpush(queue.log, logship.encode(logship.status_row(event)))


def _whatsapp_host(deployment: Deployment) -> BotHost | None:
    """Any WhatsApp bot's adapter checks the signature: one Meta app (one secret) owns the
    numbers; the bot is then chosen per number."""
    return next((h for h in deployment.bots.values() if h.provider == "whatsapp"), None)


async def whatsapp_verify(request: Request) -> Response:
    host = _whatsapp_host(request.app.state.deployment)
    if host is None:
        return PlainTextResponse("no WhatsApp bot here", status_code=404)
    try:
        wreq = await webhook_request(request)
        return PlainTextResponse(host.adapter.challenge(wreq))  # type: ignore[attr-defined]
    except WebhookRejected as exc:
        return _rejected(exc)


async def handle_whatsapp(deployment: Deployment, read: Callable[[], Awaitable[WebhookRequest]]) -> tuple[int, str]:
    """POST /webhooks/whatsapp (answered straight from ASGI: engine/web/app.py); `read` gives the
    request. Returns the status and text to answer; Redis being unreachable raises (503)."""
    host = _whatsapp_host(deployment)
    if host is None:
        return 404, "no WhatsApp bot here"
    try:
        wreq = await read()
        host.adapter.verify(wreq)
        if "json" not in wreq.headers.get("content-type", "application/json"):
            raise WebhookRejected(415, "expected application/json")
        batches = host.adapter.parse_batches(wreq)  # type: ignore[attr-defined]
    except WebhookRejected as exc:
        log.info("webhook refused: %s", exc.reason)
        return exc.status, exc.reason
    for batch in batches:
        bot = deployment.route("whatsapp", batch.account)
        if bot is None:
            log.warning("webhook for a number no bot owns: ignored")
            continue
        await take(deployment, bot, batch)
    return 200, "ok"


async def provider(request: Request) -> Response:
    """Twilio, Chatwoot and Interakt post to /webhooks/<provider>/<bot>."""
    deployment: Deployment = request.app.state.deployment
    name = request.path_params["bot"]
    host = deployment.bots.get(name)
    if host is None or host.provider != request.path_params["provider"]:
        return PlainTextResponse("no such bot on that provider", status_code=404)
    try:
        wreq = await webhook_request(request)
        host.adapter.verify(wreq)
        parsed = host.adapter.parse(wreq)
    except WebhookRejected as exc:
        return _rejected(exc)
    await take(deployment, name, parsed)
    if host.provider == "twilio":  # Twilio wants TwiML or an empty 200
        return Response("<Response/>", media_type="text/xml")
    return OK
