"""The ai plugin in a conversation: a bot that lists `actions: [ai]`, checked by the loader (lint)
and run by the runtime, offline and against the OpenAI fake (whose failures reach `on_error`)."""

from __future__ import annotations

from pathlib import Path

from engine.clock import FakeClock
from engine.flow.loader import load_bot
from engine.messages import Inbound
from engine.runtime import MemoryStore, Runtime

FAQ = str((Path(__file__).parent / "data" / "faq.yaml").resolve())

BOT = """\
bot: market
start: main
languages: [en, it]
settings: {currency: KES, timezone: Africa/Nairobi, ai: {products: [maize, beans]}}
actions: [ai]
"""

MAIN = """\
flow: main
start: ask
slots:
  question: {type: text}
  harvest: {}
  faq: {}
steps:
  ask:
    ask: What would you like to know?
    into: question
    next: route
  route:
    action: ai.classify
    with:
      text: "{{ slots.question }}"
      intents:
        - {name: sell, examples: [I want to sell my harvest, sell produce]}
        - {name: question, examples: [when are you open, how much is delivery, how can I pay]}
    on: {sell: harvest, question: lookup, unknown: lookup}
    on_error: {say: "Sorry, I cannot help right now.", next: end}
  harvest:
    action: ai.extract
    with: {text: "{{ slots.question }}", schema: harvest}
    into: harvest
    on: {ok: listed, incomplete: more, unsafe: rude}
    on_error: {say: "Sorry, I cannot help right now.", next: end}
  listed:
    say: "Listed: {{ slots.harvest.quantity }} {{ slots.harvest.unit }} of {{ slots.harvest.crop }}."
    end: true
  more:
    say: "Tell me more: {{ slots.harvest.missing | join(', ') }}."
    end: true
  rude:
    say: Let's keep it friendly.
    end: true
  lookup:
    action: ai.answer
    with: {question: "{{ slots.question }}", faq: "FAQ_PATH"}
    into: faq
    on: {answered: reply, unknown: sorry}
    on_error: {say: "Sorry, I cannot answer right now.", next: end}
  reply:
    say: "{{ slots.faq.answer }} [{{ slots.faq.citations | join(', ') }}]"
    end: true
  sorry:
    say: I don't know that one.
    end: true
"""


def write_bot(root: Path) -> Path:
    bot = root / "flows" / "market"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text(BOT)
    (bot / "main.yaml").write_text(MAIN.replace("FAQ_PATH", FAQ))
    locales = root / "locales" / "market"
    locales.mkdir(parents=True)
    for lang in ("en", "it"):
        (locales / f"{lang}.yaml").write_text("{}\n")
    return bot


async def conversation(rt: Runtime, text: str) -> list[str]:
    await rt.handle(Inbound(user="u1", text="hi"))
    return [o.text for o in (await rt.handle(Inbound(user="u1", text=text))).outbound]


async def test_a_bot_using_the_ai_plugin_loads_and_answers_offline(tmp_path: Path, offline) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime(load_bot(write_bot(tmp_path)), MemoryStore(), FakeClock())
    assert await conversation(rt, "how much is delivery?") == [
        "We deliver within 24 hours in the city; delivery costs KES 200, free above KES 5,000. [delivery]"]
    assert await conversation(rt, "I want to sell 20 kg of maize") == ["Listed: 20 kg of maize."]
    assert await conversation(rt, "I want to sell my maize") == ["Tell me more: quantity, unit."]
    assert await conversation(rt, "what is the capital of France?") == ["I don't know that one."]


async def test_an_openai_failure_follows_on_error(tmp_path: Path, openai_fake) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime(load_bot(write_bot(tmp_path)), MemoryStore(), FakeClock())
    openai_fake.reply({"intent": "question", "confidence": 0.9})
    openai_fake.fail_next(1, 500, path="embeddings")  # ai.classify succeeds, then ai.answer fails
    await rt.handle(Inbound(user="u1", text="hi"))
    result = await rt.handle(Inbound(user="u1", text="how much is delivery?"))
    assert [o.text for o in result.outbound] == ["Sorry, I cannot answer right now."]
    assert any("ai.answer failed" in e and "Error code: 500" in e for e in result.events)
    openai_fake.reply({"intent": "question", "confidence": 0.9})
    openai_fake.reply({"answer": "KES 200.", "citations": ["delivery"]})
    assert await conversation(rt, "how much is delivery?") == ["KES 200. [delivery]"]
