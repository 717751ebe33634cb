"""A plugin that raises, times out or answers something of the wrong shape: the user gets the
flow's `on_error` message in their own language, and one log line names the flow, the step and
the action, with the user's number masked (the filter every flowbot handler carries)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.flow.loader import load_bot
from engine.logmask import MaskingFilter
from engine.messages import Inbound
from engine.runtime import MemoryStore, Runtime
from engine.runtime.actions import Action, ActionContext, ActionResult, Plugins

USER = "254712345678"

BOT = """\
bot: wallet
start: main
languages: [en, sw]
"""

MAIN = """\
flow: main
start: ask_item
slots:
  item: {type: text}
steps:
  ask_item:
    ask: wallet.ask
    into: item
    next: lookup
  lookup:
    action: wallet.lookup
    with: {item: "{{ slots.item }}"}
    timeout: 1s
    on: {ok: done}
    on_error: {say: wallet.try_later, next: end}
  done:
    say: wallet.done
    end: true
"""

CATALOGS = {
    "en": "wallet:\n  ask: Which item?\n  try_later: Sorry, the wallet is down. Try again later.\n  done: Done.\n",
    "sw": "wallet:\n  ask: Bidhaa gani?\n  try_later: Samahani, pochi haipatikani. Jaribu tena baadaye.\n  done: Tayari.\n",
}


async def raises(ctx: ActionContext, item: str) -> ActionResult:
    raise RuntimeError(f"no wallet for {ctx.user}")


async def hangs(ctx: ActionContext, item: str) -> ActionResult:
    await asyncio.sleep(5)
    return ActionResult()


async def answers_a_list(ctx: ActionContext, item: str) -> Any:
    return [ctx.user, item]


async def answers_an_undeclared_outcome(ctx: ActionContext, item: str) -> ActionResult:
    return ActionResult(outcome="maybe", data={"user": ctx.user})


async def answers_a_balance_in_words(ctx: ActionContext, item: str) -> ActionResult:
    return ActionResult(data={"balance": "plenty", "item": item})


BALANCE = {"balance": {"type": "number"}, "item": {"type": "string"}}
# failure -> (the action, what the log line says, what the action declares beyond its arguments)
FAILURES: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "raises": (raises, f"RuntimeError: no wallet for {USER}", {}),
    "times out": (hangs, "timed out after 1s", {}),
    "wrong shape": (answers_a_list, "returned list, expected an ActionResult or a mapping", {}),
    "wrong field type": (answers_a_balance_in_words, "returned balance of the wrong shape: 'plenty' is not of type 'number'",
                         {"result": BALANCE}),
    "undeclared outcome": (answers_an_undeclared_outcome, "answered the outcome 'maybe', not one it declares (ok)", {}),
    "outcome with no branch": (answers_an_undeclared_outcome, "outcome 'maybe' has no branch",
                               {"outcomes": ("ok", "maybe")}),
}


class Lines(logging.Handler):
    """What a flowbot log handler writes: masked by the same filter configure_logging installs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(MaskingFilter())
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s [%(flow)s %(step)s %(action)s]"))
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def logged() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("flowbot.steps")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def write_bot(root: Path) -> Path:
    bot = root / "flows" / "wallet"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text(BOT)
    (bot / "main.yaml").write_text(MAIN)
    locales = root / "locales" / "wallet"
    locales.mkdir(parents=True)
    for lang, text in CATALOGS.items():
        (locales / f"{lang}.yaml").write_text(text)
    return bot


@pytest.mark.parametrize("lang", ["en", "sw"])
@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failing_plugin_gets_the_flows_error_message_and_one_log_line(
        tmp_path: Path, logged: Lines, failure: str, lang: str) -> None:
    fn, problem, declared = FAILURES[failure]
    plugins = Plugins(actions={"wallet.lookup": Action(name="wallet.lookup", fn=fn, args={"item": {"type": "string"}},
                                                       **declared)})
    store = MemoryStore()
    rt = Runtime(load_bot(write_bot(tmp_path), plugins=plugins), store, FakeClock(), plugins)
    first = await rt.handle(Inbound(user=USER, text="hi"))
    assert [o.text for o in first.outbound] == ["Which item?"]
    session = await rt.session(USER)
    assert session is not None
    session.lang = lang  # the user chose Swahili earlier (the language interrupt)
    await store.save("wallet", USER, rt.seal(session), 3600)

    result = await rt.handle(Inbound(user=USER, text="maize"))

    expected = {"en": "Sorry, the wallet is down. Try again later.",
                "sw": "Samahani, pochi haipatikani. Jaribu tena baadaye."}[lang]
    assert [o.text for o in result.outbound] == [expected]
    assert (await rt.session(USER)) is not None and not (await rt.session(USER)).stack  # type: ignore[union-attr]
    [record] = [r for r in logged.records if r.levelno == logging.WARNING]
    assert (record.flow, record.step, record.action) == ("main", "lookup", "wallet.lookup")  # type: ignore[attr-defined]
    [line] = logged.lines
    assert "wallet.lookup" in line and "main.lookup" in line, line
    assert problem.replace(USER, "254•••••••78") in line, line
    assert USER not in line, line


async def test_a_result_of_the_wrong_shape_is_not_tried_again_and_a_right_one_passes() -> None:
    """Retries are for passing failures; a plugin answering the wrong shape will answer it again.
    Fields the action does not declare, and an outcome `outcomes_of` adds for this call, pass."""
    from engine.runtime.actions import ActionError, call

    calls: list[str] = []

    async def lookup(ctx: ActionContext, item: str) -> ActionResult:
        calls.append(item)
        if item == "maize":
            return ActionResult(data={"balance": "plenty"})
        return ActionResult(outcome=item, data={"balance": 12.5, "note": "extra fields are fine"})

    action = Action(name="wallet.lookup", fn=lookup, args={"item": {"type": "string"}}, result=BALANCE,
                    outcomes_of=lambda args: (str(args.get("item")),))
    ctx = ActionContext(bot="wallet", user=USER, lang="en", slots={}, settings={}, flow="main", step="lookup",
                        idempotency_key="k1")
    with pytest.raises(ActionError, match="balance of the wrong shape"):
        await call(action, ctx, {"item": "maize"}, timeout=1, retries=2)
    assert calls == ["maize"]
    result = await call(action, ctx, {"item": "beans"}, timeout=1, retries=2)
    assert (result.outcome, result.data["balance"]) == ("beans", 12.5)
