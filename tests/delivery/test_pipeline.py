"""Intake → turns → outbox → sends on a real Redis, with a recording channel adapter."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from engine import wire
from engine.channels.base import SendError, SendResult
from engine.delivery.queue import COMMIT_SCRIPT, RedisQueue
from engine.delivery.records import RedisDeliveryRecords
from engine.delivery.sender import Sender
from engine.delivery.turns import TurnWorker, inbound_event
from engine.flow.loader import load_bot
from engine.messages import Inbound, Outbound, Template
from engine.runtime import Runtime
from engine.runtime.actions import Action, Plugins
from engine.runtime.redis_store import RedisStore

pytestmark = pytest.mark.redis

BOT = "bot: echo\nstart: main\nlanguages: [en]\n"
MAIN = textwrap.dedent("""\
    flow: main
    start: ask
    steps:
      ask:
        ask: Say something
        into: said
        validate: {type: text}
        next: echo
      echo:
        say: "You said {{ slots.said }}"
        next: ask
""")


class Recorder:
    """A channel adapter that records what it is asked to send (and can fail on purpose)."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[Outbound] = []
        self.failures: list[SendError] = []
        self.count = 0

    def verify(self, request: Any) -> None:
        return None

    def parse(self, request: Any) -> Any:
        raise NotImplementedError

    async def send(self, out: Outbound) -> SendResult:
        self.count += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(out)
        return SendResult(provider_id=f"wamid.{self.count}")


PATH = {"mode": "batched"}


@pytest.fixture(params=["batched", "inline", "one-by-one"], autouse=True)
def batching(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on every path: a batch of users in a few pipelines, with the replies sent
    through the sends stream ("batched") or by the turn worker itself from its process's sender
    ("inline", as `flowbot serve` runs), and one user at a time."""
    monkeypatch.setenv("FLOWBOT_BATCH", "0" if request.param == "one-by-one" else "1")
    PATH["mode"] = str(request.param)
    return str(request.param)


def paired(loops: tuple[Any, ...]) -> None:
    """On the inline path, each turn worker gets a sender running beside it (as in one process)."""
    workers = [loop for loop in loops if isinstance(loop, TurnWorker)]
    senders = [loop for loop in loops if isinstance(loop, Sender)]
    for i, worker in enumerate(workers):
        worker.sender = senders[i % len(senders)] if PATH["mode"] == "inline" and senders else None


@pytest.fixture
async def setup(tmp_path: Path, redis_url: str, redis_prefix: str):  # type: ignore[no-untyped-def]
    import redis.asyncio as aioredis

    bot = tmp_path / "flows" / "echo"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text(BOT)
    (bot / "main.yaml").write_text(MAIN)
    (tmp_path / "locales" / "echo").mkdir(parents=True)
    (tmp_path / "locales" / "echo" / "en.yaml").write_text("{}\n")
    client = aioredis.Redis.from_url(redis_url)
    store = RedisStore(client, prefix=redis_prefix)
    runtime = Runtime(load_bot(bot), store)
    queue = RedisQueue(client, prefix=redis_prefix)
    await queue.setup()
    adapter = Recorder()
    records = RedisDeliveryRecords(client, prefix=redis_prefix)
    yield runtime, queue, adapter, records
    await client.aclose()


async def run_until(condition, *loops, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    paired(loops)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def texts(adapter: Recorder, user: str) -> list[str]:
    return [o.text for o in adapter.sent if o.to == user]


async def test_messages_get_replies_in_order_and_duplicates_are_ignored(setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    for i, text in enumerate(["hi", "one", "two", "three"]):
        assert await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text=text, message_id=f"m{i}")), f"m{i}")
    assert not await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text="one", message_id="m1")), "m1")
    worker = TurnWorker(queue, {"echo": runtime}, block_ms=20)
    sender = Sender(queue, {"echo": adapter}, records, block_ms=20)
    await run_until(lambda: len(adapter.sent) >= 7, worker, sender)
    assert texts(adapter, "u1") == ["Say something", "You said one", "Say something", "You said two", "Say something",
                                    "You said three", "Say something"]
    record = await records.get("wamid.1")
    assert record is not None and record["status"] == "sent" and record["user"] == "u1"


async def test_many_users_on_two_workers_keep_each_users_order(setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    users = [f"u{n}" for n in range(30)]
    for i in range(5):
        for user in users:
            await queue.enqueue("echo", user, inbound_event(Inbound(user=user, text=f"msg{i}", message_id=f"{user}-{i}")), f"{user}-{i}")
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20, concurrency=8), TurnWorker(queue, {"echo": runtime}, block_ms=20, concurrency=8),
             Sender(queue, {"echo": adapter}, records, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    await run_until(lambda: len(adapter.sent) >= 30 * 9, *loops, timeout=30)
    for user in users:
        assert texts(adapter, user) == ["Say something"] + [t for i in range(1, 5) for t in (f"You said msg{i}", "Say something")]


async def test_a_worker_that_dies_mid_turn_loses_nothing_and_doubles_nothing(tmp_path: Path, setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    calls: list[str] = []
    gate = asyncio.Event()

    async def slow(ctx):  # type: ignore[no-untyped-def]
        calls.append(ctx.idempotency_key)
        if len(calls) == 1:
            await gate.wait()  # the first worker "dies" here
        return {}

    bot_dir = runtime.bot.root
    changed = MAIN.replace("  echo:\n    say:", "  echo:\n    action: echo.work\n    next: reply\n  reply:\n    say:")
    assert changed != MAIN
    (bot_dir / "main.yaml").write_text(changed)
    (bot_dir / "bot.yaml").write_text(BOT)
    plugins = Plugins(actions={"echo.work": Action(name="echo.work", fn=slow)})
    runtime.reload(load_bot(bot_dir, plugins=plugins), plugins)
    for i, text in enumerate(["hi", "one"]):
        await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text=text, message_id=f"m{i}")), f"m{i}")
    doomed = TurnWorker(queue, {"echo": runtime}, block_ms=20)
    stop = asyncio.Event()
    task = asyncio.create_task(doomed.run(stop))
    for _ in range(500):
        if calls:
            break
        await asyncio.sleep(0.01)
    assert calls, "the first worker never reached the action"
    task.cancel()  # killed in the middle of the action: nothing committed, the entry stays pending
    with pytest.raises(asyncio.CancelledError):
        await task
    survivor = TurnWorker(queue, {"echo": runtime}, block_ms=20, visibility_ms=200)
    sender = Sender(queue, {"echo": adapter}, records, block_ms=20)
    await run_until(lambda: len(adapter.sent) >= 3, survivor, sender)
    assert texts(adapter, "u1") == ["Say something", "You said one", "Say something"]
    assert calls[0] == calls[1]  # the retried turn reused the idempotency key: the plugin can dedupe


async def test_retryable_failures_back_off_and_keep_order(setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    adapter.failures = [SendError("busy", status=500, retryable=True), SendError("busy", status=500, retryable=True)]
    for i, text in enumerate(["hi", "one"]):
        await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text=text, message_id=f"m{i}")), f"m{i}")
    sender = Sender(queue, {"echo": adapter}, records, block_ms=20, base_delay=0.01, max_delay=0.05)
    await run_until(lambda: len(adapter.sent) >= 3, TurnWorker(queue, {"echo": runtime}, block_ms=20), sender)
    assert texts(adapter, "u1") == ["Say something", "You said one", "Say something"]
    assert adapter.count == 5


async def test_a_message_that_cannot_be_sent_is_dead_lettered_and_the_next_goes_on(setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    adapter.failures = [SendError("bad request", status=400, code=100, retryable=False)]
    for i, text in enumerate(["hi", "one"]):
        await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text=text, message_id=f"m{i}")), f"m{i}")
    await run_until(lambda: len(adapter.sent) >= 2, TurnWorker(queue, {"echo": runtime}, block_ms=20),
                    Sender(queue, {"echo": adapter}, records, block_ms=20))
    assert texts(adapter, "u1") == ["You said one", "Say something"]
    dead = await queue.redis.hvals(queue.dlq)
    assert len(dead) == 1 and b"Say something" in dead[0] and b"bad request" in dead[0]


async def test_outside_the_window_a_declared_template_replaces_the_text(setup) -> None:  # type: ignore[no-untyped-def]
    _, queue, adapter, records = setup
    adapter.failures = [SendError("re-engagement", status=400, code=131047, retryable=False)]
    from engine.messages import outbound_to_json

    out = Outbound(to="u1", text="Your parcel is on its way", template=Template("parcel_update", "en", ("HD-1",)))
    await queue.commit_turn("echo", "u1", b'{"l":"en","k":[],"a":0}', 60, [{"id": "x1", "o": outbound_to_json(out), "n": 0}], popped=0)
    await queue.wake_sender("echo", "u1")
    await run_until(lambda: len(adapter.sent) >= 1, Sender(queue, {"echo": adapter}, records, block_ms=20))
    assert adapter.sent[0].kind == "template" and adapter.sent[0].template == Template("parcel_update", "en", ("HD-1",))


@pytest.mark.parametrize("error", [
    SendError("unavailable", status=503, retryable=True),
    SendError("bad request", status=400, retryable=False),
    SendError("re-engagement", status=400, code=131047, retryable=False),
], ids=["retry", "dead-letter", "template"])
async def test_a_failed_send_whose_message_another_sender_took_off_changes_nothing(setup, error) -> None:  # type: ignore[no-untyped-def]
    """A sender's lease ran out while its send failed: meanwhile another sender sent that
    message and moved on to the next. The late failure must not overwrite the new head with the
    old message (sent twice, the next one lost), dead-letter it or record it as failed."""
    from engine.messages import outbound_to_json

    _, queue, _, records = setup
    old = Outbound(to="u1", text="first", template=Template("parcel_update", "en", ("HD-1",)))
    head = {"id": "x2", "o": outbound_to_json(Outbound(to="u1", text="second")), "n": 0}
    await queue.redis.rpush(queue.key("echo", "u1", "out"), wire.dumps(head))
    sender = Sender(queue, {"echo": Recorder()}, records)
    assert await sender.failed("echo", "u1", {"id": "x1", "o": outbound_to_json(old), "n": 0}, error) is False
    assert [wire.loads(raw) for raw in await queue.redis.lrange(queue.key("echo", "u1", "out"), 0, -1)] == [head]
    assert not await queue.redis.exists(queue.dlq, queue.retry)
    assert await records.get("failed:x1") is None


async def reload_with(runtime: Runtime, manifest_extra: str) -> None:
    bot_dir = runtime.bot.root
    (bot_dir / "bot.yaml").write_text(BOT + manifest_extra)
    runtime.reload(load_bot(bot_dir))


async def test_a_burst_of_quick_messages_becomes_one_turn(setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    await reload_with(runtime, "burst: {window: 1s}\n")
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text="hello", message_id="m0")), "m0")
    await run_until(lambda: len(adapter.sent) >= 1, *loops)
    for i, text in enumerate(["hi", "I want", "2 kg rice"], 1):
        await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text=text, message_id=f"m{i}")), f"m{i}")
    await run_until(lambda: len(adapter.sent) >= 3, *loops)
    await asyncio.sleep(0.2)
    assert texts(adapter, "u1") == ["Say something", "You said hi\nI want\n2 kg rice", "Say something"]


async def test_a_user_over_the_rate_limit_gets_one_notice_then_silence(setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    await reload_with(runtime, "rate_limit: {messages: 3, per: 1m}\n")
    for i in range(6):
        await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text=f"m{i}", message_id=f"m{i}")), f"m{i}")
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    await run_until(lambda: len(adapter.sent) >= 6, *loops)
    await asyncio.sleep(0.3)
    sent = texts(adapter, "u1")
    assert sent[:5] == ["Say something", "You said m1", "Say something", "You said m2", "Say something"]
    assert sent[5].startswith("You're sending messages faster than I can keep up")
    assert len(sent) == 6


async def test_a_user_who_said_stop_gets_no_rate_limit_notice(setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    await reload_with(runtime, "rate_limit: {messages: 3, per: 1m}\ninterrupts:\n  stop: {words: {en: [stop]}}\n")
    for i, text in enumerate(["hi", "STOP"] + [f"m{n}" for n in range(4)]):
        await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text=text, message_id=f"m{i}")), f"m{i}")
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    await run_until(lambda: len(adapter.sent) >= 2, *loops)
    stop = asyncio.Event()
    paired(loops)
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    await asyncio.sleep(0.5)  # the four messages past the limit are handled meanwhile
    stop.set()
    await asyncio.gather(*tasks)
    assert await queue.redis.llen(queue.key("echo", "u1", "in")) == 0  # all were handled
    sent = texts(adapter, "u1")
    assert sent[0] == "Say something" and len(sent) == 2, sent  # the STOP confirmation, then nothing
    assert not any(t.startswith("You're sending messages faster") for t in sent)


async def test_read_receipts_go_out_before_the_reply(setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    await reload_with(runtime, "channels: {provider: whatsapp, mark_read: true}\n")
    reads: list[str] = []

    async def mark_read(message_id: str) -> None:
        reads.append(message_id)
        assert not adapter.sent or len(reads) == 2  # the first receipt precedes every reply

    adapter.mark_read = mark_read  # type: ignore[attr-defined]
    for i, text in enumerate(["hi", "one"]):
        await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text=text, message_id=f"wamid.{i}")), f"wamid.{i}")
    await run_until(lambda: len(adapter.sent) >= 3, TurnWorker(queue, {"echo": runtime}, block_ms=20),
                    Sender(queue, {"echo": adapter}, records, block_ms=20))
    assert reads == ["wamid.0", "wamid.1"]


async def test_the_dead_letter_queue_can_be_listed_retried_and_dropped(setup, redis_url, redis_prefix, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.delivery.dlq_cli import run_dlq

    runtime, queue, adapter, records = setup
    adapter.failures = [SendError("bad", status=400, code=100), SendError("bad", status=400, code=100)]
    await queue.enqueue("echo", "254712345678", inbound_event(Inbound(user="254712345678", text="hi", message_id="m0")), "m0")
    await queue.enqueue("echo", "254712345678", inbound_event(Inbound(user="254712345678", text="x", message_id="m1")), "m1")
    await run_until(lambda: adapter.count >= 3, TurnWorker(queue, {"echo": runtime}, block_ms=20),
                    Sender(queue, {"echo": adapter}, records, block_ms=20))
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert await run_dlq("list", None, redis_prefix) == 0
    listing = capsys.readouterr().out
    assert "2 message(s) in the dead-letter queue" in listing
    assert "254712345678" not in listing and "254•••••••78" in listing  # masked for the operator's screen
    first, second = [line.split()[0] for line in listing.splitlines()[:2]]
    assert await run_dlq("retry", first, redis_prefix) == 0
    await run_until(lambda: len(adapter.sent) >= 2, Sender(queue, {"echo": adapter}, records, block_ms=20))
    assert texts(adapter, "254712345678")[-1] == "Say something"
    assert await run_dlq("drop", second, redis_prefix) == 0
    assert await run_dlq("drop", second, redis_prefix) == 1
    assert await queue.redis.hlen(queue.dlq) == 0


async def test_delete_my_data_runs_as_a_job_after_the_turn_and_confirms(setup) -> None:  # type: ignore[no-untyped-def]
    runtime, queue, adapter, records = setup
    await reload_with(runtime, "interrupts:\n  forget: {words: [delete my data]}\n")
    forgotten: list[tuple[str, str]] = []

    async def forgetter(bot: str, user: str) -> None:
        forgotten.append((bot, user))

    runtime.forgetters.append(forgetter)
    for i, text in enumerate(["hi", "delete my data", "yes"]):
        await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text=text, message_id=f"m{i}")), f"m{i}")
    await run_until(lambda: len(adapter.sent) >= 4, TurnWorker(queue, {"echo": runtime}, block_ms=20),
                    Sender(queue, {"echo": adapter}, records, block_ms=20))
    sent = texts(adapter, "u1")
    assert sent[2].startswith("Done: your data is being deleted") and sent[3].startswith("Your data has been deleted")
    assert forgotten == [("echo", "u1")]
    session = await runtime.session("u1")
    assert session is not None and session.stack == [] and session.history == []


async def test_a_redis_that_forgot_its_scripts_still_answers_everyone_once(setup) -> None:  # type: ignore[no-untyped-def]
    """As after a Redis restart: every script the worker and the sender use is gone."""
    runtime, queue, adapter, records = setup
    users = [f"f{n}" for n in range(12)]
    for user in users:
        await queue.enqueue("echo", user, inbound_event(Inbound(user=user, text="hi", message_id=f"{user}-0")), f"{user}-0")
    await queue.redis.script_flush()
    worker = TurnWorker(queue, {"echo": runtime}, block_ms=20)
    sender = Sender(queue, {"echo": adapter}, records, block_ms=20)
    await run_until(lambda: len(adapter.sent) >= len(users), worker, sender)
    await asyncio.sleep(0.2)  # nothing more comes
    for user in users:
        assert texts(adapter, user) == ["Say something"]


@pytest.mark.parametrize("loaded", ["claims", "none"])
async def test_scripts_forgotten_between_a_users_messages_do_not_stall_the_user(setup, loaded: str) -> None:  # type: ignore[no-untyped-def]
    """Redis forgets its scripts while a user is mid-conversation: their next replies still come
    at once (no lock left held until its lease runs out)."""
    from engine.delivery.send_batch import _CLAIM as SEND_CLAIM
    from engine.delivery.turn_batch import _CLAIM as TURN_CLAIM

    runtime, queue, adapter, records = setup
    stop = asyncio.Event()
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    paired(loops)
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        for i in range(4):
            await queue.redis.script_flush()
            if loaded == "claims":
                await queue.redis.script_load(TURN_CLAIM)
                await queue.redis.script_load(SEND_CLAIM)
            await queue.enqueue("echo", "s1", inbound_event(Inbound(user="s1", text=f"m{i}", message_id=f"s1-{i}")), f"s1-{i}")
            deadline = asyncio.get_running_loop().time() + 3  # well under the 30 s lease
            while len(texts(adapter, "s1")) < (1 if i == 0 else 2 * i + 1):
                assert asyncio.get_running_loop().time() < deadline, f"message {i} stalled: {texts(adapter, 's1')}"
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert texts(adapter, "s1") == ["Say something"] + [t for i in range(1, 4) for t in (f"You said m{i}", "Say something")]


WAITING = textwrap.dedent("""\
    flow: main
    start: ask
    steps:
      ask:
        ask: What is your name?
        into: name
        validate: {type: text}
        wait:
          remind:
            - {after: 1s, say: Still there?}
          expire: {after: 1h, say: Bye, next: done}
        next: done
      done:
        say: "Thanks {{ slots.name }}"
        end: true
""")


async def test_a_reminder_falls_due_fires_once_and_an_answer_clears_the_due_time(tmp_path: Path, setup) -> None:  # type: ignore[no-untyped-def]
    """The due-time set the timer scheduler reads: set by the turn that starts waiting, cleared by
    the turn that ends the wait (both paths skip the write when there is nothing to change)."""
    runtime, queue, adapter, records = setup
    bot = tmp_path / "flows" / "waiter"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text("bot: waiter\nstart: main\nlanguages: [en]\n")
    (bot / "main.yaml").write_text(WAITING)
    (tmp_path / "locales" / "waiter").mkdir(parents=True)
    (tmp_path / "locales" / "waiter" / "en.yaml").write_text("{}\n")
    waiter = Runtime(load_bot(bot), runtime.store)
    due_key = f"{queue.prefix}:waiter:due"
    loops = [TurnWorker(queue, {"waiter": waiter}, block_ms=20), Sender(queue, {"waiter": adapter}, records, block_ms=20)]
    await queue.enqueue("waiter", "w1", inbound_event(Inbound(user="w1", text="hi", message_id="w1-0")), "w1-0")
    await run_until(lambda: len(adapter.sent) >= 1, *loops)
    due = await queue.redis.zscore(due_key, "w1")
    assert due is not None and 0.5 < due - time.time() <= 1.5
    # the scheduler's job (engine/serve.py): enqueue a timer event once it is due
    await asyncio.sleep(max(0.0, due - time.time()) + 0.05)
    await queue.enqueue("waiter", "w1", {"k": "timer"}, f"timer:{due}")
    await queue.enqueue("waiter", "w1", {"k": "timer"}, f"timer:{due}")  # a second scheduler: deduplicated
    await run_until(lambda: len(adapter.sent) >= 2, *loops)
    assert texts(adapter, "w1") == ["What is your name?", "Still there?"]
    await queue.enqueue("waiter", "w1", inbound_event(Inbound(user="w1", text="Amina", message_id="w1-1")), "w1-1")
    await run_until(lambda: len(adapter.sent) >= 3, *loops)
    assert texts(adapter, "w1")[-1] == "Thanks Amina"
    assert await queue.redis.zscore(due_key, "w1") is None


async def test_a_slow_action_does_not_hold_back_other_users_replies(setup) -> None:  # type: ignore[no-untyped-def]
    """One user's turn waits on an action (an outside API); the others in the same batch get
    their replies meanwhile, and the slow one gets its reply once the action answers."""
    runtime, queue, adapter, records = setup
    gate = asyncio.Event()

    async def work(ctx):  # type: ignore[no-untyped-def]
        if ctx.user == "slow":
            await gate.wait()
        return {}

    bot_dir = runtime.bot.root
    (bot_dir / "main.yaml").write_text(MAIN.replace("  echo:\n    say:", "  echo:\n    action: echo.work\n    next: reply\n  reply:\n    say:"))
    plugins = Plugins(actions={"echo.work": Action(name="echo.work", fn=work)})
    runtime.reload(load_bot(bot_dir, plugins=plugins), plugins)
    users = ["slow"] + [f"fast{n}" for n in range(6)]
    for user in users:  # everyone answered the first question already
        await queue.enqueue("echo", user, inbound_event(Inbound(user=user, text="hi", message_id=f"{user}-0")), f"{user}-0")
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    await run_until(lambda: len(adapter.sent) >= len(users), *loops)
    for user in users:
        await queue.enqueue("echo", user, inbound_event(Inbound(user=user, text="go", message_id=f"{user}-1")), f"{user}-1")
    stop = asyncio.Event()
    paired(loops)
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while not all(texts(adapter, u)[-2:] == ["You said go", "Say something"] for u in users[1:]):
            assert asyncio.get_running_loop().time() < deadline, "the fast users waited for the slow action"
            await asyncio.sleep(0.01)
        assert texts(adapter, "slow") == ["Say something"]  # still waiting on its action
        gate.set()
        while texts(adapter, "slow")[-2:] != ["You said go", "Say something"]:
            assert asyncio.get_running_loop().time() < deadline, "the slow user never got its reply"
            await asyncio.sleep(0.01)
    finally:
        gate.set()  # a failing run must not leave a send or an action waiting forever
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_hanging_send_does_not_hold_back_other_users_messages(setup) -> None:  # type: ignore[no-untyped-def]
    """Graph is slow to answer one send (of one user); every other user of the batch gets all of
    their messages meanwhile, and the slow user's come after, in order."""
    runtime, queue, _, records = setup
    gate = asyncio.Event()

    class Hanging(Recorder):
        async def send(self, out: Outbound) -> SendResult:
            if out.to == "slow":
                await gate.wait()
            return await super().send(out)

    adapter = Hanging()
    users = ["slow"] + [f"fast{n}" for n in range(6)]
    for user in users:
        for i, text in enumerate(["hi", "one"]):
            await queue.enqueue("echo", user, inbound_event(Inbound(user=user, text=text, message_id=f"{user}-{i}")), f"{user}-{i}")
    async def outboxes_full() -> bool:
        return all([await queue.redis.llen(queue.key("echo", u, "out")) == 3 for u in users])

    worker = TurnWorker(queue, {"echo": runtime}, block_ms=20)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop))]
    deadline = asyncio.get_running_loop().time() + 10
    while not await outboxes_full():  # all turns first, so one read of the senders' stream takes every user
        assert asyncio.get_running_loop().time() < deadline, "the turns did not run"
        await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(Sender(queue, {"echo": adapter}, records, block_ms=20).run(stop)))
    expected = ["Say something", "You said one", "Say something"]
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while not all(texts(adapter, u) == expected for u in users[1:]):
            assert asyncio.get_running_loop().time() < deadline, "the other users waited for the hanging send"
            await asyncio.sleep(0.01)
        assert texts(adapter, "slow") == []
        gate.set()
        while texts(adapter, "slow") != expected:
            assert asyncio.get_running_loop().time() < deadline, f"the slow user's messages: {texts(adapter, 'slow')}"
            await asyncio.sleep(0.01)
    finally:
        gate.set()  # a failing run must not leave a send or an action waiting forever
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_reply_to_a_user_who_waits_skips_the_sends_stream_on_the_inline_path(setup, batching) -> None:  # type: ignore[no-untyped-def]
    """Users who wait for each reply (nothing else queued for them) get it from the turn worker's
    own sender on the inline path; through the sends stream on the others."""
    runtime, queue, adapter, records = setup
    users = [f"u{n}" for n in range(8)]
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    for round_, text in enumerate(["hi", "one", "two"]):
        for user in users:
            await queue.enqueue("echo", user, inbound_event(Inbound(user=user, text=text, message_id=f"{user}-{round_}")),
                                f"{user}-{round_}")
        await run_until(lambda n=round_: all(len(texts(adapter, u)) >= 2 * n + 1 for u in users), *loops)
    for user in users:
        assert texts(adapter, user) == ["Say something", "You said one", "Say something", "You said two", "Say something"]
    streamed = (await queue.redis.xinfo_stream(queue.sends))["entries-added"]
    assert (streamed == 0) == (batching == "inline"), streamed
    # every wake is acknowledged, every lock free, every outbox empty
    assert (await queue.redis.xpending(queue.turns, "workers"))["pending"] == 0
    for user in users:
        assert not await queue.redis.exists(queue.key("echo", user, "sendlock"), queue.key("echo", user, "lock"),
                                            queue.key("echo", user, "out"))


async def test_a_worker_dying_between_its_commit_and_its_send_loses_no_reply(setup, batching, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On the inline path the commit takes the send lock; if the process dies before sending, the
    turn's wake is still pending: the next worker to reclaim it finds the outbox and wakes a
    sender, which sends the reply once the dead one's lease has run out."""
    from engine.delivery.send_batch import SendBatch

    runtime, queue, adapter, records = setup
    died = asyncio.Event()

    async def dies(self: SendBatch, claims: list[Any]) -> None:
        died.set()

    await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text="hi", message_id="m0")), "m0")
    with monkeypatch.context() as patch:
        patch.setattr(SendBatch, "send_claimed", dies)
        doomed = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20, lease_ms=300)]
        await run_until(lambda: died.is_set() or batching != "inline", *doomed)
        if batching == "inline":
            assert await queue.redis.exists(queue.key("echo", "u1", "sendlock"))  # taken by the commit, never freed
            assert await queue.redis.llen(queue.key("echo", "u1", "out")) == 1
        await run_until(lambda: batching == "inline" or len(adapter.sent) >= 1, *doomed)
    survivor = [TurnWorker(queue, {"echo": runtime}, block_ms=20, visibility_ms=200), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    await run_until(lambda: len(adapter.sent) >= 1, *survivor)
    await asyncio.sleep(0.3)  # nothing else comes
    assert texts(adapter, "u1") == ["Say something"]
    assert await queue.redis.llen(queue.key("echo", "u1", "out")) == 0


async def test_a_hanging_inline_send_holds_back_no_other_user(setup) -> None:  # type: ignore[no-untyped-def]
    """With the sends made by the turn worker itself, one user's send that Graph does not answer
    holds back neither the other users' turns nor their replies, however many batches go by."""
    runtime, queue, _, records = setup
    gate = asyncio.Event()

    class Hanging(Recorder):
        async def send(self, out: Outbound) -> SendResult:
            if out.to.startswith("slow"):
                await gate.wait()
            return await super().send(out)

    adapter = Hanging()
    users = ["slow0", "slow1", "slow2"] + [f"fast{n}" for n in range(4)]
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    paired(tuple(loops))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        for round_, text in enumerate(["hi", "one", "two", "three"]):
            for user in users if round_ == 0 else users[3:]:
                await queue.enqueue("echo", user, inbound_event(Inbound(user=user, text=text, message_id=f"{user}-{round_}")),
                                    f"{user}-{round_}")
            deadline = asyncio.get_running_loop().time() + 10
            while not all(len(texts(adapter, u)) >= 2 * round_ + 1 for u in users[3:]):
                assert asyncio.get_running_loop().time() < deadline, "the fast users waited for the hanging sends"
                await asyncio.sleep(0.01)
        assert all(texts(adapter, u) == [] for u in users[:3])
        gate.set()
        deadline = asyncio.get_running_loop().time() + 10
        while not all(texts(adapter, u) == ["Say something"] for u in users[:3]):
            assert asyncio.get_running_loop().time() < deadline, "the slow users never got their reply"
            await asyncio.sleep(0.01)
    finally:
        gate.set()
        stop.set()
        await asyncio.gather(*tasks)
    assert texts(adapter, "fast0") == ["Say something", "You said one", "Say something", "You said two", "Say something",
                                       "You said three", "Say something"]


def lose_a_commits_answer(monkeypatch: pytest.MonkeyPatch, meanwhile: Any = None) -> list[int]:
    """The first pipeline holding a batch commit runs on Redis, then (after `meanwhile`, if
    given) its connection drops before the answer is read; the returned list is non-empty once
    that happened."""
    from redis.asyncio.client import Pipeline
    from redis.exceptions import ConnectionError as RedisConnectionError

    from engine.delivery.turn_batch import _COMMIT_RELEASE

    real = Pipeline._execute_pipeline
    lost: list[int] = []

    async def loses_the_answer_once(self, connection, commands, raise_on_error):  # type: ignore[no-untyped-def]
        answer = await real(self, connection, commands, raise_on_error)
        if not lost and any(_COMMIT_RELEASE in map(str, args) for args, _ in commands):
            lost.append(1)
            if meanwhile is not None:
                await meanwhile()
            raise RedisConnectionError("Connection closed by server.")  # the batch runs the pipeline again
        return answer

    monkeypatch.setattr(Pipeline, "_execute_pipeline", loses_the_answer_once)
    return lost


async def test_a_commit_whose_answer_is_lost_still_sends_the_reply_at_once(setup, batching, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The connection drops after Redis ran a batch's commit but before its answer came back:
    redis-py runs the pipeline again, and the commit finds itself already applied. On the inline
    path the first run took the user's send lock for this worker; the second run must hand the
    reply to this worker's sender all the same, not leave it for the lease (30 s) to run out."""
    runtime, queue, adapter, records = setup
    lost = lose_a_commits_answer(monkeypatch)
    await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text="hi", message_id="m0")), "m0")
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    await run_until(lambda: len(adapter.sent) >= 1, *loops, timeout=5.0)  # well under the 30 s lease
    await run_until(lambda: True, *loops)
    assert texts(adapter, "u1") == ["Say something"]
    assert bool(lost) == (batching != "one-by-one")  # the per-user path commits outside a pipeline
    assert await queue.redis.llen(queue.key("echo", "u1", "out")) == 0
    assert not await queue.redis.exists(queue.key("echo", "u1", "sendlock"), queue.key("echo", "u1", "lock"))
    assert (await queue.redis.xpending(queue.turns, "workers"))["pending"] == 0


async def test_a_commit_sent_again_after_the_users_next_turn_is_still_applied_once(setup, batching, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The answer of a batch's commit is lost, and before the batch runs it again the user writes
    again and another worker commits a turn for them (the first commit had freed the user's lock).
    The commit must still find itself applied: its reply queued once, the user's new message not
    dropped from the inbox. With only the last commit's id remembered, it was applied twice: the
    reply sent twice (seen in the Redis-restart fault test) and the new message lost."""
    if batching == "one-by-one":
        pytest.skip("the per-user path commits outside a pipeline; its script: the next test")
    runtime, queue, adapter, records = setup

    async def the_next_turn_commits() -> None:
        await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text="again", message_id="m1")), "m1")
        session = await queue.redis.get(queue.key("echo", "u1", "s"))
        await queue.commit_turn("echo", "u1", session, 60, [], popped=0)  # another worker's turn: its own id

    lost = lose_a_commits_answer(monkeypatch, meanwhile=the_next_turn_commits)
    await queue.enqueue("echo", "u1", inbound_event(Inbound(user="u1", text="hi", message_id="m0")), "m0")
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    await run_until(lambda: len(adapter.sent) >= 3, *loops, timeout=5.0)
    await run_until(lambda: True, *loops)
    assert lost
    assert texts(adapter, "u1") == ["Say something", "You said again", "Say something"]


async def test_the_commit_script_remembers_every_recent_commit_not_only_the_last(setup) -> None:  # type: ignore[no-untyped-def]
    """COMMIT_SCRIPT, as the per-user path runs it: commit A, then B, then A again: A is not
    applied the second time (A's item queued once, B's session kept, no second event popped)."""
    _, queue, _, _ = setup
    keys = [queue.key("echo", "u9", k) for k in ("s", "out", "in", "commits")] + [queue.log]
    await queue.redis.rpush(keys[2], b"e1", b"e2", b"e3")
    commit = queue.redis.register_script(COMMIT_SCRIPT)
    assert await commit(keys=keys, args=["A", b"session-a", 60_000, 1, 1, b"item-a"]) == [2, 1]
    assert await commit(keys=keys, args=["B", b"session-b", 60_000, 1, 0]) == [1, 1]
    assert await commit(keys=keys, args=["A", b"session-a", 60_000, 1, 1, b"item-a"]) == [1, 1]
    assert await queue.redis.lrange(keys[1], 0, -1) == [b"item-a"]
    assert await queue.redis.lrange(keys[2], 0, -1) == [b"e3"]
    assert await queue.redis.get(keys[0]) == b"session-b"
    assert await queue.redis.zcard(keys[3]) == 2 and 0 < await queue.redis.pttl(keys[3]) <= 600_000


@pytest.mark.postgres
async def test_a_stop_that_outlived_the_session_keeps_the_bot_quiet_with_one_query_a_batch(setup, batching, pg_store) -> None:  # type: ignore[no-untyped-def]
    """Users without a session: those whose last word in the consent store is STOP get nothing
    (until START), the others their reply. The batch path asks the store once for the batch's
    new users; the per-user path once per user. A store that fails answers as 'not opted out'."""
    runtime, queue, adapter, records = setup
    asked: list[list[str]] = []
    singles: list[str] = []

    class Counting:
        def __init__(self, store: Any) -> None:
            self.store = store

        async def opted_out_among(self, bot: str, users: list[str]) -> set[str]:
            asked.append(sorted(users))
            return set(await self.store.opted_out_among(bot, users))

        async def is_opted_out(self, bot: str, user: str) -> bool:
            singles.append(user)
            return bool(await self.store.is_opted_out(bot, user))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.store, name)

    runtime.consent = Counting(pg_store)
    quiet, talkative = ["q1", "q2", "q3"], ["t1", "t2", "t3", "t4", "t5"]
    for user in quiet:
        await pg_store.opt_out("echo", user, source="keyword", detail="STOP")
    await pg_store.opt_out("echo", "t5", source="keyword", detail="STOP")
    await pg_store.opt_in("echo", "t5", source="keyword", detail="START")  # the latest word counts
    for user in quiet + talkative:
        await queue.enqueue("echo", user, inbound_event(Inbound(user=user, text="hi", message_id=f"{user}-0")), f"{user}-0")
    loops = [TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20)]
    await run_until(lambda: all(texts(adapter, u) for u in talkative), *loops)
    until = asyncio.get_running_loop().time() + 0.3  # the quiet ones get time to (not) be answered
    await run_until(lambda: asyncio.get_running_loop().time() > until, *loops)
    assert all(texts(adapter, u) == ["Say something"] for u in talkative)
    assert all(texts(adapter, u) == [] for u in quiet)
    assert (await queue.redis.xpending(queue.turns, "workers"))["pending"] == 0
    everyone = sorted(quiet + talkative)
    if batching == "one-by-one":
        assert sorted(singles) == everyone and asked == []
    else:  # each new user asked about once, in batches, never one by one
        assert sorted(u for batch in asked for u in batch) == everyone and singles == []
        assert len(asked) < len(everyone)


async def test_a_batch_whose_consent_store_fails_answers_everyone(setup, batching) -> None:  # type: ignore[no-untyped-def]
    """The store is down: nobody is taken for opted out (a message the user sent us is answered;
    only a proactive start must know, and that path refuses instead)."""
    runtime, queue, adapter, records = setup

    class Down:
        async def opted_out_among(self, bot: str, users: list[str]) -> set[str]:
            raise ConnectionError("the database is restarting")

        async def is_opted_out(self, bot: str, user: str) -> bool:
            raise ConnectionError("the database is restarting")

    runtime.consent = Down()
    users = [f"d{n}" for n in range(4)]
    for user in users:
        await queue.enqueue("echo", user, inbound_event(Inbound(user=user, text="hi", message_id=f"{user}-0")), f"{user}-0")
    await run_until(lambda: all(texts(adapter, u) for u in users),
                    TurnWorker(queue, {"echo": runtime}, block_ms=20), Sender(queue, {"echo": adapter}, records, block_ms=20))
    assert all(texts(adapter, u) == ["Say something"] for u in users)
