"""The runtime: one bot, a session store and a clock; it turns events into replies.

    runtime = Runtime(load_bot("flows/demo"), MemoryStore())
    result = await runtime.handle(Inbound(user="254700000001", text="hi"))
    result.outbound  # what to send, in order

Every turn runs under the user's lock in the store, so two messages of one user are never
processed interleaved. Flows are versioned: `reload()` adds a new version, and conversations
that started on an older one finish on it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from engine.clock import Clock
from engine.flow.loader import LoadedBot
from engine.flow.machine import FlowMachine
from engine.flow.model import Bot, Expiry, Flow, Target
from engine.i18n.render import Renderer
from engine.messages import Inbound
from engine.runtime import consent, interrupts
from engine.runtime.actions import Plugins
from engine.runtime.session import Session
from engine.runtime.store import SessionStore
from engine.runtime.turn import Turn, TurnResult
from engine.testing.coverage import Coverage

log = logging.getLogger("flowbot.runtime")
IGNORED_KINDS = frozenset({"reaction"})
ROUTE_KEYS = ("conversation_id", "account_id")  # Chatwoot: replies go to the user's conversation


class Runtime:
    def __init__(
        self,
        loaded: LoadedBot,
        store: SessionStore,
        clock: Clock | None = None,
        plugins: Plugins | None = None,
        services: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or Clock()
        self.services = dict(services or {})
        self.coverage: Coverage | None = None  # set by transcript runs
        # called with (bot, user) when a user's data must go: the messaging log, consent, media
        self.forgetters: list[Callable[[str, str], Awaitable[None]]] = []
        # where opt-outs outlive the session (engine/runtime/consent.py); None: the session flag only
        self.consent: consent.ConsentLedger | None = None
        self._versions: dict[tuple[str, str], tuple[Flow, FlowMachine]] = {}
        self._current: dict[str, str] = {}
        self._install(loaded, plugins)

    def _install(self, loaded: LoadedBot, plugins: Plugins | None) -> None:
        self.loaded = loaded
        self.bot: Bot = loaded.bot
        self.renderer = Renderer(loaded.catalogs)
        if plugins is None:
            plugins = loaded.plugins if loaded.plugins is not None else Plugins.load(self.bot.action_modules)
        self.plugins = plugins
        for flow in self.bot.flows.values():
            key = (flow.name, flow.version)
            if key not in self._versions:
                self._versions[key] = (flow, FlowMachine(flow))
            self._current[flow.name] = flow.version

    def reload(self, loaded: LoadedBot, plugins: Plugins | None = None) -> None:
        """Take a new version of the bot; running conversations keep the flows they started."""
        self._install(loaded, plugins)

    # ----- flows by version
    def current_flow(self, name: str) -> Flow:
        return self._versions[(name, self._current[name])][0]

    def flow_version(self, name: str, version: str) -> Flow:
        entry = self._versions.get((name, version)) or self._versions[(name, self._current[name])]
        return entry[0]

    def machine(self, name: str, version: str) -> FlowMachine:
        entry = self._versions.get((name, version)) or self._versions[(name, self._current[name])]
        return entry[1]

    # ----- sessions
    async def session(self, user: str) -> Session | None:
        raw = await self.store.load(self.bot.name, user)
        return Session.from_bytes(raw) if raw else None

    def new_session(self) -> Session:
        return Session(lang=self.bot.primary_language, last_active=self.clock.now())

    def seal(self, session: Session) -> bytes:
        """The session document to store at the end of a turn."""
        session.last_active = self.clock.now()
        return session.to_bytes()

    async def _save(self, user: str, session: Session) -> None:
        await self.store.save(self.bot.name, user, self.seal(session), self.bot.session.ttl)

    # ----- turns
    # Each kind of event has a `compute_*` method that runs a turn on a session without saving
    # it, so a queue worker can commit the session and the turn's messages in one transaction;
    # `handle`, `release` and `tick` wrap them with the store's lock, load and save.

    async def handle(self, inbound: Inbound, stubs: Mapping[str, Any] | None = None) -> TurnResult:
        """Process one message of a user and return what to send back."""
        return await self._locked(inbound.user, lambda s: self.compute_inbound(s, inbound, stubs))

    async def release(self, user: str, stubs: Mapping[str, Any] | None = None) -> TurnResult:
        """An agent hands the conversation back: the flow goes on after the handoff step."""
        return await self._locked(user, lambda s: self.compute_release(s, user, stubs))

    async def start_flow(self, user: str, flow: str, params: Mapping[str, Any] | None = None) -> TurnResult:
        """Start a flow for a user on another system's request (a receipt, an OTP, an update)."""
        return await self._locked(user, lambda s: self.compute_start(s, user, flow, params))

    async def _locked(self, user: str, compute: Callable[[Session | None], Awaitable[Turn]]) -> TurnResult:
        async with self.store.lock(self.bot.name, user):
            turn = await compute(await self.session(user))
            await self.commit(user, turn)
            return turn.result

    async def commit(self, user: str, turn: Turn) -> None:
        """Save the turn's session and its next due time (the queue worker commits its own way)."""
        await self._save(user, turn.session)
        await self.store.schedule(self.bot.name, user, self.due_time(turn.session))

    def _turn(self, session: Session | None, user: str, message_id: str, stubs: Mapping[str, Any] | None) -> Turn:
        turn = Turn(self, session or self.new_session(), user, self.clock.now(), message_id)
        turn.stubs = dict(stubs or {})
        return turn

    async def _guarded(self, turn: Turn, body: Awaitable[None]) -> Turn:
        """Run a turn's work; a bug in a flow or the engine restarts the conversation politely."""
        try:
            await body
        except Exception:
            log.exception("turn failed", extra={"bot": self.bot.name})
            turn.result.outbound.clear()
            turn.event("turn failed: the conversation restarts")
            fresh = self.new_session()
            fresh.lang, fresh.last_inbound = turn.session.lang, turn.session.last_inbound
            turn.session = fresh
            turn.say("flowbot.error.generic")
        turn.prune_history()
        self._arm_wait(turn)
        return turn

    async def compute_inbound(self, session: Session | None, inbound: Inbound, stubs: Mapping[str, Any] | None = None) -> Turn:
        if session is None and await consent.stored_opt_out(self, inbound.user, strict=False):
            session = self.new_session()  # a STOP that outlived the session: quiet until START
            session.opted_out = True
        turn = self._turn(session, inbound.user, inbound.message_id, stubs)
        turn.user_name = inbound.name
        return await self._guarded(turn, self._handle(turn, inbound))

    async def compute_release(self, session: Session | None, user: str, stubs: Mapping[str, Any] | None = None) -> Turn:
        turn = self._turn(session, user, f"release:{self.clock.now()}", stubs)
        return await self._guarded(turn, self._release(turn))

    async def compute_start(self, session: Session | None, user: str, flow: str, params: Mapping[str, Any] | None = None,
                            message_id: str = "") -> Turn:
        turn = self._turn(session, user, message_id or f"start:{flow}:{self.clock.now()}", None)
        if not turn.session.opted_out and await consent.stored_opt_out(self, user, strict=True):
            turn.event(f"not started: the user opted out, says the consent store ({flow})")
            return turn
        return await self._guarded(turn, self._start(turn, flow, params or {}))

    async def compute_timer(self, session: Session | None, user: str, stubs: Mapping[str, Any] | None = None) -> Turn:
        turn = self._turn(session, user, "", stubs)
        return await self._guarded(turn, self._fire(turn) if session is not None else _nothing())

    async def _handle(self, turn: Turn, inbound: Inbound) -> None:
        session = turn.session
        if inbound.kind in IGNORED_KINDS:
            return
        if session.stack and turn.now - session.last_active > self.bot.session.restart_after:
            turn.event("session expired: restarting")
            kept_lang = session.lang
            turn.session = session = self.new_session()
            session.lang = kept_lang
            session.last_inbound = turn.now
            turn.say(self.bot.session.expired or "flowbot.session.expired")
        session.last_inbound = turn.now
        session.wait = None
        route = {k: inbound.extra[k] for k in ROUTE_KEYS if inbound.extra.get(k) is not None}
        if route:
            session.route = route
        interrupt = interrupts.find(self.bot, inbound)
        if session.opted_out:
            if interrupt is not None and interrupt.name == "start":
                await interrupts.perform(turn, interrupt, inbound.text or "")
            return
        if interrupt is not None and interrupt.name == "stop":
            await interrupts.perform(turn, interrupt, inbound.text or "")
            return
        if session.human is not None:
            turn.event("with a human agent: the bot stays quiet")
            return
        if (session.pending or {}).get("lang") and await interrupts.pick_language(turn, inbound):
            return
        if (session.pending or {}).get("forget") and await interrupts.confirm_forget(turn, inbound):
            return
        if interrupt is not None:
            await interrupts.perform(turn, interrupt, inbound.text or "")
            return
        step = turn.step()
        if step is not None and step.kind == "ask":
            await turn.answer(step, inbound)
        else:
            await turn.start()

    async def _release(self, turn: Turn) -> None:
        session = turn.session
        if session.human is None:
            return
        resume = session.human.get("resume") or "end"
        session.human = None
        turn.event("released by the agent")
        if session.stack:
            await turn.go(Target.from_state(resume), via="next")

    async def _start(self, turn: Turn, flow: str, params: Mapping[str, Any]) -> None:
        """Another system starts `flow`. A user in the middle of a question gets the flow on
        top of it, and the question again when it ends: their conversation is not lost."""
        session = turn.session
        if session.opted_out:
            turn.event(f"not started: the user opted out ({flow})")
            return
        if flow not in self.bot.flows:
            raise KeyError(f"no flow {flow!r} in bot {self.bot.name!r}")
        current = turn.step()
        session.wait = None
        resume = None
        if current is not None and current.kind == "ask" and session.human is None:
            resume = current.name
        else:
            session.stack.clear()
            session.history.clear()
        turn.push(flow, resume=resume)
        for name, value in params.items():
            turn.store(name, value)
        await turn.run()

    # ----- timers
    def _arm_wait(self, turn: Turn) -> None:
        """A turn that stops on a question with a `wait` starts its reminder clock."""
        session = turn.session
        step = turn.step() if session.stack else None
        if session.opted_out or session.human is not None or step is None or step.wait is None:
            session.wait = None
        elif session.wait is None:
            session.wait = [turn.now, 0]

    def due_time(self, session: Session) -> float | None:
        if session.wait is None or not session.stack:
            return None
        frame = session.stack[-1]
        step = self.flow_version(frame.flow, frame.version).steps.get(frame.step)
        if step is None or step.wait is None:
            return None
        events = step.wait.events()
        since, index = session.wait[0], int(session.wait[1])
        return since + events[index][0] if index < len(events) else None

    async def compute_say(self, user: str, message: Any, lang: str) -> TurnResult:
        """A message to a user outside any flow (a host's confirmation), in their language."""
        session = self.new_session()
        session.lang, session.last_inbound = lang, self.clock.now()
        turn = Turn(self, session, user, self.clock.now())
        turn.say(message)
        return turn.result

    async def forget(self, user: str) -> None:
        """Delete what this runtime keeps about a user (the host's `forgetters` do the rest:
        the messaging log, consent, media), after they asked and confirmed."""
        for forgetter in self.forgetters:
            await forgetter(self.bot.name, user)
        await self.store.delete(self.bot.name, user)

    async def tick(self, stubs: Mapping[str, Any] | None = None) -> list[tuple[str, TurnResult]]:
        """Fire every reminder and expiry that is due by the clock's now."""
        out = []
        for user in await self.store.due(self.bot.name, self.clock.now()):
            result = await self._locked(user, lambda s, u=user: self.compute_timer(s, u, stubs))
            if result.outbound or result.events:
                out.append((user, result))
        return out

    async def _fire(self, turn: Turn) -> None:
        session = turn.session
        now = turn.now
        while session.wait is not None:
            due = self.due_time(session)
            if due is None or due > now:
                break
            step = turn.step()
            assert step is not None and step.wait is not None
            index = int(session.wait[1])
            after, event = step.wait.events()[index]
            turn.message_id = f"timer:{session.wait[0]}:{index}"
            session.wait = [session.wait[0], index + 1]
            if isinstance(event, Expiry):
                turn.event(f"wait expired after {after:g}s")
                turn.say_or_template(event.say, event.template)
                session.wait = None
                await turn.go(event.next, via="expire")
                self._arm_wait(turn)
                session = turn.session
            else:
                turn.event(f"reminder {index + 1}")
                turn.say_or_template(event.say, event.template)


async def _nothing() -> None:
    return None
