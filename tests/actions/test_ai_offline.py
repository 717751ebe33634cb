"""The ai plugin with no OPENAI_API_KEY: the deterministic fallbacks, through the engine's `call`."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from engine.runtime.actions import ActionError, Plugins, call

pytestmark = pytest.mark.usefixtures("offline")

PLUGINS = Plugins.load(["ai"])
EXTRACT, CLASSIFY = PLUGINS.actions["ai.extract"], PLUGINS.actions["ai.classify"]
MODERATE, ANSWER = PLUGINS.actions["ai.moderate"], PLUGINS.actions["ai.answer"]
INTENTS = [
    {"name": "buy", "examples": ["I want to buy", "purchase produce", "order some food"]},
    {"name": "sell", "examples": ["I want to sell my harvest", "sell produce", "list my crop"]},
    {"name": "track", "examples": ["where is my order", "track my delivery", "order status"]},
    {"name": "help", "examples": ["help", "talk to a person"]},
]


def test_the_plugin_declares_four_actions_with_checkable_arguments() -> None:
    assert set(PLUGINS.actions) == {"ai.extract", "ai.classify", "ai.moderate", "ai.answer"}
    for action in PLUGINS.actions.values():
        Draft7Validator.check_schema(dict(action.args))  # what `flowbot lint` checks calls with
    assert EXTRACT.outcomes == ("ok", "incomplete", "unsafe")
    assert ANSWER.outcomes == ("answered", "unknown")


# ----- extraction


async def test_extract_fills_a_harvest_and_validates_it(ai_context) -> None:  # type: ignore[no-untyped-def]
    result = await call(EXTRACT, ai_context(), {"text": "I harvested 20 kg of maize yesterday", "schema": "harvest"}, 10, 0)
    assert result.outcome == "ok"
    assert result.data == {"crop": "maize", "quantity": 20, "unit": "kg", "harvest_date": "2026-01-04"}


async def test_extract_reports_what_is_missing_and_a_second_message_completes_it(ai_context) -> None:  # type: ignore[no-untyped-def]
    first = await call(EXTRACT, ai_context(), {"text": "Quote for maize at KES 3,000 per bag", "schema": "quote"}, 10, 0)
    assert first.outcome == "incomplete"
    assert first.data["missing"] == ["quantity"]
    assert first.data["partial"] == {"product": "maize", "unit": "bag", "price": {"amount": 3000, "currency": "KES"}}
    second = await call(EXTRACT, ai_context(), {"text": "12 bags", "schema": "quote", "known": first.data["partial"]}, 10, 0)
    assert second.outcome == "ok"
    assert second.data == {"product": "maize", "quantity": 12, "unit": "bag", "price": {"amount": 3000, "currency": "KES"}}


async def test_extract_reads_an_italian_order_of_several_products(ai_context) -> None:  # type: ignore[no-untyped-def]
    text = "Vorrei 2 casse di pomodori e 10 kg di fagioli per domani"
    result = await call(EXTRACT, ai_context("it"), {"text": text, "schema": "order"}, 10, 0)
    assert result.outcome == "ok"
    assert result.data == {
        "items": [{"product": "tomatoes", "quantity": 2, "unit": "crate"}, {"product": "beans", "quantity": 10, "unit": "kg"}],
        "delivery_date": "2026-01-06",
    }


async def test_extract_order_item_without_quantity_is_incomplete(ai_context) -> None:  # type: ignore[no-untyped-def]
    result = await call(EXTRACT, ai_context(), {"text": "potatoes $12 a bag, and some maize", "schema": "order"}, 10, 0)
    assert result.outcome == "incomplete"
    assert result.data["missing"] == ["items[0].quantity"]
    assert result.data["partial"] == {"items": [{"product": "maize"}]}


async def test_extract_prices_in_several_notations(ai_context) -> None:  # type: ignore[no-untyped-def]
    cases = {
        "maize, 5 bags at Ksh 2,500 each": {"amount": 2500, "currency": "KES"},
        "5 bags of beans for 1500/=": {"amount": 1500, "currency": "KES"},
        "tomatoes $12 per crate": {"amount": 12, "currency": "USD"},
        "3 crates tomatoes @ 800": {"amount": 800, "currency": "KES"},
    }
    for text, price in cases.items():
        result = await call(EXTRACT, ai_context(), {"text": text, "schema": "product"}, 10, 0)
        assert result.outcome == "ok", (text, result)
        assert result.data["price"] == price, text


async def test_extract_into_an_inline_schema_reports_invalid_values(ai_context) -> None:  # type: ignore[no-untyped-def]
    schema = {
        "title": "pickup",
        "type": "object",
        "properties": {"weight": {"type": "number", "maximum": 30}, "pickup_date": {"type": "string", "format": "date"}},
        "required": ["weight", "pickup_date"],
    }
    ok = await call(EXTRACT, ai_context(), {"text": "20 kg, pick it up on Friday", "schema": schema}, 10, 0)
    assert ok.outcome == "ok" and ok.data == {"weight": 20, "pickup_date": "2026-01-09"}
    heavy = await call(EXTRACT, ai_context(), {"text": "50 kg tomorrow", "schema": schema}, 10, 0)
    assert heavy.outcome == "incomplete"
    assert heavy.data["partial"] == {"pickup_date": "2026-01-06"}
    assert heavy.data["missing"] == ["weight"]
    assert [i["path"] for i in heavy.data["invalid"]] == ["weight"]


async def test_extract_refuses_unknown_schemas(ai_context) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ActionError, match="no built-in schema 'invoice'"):
        await call(EXTRACT, ai_context(), {"text": "x", "schema": "invoice"}, 10, 0)
    with pytest.raises(ActionError, match="object with `properties`"):
        await call(EXTRACT, ai_context(), {"text": "x", "schema": {"type": "string"}}, 10, 0)


async def test_moderation_gates_extraction(ai_context) -> None:  # type: ignore[no-untyped-def]
    text = "20 kg of maize, you f u c k i n g bastard"
    result = await call(EXTRACT, ai_context(), {"text": text, "schema": "harvest"}, 10, 0)
    assert result.outcome == "unsafe"
    assert result.data == {"flagged": True, "categories": ["harassment"], "source": "offline"}
    unchecked = await call(EXTRACT, ai_context(), {"text": text, "schema": "harvest", "moderate": False}, 10, 0)
    assert unchecked.outcome == "ok"


# ----- moderation


@pytest.mark.parametrize(("lang", "text", "categories"), [
    ("en", "I will kill you", ["harassment/threatening"]),
    ("en", "this is sh1t", ["harassment"]),
    ("en", "FUUUCK this", ["harassment"]),
    ("it", "vaffanculo, non pago", ["harassment"]),
    ("it", "ti ammazzo", ["harassment/threatening"]),
    ("sw", "wewe ni mjinga", ["harassment"]),
    ("sw", "nataka kufa", ["self-harm"]),
])
async def test_moderate_flags_the_word_lists_through_disguises(ai_context, lang, text, categories) -> None:  # type: ignore[no-untyped-def]
    result = await call(MODERATE, ai_context(lang), {"text": text}, 10, 0)
    assert (result.outcome, result.data["categories"]) == ("flagged", categories)


@pytest.mark.parametrize("text", [
    "I have 20 kg of maize to sell", "Can you assess the grapes' class?", "Shiitake mushrooms, 3 kg",
    "Posso pagare in contanti?", "Nataka kununua mahindi", "I need fire retardant for the store",
])
async def test_moderate_lets_ordinary_messages_through(ai_context, text) -> None:  # type: ignore[no-untyped-def]
    result = await call(MODERATE, ai_context(), {"text": text}, 10, 0)
    assert result.outcome == "ok" and result.data == {"flagged": False, "categories": [], "source": "offline"}


async def test_moderate_uses_the_bots_own_blocked_words(ai_context) -> None:  # type: ignore[no-untyped-def]
    ctx = ai_context(blocked_words=["competitor ltd", "scam*"])
    assert (await call(MODERATE, ctx, {"text": "Competitor Ltd is cheaper"}, 10, 0)).data["categories"] == ["blocked"]
    assert (await call(MODERATE, ctx, {"text": "this is a scammer"}, 10, 0)).outcome == "flagged"
    assert (await call(MODERATE, ctx, {"text": "good price"}, 10, 0)).outcome == "ok"


# ----- classification


@pytest.mark.parametrize(("text", "intent"), [
    ("I want to buy maize", "buy"),
    ("I would like to sell 20 bags of beans", "sell"),
    ("where is my order HB-123?", "track"),
    ("help me please", "help"),
])
async def test_classify_picks_the_intent_with_a_confidence(ai_context, text, intent) -> None:  # type: ignore[no-untyped-def]
    result = await call(CLASSIFY, ai_context(), {"text": text, "intents": INTENTS}, 10, 0)
    assert result.outcome == intent
    assert result.data["intent"] == intent and result.data["source"] == "offline"
    assert 0.5 <= result.data["confidence"] <= 1


async def test_classify_answers_unknown_below_the_threshold(ai_context) -> None:  # type: ignore[no-untyped-def]
    weather = await call(CLASSIFY, ai_context(), {"text": "what is the weather tomorrow", "intents": INTENTS}, 10, 0)
    assert weather.outcome == "unknown" and weather.data["confidence"] < 0.5
    ambiguous = await call(CLASSIFY, ai_context(), {"text": "has my order shipped", "intents": INTENTS}, 10, 0)
    assert ambiguous.outcome == "unknown" and ambiguous.data["guess"] == "track"
    lenient = await call(CLASSIFY, ai_context(), {"text": "has my order shipped", "intents": INTENTS, "threshold": 0.4}, 10, 0)
    assert lenient.outcome == "track"
    assert 0.4 <= lenient.data["confidence"] == ambiguous.data["confidence"] < 0.5


async def test_classify_refuses_malformed_intents(ai_context) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ActionError, match="not an intent name"):
        await call(CLASSIFY, ai_context(), {"text": "x", "intents": [{"name": "unknown", "examples": ["x"]}]}, 10, 0)
    with pytest.raises(ActionError, match="needs `examples`"):
        await call(CLASSIFY, ai_context(), {"text": "x", "intents": [{"name": "buy"}]}, 10, 0)


# ----- FAQ answers


@pytest.mark.parametrize(("lang", "question", "cited", "starts"), [
    ("en", "What time do you open on Saturday?", "opening-hours", "The market is open"),
    ("en", "how much is delivery", "delivery", "We deliver within 24 hours"),
    ("it", "Quanto costa la consegna a Nairobi?", "delivery", "Consegniamo entro 24 ore"),
    ("it", "Posso pagare con M-Pesa?", "payment", "Si paga con M-Pesa"),
    ("sw", "delivery costs?", "delivery", "We deliver"),  # no Swahili entries: the FAQ's fallback, English
])
async def test_answer_returns_the_best_entry_with_its_citation(ai_context, lang, question, cited, starts) -> None:  # type: ignore[no-untyped-def]
    result = await call(ANSWER, ai_context(lang), {"question": question}, 10, 0)
    assert result.outcome == "answered"
    assert result.data["citations"] == [cited]
    assert result.data["answer"].startswith(starts)
    assert 0.35 <= result.data["confidence"] <= 1 and result.data["source"] == "offline"


@pytest.mark.parametrize(("lang", "question"), [("en", "What is the capital of France?"), ("it", "Chi ha vinto la partita ieri?")])
async def test_answer_is_unknown_for_an_unrelated_question(ai_context, lang, question) -> None:  # type: ignore[no-untyped-def]
    result = await call(ANSWER, ai_context(lang), {"question": question}, 10, 0)
    assert result.outcome == "unknown"
    assert result.data["citations"] == [] and result.data["confidence"] < 0.35


async def test_answers_are_cached_per_faq_version(ai_context, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    faq = tmp_path / "faq.yaml"
    faq.write_text('entries:\n  - {id: hours, question: {en: "When are you open?"}, answer: {en: From 8 to 6.}}\n')
    first = await call(ANSWER, ai_context(), {"question": "When are you open?", "faq": str(faq)}, 10, 0)
    again = await call(ANSWER, ai_context(), {"question": "  when ARE you open ", "faq": str(faq)}, 10, 0)
    assert (first.data["cached"], again.data["cached"]) == (False, True)
    assert again.data["answer"] == first.data["answer"] == "From 8 to 6."
    faq.write_text('entries:\n  - {id: hours, question: {en: "When are you open?"}, answer: {en: From 9 to 5 now.}}\n')
    edited = await call(ANSWER, ai_context(), {"question": "When are you open?", "faq": str(faq)}, 10, 0)
    assert edited.data == {**edited.data, "answer": "From 9 to 5 now.", "cached": False}


async def test_answer_can_moderate_the_question(ai_context) -> None:  # type: ignore[no-untyped-def]
    args = {"question": "when are you open, you bastard", "moderate": True}
    assert (await call(ANSWER, ai_context(), args, 10, 0)).outcome == "unsafe"


async def test_a_broken_faq_is_an_error(ai_context, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    faq = tmp_path / "faq.yaml"
    faq.write_text('entries:\n  - {id: a, question: "Q?", answer: A.}\n  - {id: a, question: "Q2?", answer: B.}\n')
    with pytest.raises(ActionError, match="the id 'a' is used twice"):
        await call(ANSWER, ai_context(), {"question": "Q?", "faq": str(faq)}, 10, 0)
    with pytest.raises(ActionError, match="no FAQ file"):
        await call(ANSWER, ai_context(), {"question": "Q?", "faq": str(tmp_path / "missing.yaml")}, 10, 0)


def test_the_faq_example_in_the_docs_reads() -> None:
    import re

    from actions.ai.faq import parse_faq
    from engine.flow._yaml import load

    doc = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    block = re.search(r"^```yml\n(# flows/market/faq.yaml.*?)^```", doc, re.DOTALL | re.MULTILINE)
    assert block is not None
    entries, fallback = parse_faq(load(block.group(1)).data)
    assert [(e.id, e.lang) for e in entries] == [("delivery", "en"), ("delivery", "it")] and fallback == {"sw": "en"}
