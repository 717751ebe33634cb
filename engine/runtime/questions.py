"""Questions: how a turn asks (prompt, choices, confirmation) and takes an answer
(validation, retries, fallback). A mixin of `Turn`, kept apart so each reads in one sitting."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from engine.flow import limits
from engine.flow.model import END, Step, Target
from engine.messages import Inbound, Outbound
from engine.runtime import choices as ch
from engine.validators import BUILTIN, Invalid, Valid, ValidationContext, yes_no

if TYPE_CHECKING:
    pass

CONFIRMED_BY_DEFAULT = {"money", "date"}


class Questions:
    def validation_context(self) -> ValidationContext:
        settings = self.rt.bot.settings
        tz = str(settings.get("timezone", "UTC"))
        return ValidationContext(
            lang=self.session.lang, languages=self.rt.bot.languages,
            now=datetime.fromtimestamp(self.now, ZoneInfo(tz)), timezone=tz,
            region=settings.get("region"), currency=settings.get("currency"),
        )

    def options(self, step: Step) -> list[ch.Option]:
        spec = step.choices
        if spec is None:
            return []
        if isinstance(spec, tuple):
            out = []
            for c in spec:
                title = " ".join(self.texts(c.title))
                description = " ".join(self.texts(c.description)) if c.description is not None else ""
                out.append(ch.Option(c.id, title, description))
            return out
        items = self.rt.renderer.evaluate(spec.source, self.variables()) or []
        out = []
        for item in items:
            get = item.get if isinstance(item, dict) else (lambda k, d=None, i=item: getattr(i, k, d))
            out.append(ch.Option(str(get(spec.id)), str(get(spec.title)), str(get(spec.description, "") or "") if spec.description else ""))
        return out

    def prompt(self, step: Step, page: int = 0, prefix: str = "") -> None:
        """Send the step's question (with its options), and note the wait it starts."""
        texts = self.texts(step.ask)
        if prefix:
            texts = [prefix] + texts
        if not texts:
            texts = [""]
        for text in texts[:-1]:
            self.emit(Outbound(to=self.user, text=text))
        body = texts[-1]
        options = self.options(step)
        if options:
            button = " ".join(self.texts(step.button or "flowbot.choose"))
            more = " ".join(self.texts("flowbot.more"))
            self.emit(ch.question(self.user, body, options, page, button, more))
        elif body:
            self.emit(Outbound(to=self.user, text=body[: limits.TEXT_BODY]))

    def reprompt(self) -> None:
        step = self.step()
        if step is not None and step.kind == "ask":
            page = int((self.session.pending or {}).get("page", 0))
            self.prompt(step, page)

    def confirm(self, shown: str) -> None:
        text = " ".join(self.texts("flowbot.confirm.ask", {"value": shown}))
        options = [ch.Option("yes", " ".join(self.texts("flowbot.yes"))), ch.Option("no", " ".join(self.texts("flowbot.no")))]
        self.emit(ch.question(self.user, text, options, 0, "", ""))

    async def answer(self, step: Step, inbound: Inbound) -> None:
        """The user's answer to the question `step` asked."""
        pending = self.session.pending or {}
        if "c" in pending:
            verdict = yes_no(inbound.reply_id or inbound.text, self.session.lang, self.validation_context())
            if verdict is True:
                await self.accept(step, pending["c"], None)
            elif verdict is False:
                self.session.pending = None
                self.prompt(step)
            else:
                self.confirm(pending.get("s", ""))
            return
        if step.choices is not None:
            options = self.options(step)
            page = int(pending.get("page", 0))
            chosen = ch.match(inbound, options, page, tuple(self.texts("flowbot.more")))
            if chosen == ch.MORE_ID:
                self.session.pending = {"page": page + 1}
                self.prompt(step, page + 1)
            elif isinstance(chosen, ch.Option):
                await self.accept(step, chosen.id, chosen.id)
            else:
                await self.refuse(step, Invalid("flowbot.invalid.choice"))
            return
        spec = self.validation_spec(step)
        outcome = self.validate(spec, inbound)
        if isinstance(outcome, Invalid):
            await self.refuse(step, outcome)
        elif spec.get("confirm", spec.get("type") in CONFIRMED_BY_DEFAULT):
            self.session.pending = {"c": outcome.value, "s": outcome.shown}
            self.confirm(outcome.shown or str(outcome.value))
        else:
            key = ("yes" if outcome.value else "no") if isinstance(outcome.value, bool) else None
            await self.accept(step, outcome.value, key)

    def validation_spec(self, step: Step) -> dict[str, Any]:
        if step.validate is not None:
            return step.validate
        slot = self.flow().slots.get(step.into or "")
        return {"type": slot.type if slot else "text"}

    def validate(self, spec: dict[str, Any], inbound: Inbound) -> Valid | Invalid:
        kind = spec.get("type", "text")
        ctx = self.validation_context()
        if kind in BUILTIN:
            return BUILTIN[kind].fn(spec, inbound, ctx)
        return self.rt.plugins.validators[kind].fn(spec, inbound, ctx)

    async def accept(self, step: Step, value: Any, branch_key: str | None) -> None:
        self.remember_for_undo(step)
        if step.into:
            self.store(step.into, value)
        self.session.tries = 0
        self.session.pending = None
        if branch_key is not None and self.follow(step, f"on:{branch_key}"):
            await self.run()
        elif self.follow(step, "next"):
            await self.run()
        else:
            self._move(Target(step=END))
            await self.run()

    async def refuse(self, step: Step, why: Invalid) -> None:
        self.session.tries += 1
        if self.session.tries >= step.retries and step.fallback is not None:
            self.event(f"fallback after {self.session.tries} tries")
            if step.fallback.say is not None:
                self.say(step.fallback.say)
            self.follow(step, "fallback")
            await self.run()
            return
        message = step.invalid if step.invalid is not None else why.key
        texts = self.texts(message, dict(why.params))
        if step.choices is not None:
            self.prompt(step, int((self.session.pending or {}).get("page", 0)), prefix="\n".join(texts[:1]))
        else:
            for text in texts:
                self.emit(Outbound(to=self.user, text=text))
