"""Global interrupts: words that work from any step (help, menu, cancel, undo, language,
stop, start), configured per bot. After help, undo or a language change the conversation
resumes where it was: the current question is asked again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from babel import Locale

from engine.flow.model import Bot, Interrupt
from engine.messages import Inbound
from engine.runtime import choices as ch
from engine.runtime import consent

if TYPE_CHECKING:
    from engine.runtime.turn import Turn

LANGUAGE_PREFIX = "flowbot:lang:"


def find(bot: Bot, inbound: Inbound) -> Interrupt | None:
    """The interrupt a text message is, if its whole text is one of the words (any language)."""
    if inbound.kind != "text" or not inbound.text:
        return None
    text = ch.normalize(inbound.text)
    if not text or len(text) > 40:
        return None
    for interrupt in bot.interrupts.values():
        for words in interrupt.words.values():
            if any(ch.normalize(w) == text for w in words):
                return interrupt
    return None


def language_options(bot: Bot) -> list[ch.Option]:
    out = []
    for lang in bot.languages:
        try:
            name = Locale.parse(lang).get_display_name(lang) or lang
        except (ValueError, LookupError):
            name = lang
        out.append(ch.Option(f"{LANGUAGE_PREFIX}{lang}", name[:1].upper() + name[1:]))
    return out


async def perform(turn: Turn, interrupt: Interrupt, word: str = "") -> None:
    """Do what the interrupt means; `word` is what the user typed (STOP and START record it in
    the consent store, when the host has one: engine/runtime/consent.py)."""
    session = turn.session
    turn.event(f"interrupt: {interrupt.name}")
    name = interrupt.name
    if name == "stop":
        session.opted_out = True
        session.wait = None
        if await consent.record(turn.rt, turn.user, True, word):
            turn.event("consent: opted out (recorded)")
        turn.say(interrupt.say or "flowbot.consent.stopped")
    elif name == "start":
        session.opted_out = False
        if await consent.record(turn.rt, turn.user, False, word):
            turn.event("consent: opted in (recorded)")
        turn.say(interrupt.say or "flowbot.consent.started")
        await resume(turn)
    elif name == "help":
        if interrupt.say is not None:
            turn.say(interrupt.say)
        await resume(turn)
    elif name == "undo":
        if turn.undo():
            if interrupt.say is not None:
                turn.say(interrupt.say)
        else:
            turn.say("flowbot.undo.nothing")
        await resume(turn)
    elif name == "language":
        session.pending = {"lang": 1}
        text = " ".join(turn.texts(interrupt.say or "flowbot.language.ask"))
        turn.emit(ch.question(turn.user, text, language_options(turn.rt.bot), 0, " ".join(turn.texts("flowbot.choose")), ""))
    elif name == "forget":
        session.pending = {"forget": 1}
        text = " ".join(turn.texts(interrupt.say or "flowbot.forget.ask"))
        options = [ch.Option("yes", " ".join(turn.texts("flowbot.yes"))), ch.Option("no", " ".join(turn.texts("flowbot.no")))]
        turn.emit(ch.question(turn.user, text, options, 0, "", ""))
    elif name in ("menu", "cancel"):
        if interrupt.say is not None:
            turn.say(interrupt.say)
        session.wait = None
        await turn.start(interrupt.flow)
    else:  # the schema admits only the names above
        raise ValueError(f"unknown interrupt {name!r}")


async def pick_language(turn: Turn, inbound: Inbound) -> bool:
    """Handle the answer to the language question; False if it was not one."""
    chosen = ch.match(inbound, language_options(turn.rt.bot), 0)
    if not isinstance(chosen, ch.Option):
        lang = ch.normalize(inbound.text or "")
        if lang not in turn.rt.bot.languages:
            return False
    else:
        lang = chosen.id[len(LANGUAGE_PREFIX):]
    turn.session.lang = lang
    turn.session.pending = None
    turn.say("flowbot.language.set")
    await resume(turn)
    return True


async def resume(turn: Turn) -> None:
    """Ask the current question again, or start over when there is none."""
    step = turn.step()
    if step is not None and step.kind == "ask":
        turn.reprompt()
    elif turn.session.human is None:
        await turn.start()


async def confirm_forget(turn: Turn, inbound: Inbound) -> bool:
    """The answer to "delete my data?"; False when it is neither yes nor no."""
    from engine.validators import yes_no

    verdict = yes_no(inbound.reply_id or inbound.text, turn.session.lang, turn.validation_context())
    if verdict is None:
        return False
    turn.session.pending = None
    if verdict:
        lang, opted_out = turn.session.lang, turn.session.opted_out
        turn.session = turn.rt.new_session()
        turn.session.lang, turn.session.opted_out, turn.session.last_inbound = lang, opted_out, turn.now
        turn.result.forget = True
        turn.event("the user asked to delete their data: queued")
        turn.say("flowbot.forget.queued")
    else:
        turn.say("flowbot.forget.kept")
        await resume(turn)
    return True
