"""The runtime on small bots written into a temp folder: versions, locking, failures, sessions."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.flow.loader import load_bot
from engine.messages import Inbound
from engine.runtime import MemoryStore, Runtime
from engine.runtime.actions import Action, ActionResult, Plugins
from engine.runtime.session import Frame, Session

BOT = """\
bot: tiny
start: main
languages: [en]
settings: {currency: KES, timezone: Africa/Nairobi}
interrupts:
  undo: {words: [back]}
"""

MAIN = """\
flow: main
start: ask_name
slots:
  name: {type: text}
  qty: {type: integer}
steps:
  ask_name:
    ask: What is your name?
    into: name
    next: ask_qty
  ask_qty:
    ask: "How many, {{ slots.name }}?"
    into: qty
    validate: {type: integer, min: 1, max: 9}
    next: work
  work:
    action: tiny.work
    with: {qty: "{{ slots.qty }}"}
    on_error: {say: "Sorry, that failed.", next: end}
    next: done
  done:
    say: "Done: {{ slots.qty }} for {{ slots.name }}."
    end: true
"""


def write_bot(root: Path, main: str = MAIN) -> Path:
    bot = root / "flows" / "tiny"
    bot.mkdir(parents=True, exist_ok=True)
    (bot / "bot.yaml").write_text(BOT)
    (bot / "main.yaml").write_text(main)
    locales = root / "locales" / "tiny"
    locales.mkdir(parents=True, exist_ok=True)
    (locales / "en.yaml").write_text("{}\n")
    return bot


PLUGINS = Plugins(actions={"tiny.work": Action(name="tiny.work", fn=lambda ctx, qty: None, args={"qty": {}})})


def plugins(fn) -> Plugins:  # type: ignore[no-untyped-def]
    return Plugins(actions={"tiny.work": Action(name="tiny.work", fn=fn)})


async def ok(ctx, qty):  # type: ignore[no-untyped-def]
    return ActionResult(data={"qty": qty})


def texts(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [o.text for o in result.outbound]


async def say(rt: Runtime, text: str, user: str = "u1") -> list[str]:
    return texts(await rt.handle(Inbound(user=user, text=text)))


async def test_a_conversation_runs_to_its_end(tmp_path: Path) -> None:
    rt = Runtime(load_bot(write_bot(tmp_path), plugins=PLUGINS), MemoryStore(), FakeClock(), plugins(ok))
    assert await say(rt, "hi") == ["What is your name?"]
    assert await say(rt, "Wanjiru") == ["How many, Wanjiru?"]
    assert await say(rt, "12") == ["Please send a number no bigger than 9."]
    assert await say(rt, "3") == ["Done: 3 for Wanjiru."]
    session = await rt.session("u1")
    assert session is not None and session.stack == []


async def test_undo_restores_the_slot_and_asks_again(tmp_path: Path) -> None:
    rt = Runtime(load_bot(write_bot(tmp_path), plugins=PLUGINS), MemoryStore(), FakeClock(), plugins(ok))
    await say(rt, "hi")
    await say(rt, "Wanjiru")
    assert await say(rt, "back") == ["What is your name?"]
    session = await rt.session("u1")
    assert session is not None and "name" not in session.stack[-1].slots
    assert await say(rt, "Akinyi") == ["How many, Akinyi?"]


async def test_a_failing_action_follows_on_error(tmp_path: Path) -> None:
    async def broken(ctx, qty):  # type: ignore[no-untyped-def]
        raise RuntimeError("database down")

    rt = Runtime(load_bot(write_bot(tmp_path), plugins=PLUGINS), MemoryStore(), FakeClock(), plugins(broken))
    for text in ("hi", "Wanjiru"):
        await say(rt, text)
    result = await rt.handle(Inbound(user="u1", text="2"))
    assert texts(result) == ["Sorry, that failed."]
    assert any("tiny.work failed: RuntimeError: database down" in e for e in result.events)


async def test_an_action_of_the_wrong_shape_is_an_error(tmp_path: Path) -> None:
    async def wrong(ctx, qty):  # type: ignore[no-untyped-def]
        return ["not", "a", "mapping"]

    rt = Runtime(load_bot(write_bot(tmp_path), plugins=PLUGINS), MemoryStore(), FakeClock(), plugins(wrong))
    for text in ("hi", "Wanjiru"):
        await say(rt, text)
    assert await say(rt, "2") == ["Sorry, that failed."]


async def test_an_action_that_hangs_times_out(tmp_path: Path) -> None:
    async def slow(ctx, qty):  # type: ignore[no-untyped-def]
        await asyncio.sleep(5)

    main = MAIN.replace("    action: tiny.work\n", "    action: tiny.work\n    timeout: 0s\n")
    rt = Runtime(load_bot(write_bot(tmp_path, main), plugins=PLUGINS), MemoryStore(), FakeClock(), plugins(slow))
    for text in ("hi", "Wanjiru"):
        await say(rt, text)
    result = await rt.handle(Inbound(user="u1", text="2"))
    assert texts(result) == ["Sorry, that failed."]
    assert any("timed out" in e for e in result.events)


async def test_a_broken_template_never_reaches_the_user_as_a_traceback(tmp_path: Path) -> None:
    main = MAIN.replace('say: "Done: {{ slots.qty }} for {{ slots.name }}."', 'say: "Done: {{ slots.nothing_here }}"')
    rt = Runtime(load_bot(write_bot(tmp_path, main), plugins=PLUGINS), MemoryStore(), FakeClock(), plugins(ok))
    for text in ("hi", "Wanjiru"):
        await say(rt, text)
    result = await rt.handle(Inbound(user="u1", text="2"))
    assert texts(result) == ["Sorry, something went wrong on our side. Please try again."]
    assert await say(rt, "hello again") == ["What is your name?"]


async def test_a_conversation_finishes_on_the_version_it_started(tmp_path: Path) -> None:
    bot_dir = write_bot(tmp_path)
    rt = Runtime(load_bot(bot_dir, plugins=PLUGINS), MemoryStore(), FakeClock(), plugins(ok))
    await say(rt, "hi", user="old")
    await say(rt, "Wanjiru", user="old")
    (bot_dir / "main.yaml").write_text(MAIN.replace("How many, {{ slots.name }}?", "Quantity for {{ slots.name }}?")
                                       .replace('"Done: {{ slots.qty }} for {{ slots.name }}."', '"All set, {{ slots.name }}."'))
    rt.reload(load_bot(bot_dir, plugins=PLUGINS), plugins(ok))
    assert await say(rt, "4", user="old") == ["Done: 4 for Wanjiru."]  # the old version to the end
    await say(rt, "hi", user="new")
    assert await say(rt, "Akinyi", user="new") == ["Quantity for Akinyi?"]
    assert await say(rt, "4", user="new") == ["All set, Akinyi."]
    assert await say(rt, "hi", user="old") == ["What is your name?"]
    session = await rt.session("old")
    assert session is not None and session.stack[-1].version == rt.current_flow("main").version


async def test_the_session_document_round_trips_and_stays_small() -> None:
    session = Session(lang="sw", stack=[Frame("booking", "abcdef0123", "ask_day", "confirm", {"qty": 2, "name": "Wanjiru"})],
                      globals={"customer": "Wanjiru"}, tries=1, pending={"page": 1}, wait=[1.0, 0], last_inbound=2.0,
                      last_active=3.0, opted_out=True, human={"since": 1.0}, result={"o": "ok", "d": {}})
    raw = session.to_bytes()
    assert Session.from_bytes(raw) == session
    assert len(raw) < 400


@pytest.mark.redis
async def test_two_messages_of_one_user_never_interleave(tmp_path: Path, redis_store) -> None:  # type: ignore[no-untyped-def]
    """Two processes' worth of runtimes on one Redis: the second turn waits for the first."""
    spans: list[tuple[str, str]] = []

    async def slow(ctx, qty):  # type: ignore[no-untyped-def]
        spans.append(("enter", ctx.user))
        await asyncio.sleep(0.2)
        spans.append(("exit", ctx.user))
        return {}

    loaded = load_bot(write_bot(tmp_path), plugins=PLUGINS)
    first = Runtime(loaded, redis_store, FakeClock(), plugins(slow))
    second = Runtime(loaded, redis_store, FakeClock(), plugins(slow))
    for text in ("hi", "Wanjiru"):
        await say(first, text)
    one, two = await asyncio.gather(first.handle(Inbound(user="u1", text="2")), second.handle(Inbound(user="u1", text="hi")))
    assert texts(one) == ["Done: 2 for Wanjiru."]
    assert texts(two) == ["What is your name?"]  # it saw the finished conversation, not a half-done one
    assert spans == [("enter", "u1"), ("exit", "u1")]


@pytest.mark.redis
async def test_different_users_run_in_parallel(tmp_path: Path, redis_store) -> None:  # type: ignore[no-untyped-def]
    async def slow(ctx, qty):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.3)
        return {}

    rt = Runtime(load_bot(write_bot(tmp_path), plugins=PLUGINS), redis_store, FakeClock(), plugins(slow))
    for user in ("a", "b"):
        for text in ("hi", "X" + user):
            await say(rt, text, user=user)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(rt.handle(Inbound(user="a", text="1")), rt.handle(Inbound(user="b", text="1")))
    assert loop.time() - start < 0.55
