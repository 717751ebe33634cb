"""Consent beyond the session: where a deployment keeps opt-outs (the `consent_events` table of
engine/store), so a STOP outlives the session and reaches every process that starts flows.

The session's `opted_out` flag stays the fast path and the whole story where there is no store
(`flowbot chat`, transcripts). With a store (`Runtime.consent`, set by the host: `flowbot serve`
and `flowbot worker` set their PostgresStore when DATABASE_URL is set):

- STOP and START (the interrupts) append an event with source `keyword` and the word typed;
- a flow started by another system (the proactive API, `notify.start`, a payment confirmation)
  is not started for a user whose latest consent is `opted_out`;
- a user with no session (a first message, or one whose session expired) gets the stored state
  as their session's flag, so the bot stays quiet until START, as it did before.

An opt-out recorded elsewhere (source `api`, `import`, `admin`) stops proactive starts but does
not quiet a conversation the user is having with us; and the session flag is the fast path: a
STOP the session saw holds until the user's START, whatever the store says meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from engine.runtime.runtime import Runtime

log = logging.getLogger("flowbot.consent")


class ConsentLedger(Protocol):
    """What the runtime needs of a consent store (engine.store.postgres.PostgresStore is one)."""

    async def opt_out(self, bot: str, user: str, *, source: str = "keyword", detail: str = "") -> None: ...

    async def opt_in(self, bot: str, user: str, *, source: str = "keyword", detail: str = "") -> None: ...

    async def is_opted_out(self, bot: str, user: str) -> bool: ...

    # optional: `opted_out_among(bot, users) -> set[str]`, is_opted_out for a batch of users in
    # one call (see stored_opt_outs)


async def record(rt: Runtime, user: str, opted_out: bool, keyword: str) -> bool:
    """Append the user's STOP or START to the ledger; False when there is none or it failed.

    A failure is logged and does not fail the turn: the session flag still holds the choice
    (and this process still honours it), and the user is told what they asked for."""
    ledger = rt.consent
    if ledger is None:
        return False
    detail = keyword.strip()[:40]
    try:
        if opted_out:
            await ledger.opt_out(rt.bot.name, user, source="keyword", detail=detail)
        else:
            await ledger.opt_in(rt.bot.name, user, source="keyword", detail=detail)
    except Exception:  # the database is down: the session flag is the fallback
        log.exception("consent not recorded (%s)", "opt-out" if opted_out else "opt-in", extra={"bot": rt.bot.name})
        return False
    return True


async def stored_opt_out(rt: Runtime, user: str, *, strict: bool) -> bool:
    """Whether the ledger says the user opted out. `strict` (before a proactive start): a
    ledger that cannot answer raises, so the event is retried rather than sent unchecked;
    otherwise (a message the user sent us) it counts as not opted out, and is logged."""
    ledger = rt.consent
    if ledger is None:
        return False
    try:
        return await ledger.is_opted_out(rt.bot.name, user)
    except Exception:
        if strict:
            raise
        log.warning("consent unknown (the store did not answer): answering the user", exc_info=True,
                    extra={"bot": rt.bot.name})
        return False


async def stored_opt_outs(rt: Runtime, users: Sequence[str]) -> set[str] | None:
    """`stored_opt_out` for many users at once (the turn worker's batch of new sessions), in
    one call of the ledger's `opted_out_among`; None when there is no ledger, it has no batch
    form, or it does not answer (logged): each turn then asks on its own."""
    among = getattr(rt.consent, "opted_out_among", None)
    if among is None:
        return None
    try:
        return set(await among(rt.bot.name, list(users)))
    except Exception:
        log.warning("consent unknown for a batch (the store did not answer): asking per user", exc_info=True,
                    extra={"bot": rt.bot.name})
        return None
