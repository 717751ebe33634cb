"""Parsing WhatsApp Cloud API webhook bodies (`object: whatsapp_business_account`).

`parse_webhook` returns one `Parsed` per business phone number (`metadata.phone_number_id`), in
the order the numbers first appear: Meta may batch several entries and changes in one POST, and
an app subscribed to several numbers can receive events for more than one of them at once. Each
`Parsed.account` routes its events to the bot owning that number; `Status.account` and
`Inbound.extra["account"]` carry it per event too.

Only changes with `field: messages` are read (messages and statuses); other fields (template
status, account updates) are ignored here. Value-level `errors` (e.g. 130429 reported
asynchronously) name no message, so they are logged, not turned into events.

The parser never raises anything but `WebhookRejected(400)` for a body that is not a JSON object
of the right `object`: an unexpected shape inside becomes an `unsupported` message or nothing,
because an exception would make Meta redeliver the same body for days.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from engine import wire
from engine.channels.base import Event, Parsed, WebhookRejected

from ._fields import error_info, obj, objs, text
from ._messages import to_inbound
from ._statuses import to_status

OBJECT = "whatsapp_business_account"
log = logging.getLogger(__name__)
T = TypeVar("T")


def parse_webhook(body: bytes) -> list[Parsed]:
    """The events in a webhook body, one `Parsed` per phone_number_id (empty ones left out)."""
    payload = _load(body)
    if payload.get("object") != OBJECT:
        raise WebhookRejected(400, f"not a WhatsApp webhook (object is not {OBJECT!r})")
    batches: dict[str, list[Event]] = {}
    for entry in objs(payload.get("entry")):
        for change in objs(entry.get("changes")):
            if change.get("field") != "messages":
                continue
            value = obj(change.get("value"))
            account = text(obj(value.get("metadata")).get("phone_number_id"))
            events = batches.setdefault(account, [])
            contacts = objs(value.get("contacts"))
            for message in objs(value.get("messages")):
                inbound = _safely(partial(to_inbound, message, contacts, account))
                if inbound is not None:
                    events.append(inbound)
                else:
                    log.warning("whatsapp message without a usable sender skipped (account %s)", account)
            for status in objs(value.get("statuses")):
                update = _safely(partial(to_status, status, account))
                if update is not None:
                    events.append(update)
            for error in objs(value.get("errors")):
                info = error_info(error)
                log.warning("whatsapp webhook error for account %s: %s %s: %s",
                            account, info["code"], info["title"], info["details"])
    return [Parsed(events=events, account=account) for account, events in batches.items() if events]


def _load(body: bytes) -> dict[str, Any]:
    # orjson: strict JSON (no NaN or Infinity, valid UTF-8 and no lone surrogate escape, at
    # most 1,024 levels deep; an integer past 64 bits becomes a float), and several times
    # faster than json on every webhook
    try:
        payload = wire.loads(body)
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise WebhookRejected(400, f"body is not JSON: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "body is not a JSON object")
    return payload


def _safely(build: Callable[[], T | None]) -> T | None:
    """Last line of defence: a bug on one odd item must not fail the whole delivery."""
    try:
        return build()
    except Exception:
        log.exception("whatsapp webhook item could not be parsed; skipped")
        return None
