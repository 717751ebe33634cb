"""The ai plugin online: the real openai client, over real HTTP, against tests/fakes/openai.py."""

from __future__ import annotations

import json

import pytest
from fakes.openai import OpenAIFake
from openai import AsyncOpenAI

from engine.runtime.actions import ActionError, Plugins, call

PLUGINS = Plugins.load(["ai"])
EXTRACT, CLASSIFY = PLUGINS.actions["ai.extract"], PLUGINS.actions["ai.classify"]
MODERATE, ANSWER = PLUGINS.actions["ai.moderate"], PLUGINS.actions["ai.answer"]
INTENTS = [
    {"name": "buy", "examples": ["I want to buy", "purchase produce"]},
    {"name": "sell", "examples": ["I want to sell my harvest"], "description": "a farmer offering produce"},
]


def chat_bodies(fake: OpenAIFake) -> list[dict]:  # type: ignore[type-arg]
    return [r.body for r in fake.requests if r.path == "/v1/chat/completions"]


# ----- extraction


async def test_extract_asks_for_strict_structured_output_and_validates_the_answer(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.reply({"crop": "maize", "quantity": 20, "unit": "kg", "harvest_date": "2026-01-04", "location": None})
    result = await call(EXTRACT, ai_context(), {"text": "Nimevuna kilo 20 za mahindi jana", "schema": "harvest"}, 10, 0)
    assert result.outcome == "ok"
    assert result.data == {"crop": "maize", "quantity": 20, "unit": "kg", "harvest_date": "2026-01-04"}
    assert [r.path for r in openai_fake.requests] == ["/v1/moderations", "/v1/chat/completions"]
    assert {r.authorization for r in openai_fake.requests} == {f"Bearer {openai_fake.api_key}"}
    body = chat_bodies(openai_fake)[0]
    assert body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"] == "Nimevuna kilo 20 za mahindi jana"
    assert "today is 2026-01-05 (Monday)" in body["messages"][0]["content"]
    assert "maize, beans, tomatoes" in body["messages"][0]["content"]
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "harvest" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["required"] == ["crop", "quantity", "unit", "harvest_date", "location"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["location"]["type"] == ["string", "null"]
    assert "minLength" not in schema["properties"]["crop"]


async def test_extract_reports_missing_and_invalid_fields_of_the_models_answer(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.reply({"items": [{"product": "beans", "quantity": None, "unit": "kg"}], "delivery_date": None, "notes": None})
    result = await call(EXTRACT, ai_context(), {"text": "beans, soon", "schema": "order"}, 10, 0)
    assert result.outcome == "incomplete"
    assert result.data == {"partial": {"items": [{"product": "beans", "unit": "kg"}]}, "missing": ["items[0].quantity"],
                           "invalid": []}
    # keywords strict mode does not take (maxLength) are still checked on the answer
    schema = {"type": "object", "required": ["code"], "properties": {"code": {"type": "string", "maxLength": 6}}}
    openai_fake.reply({"code": "HB-7Q2K9-EXTRA"})
    long = await call(EXTRACT, ai_context(), {"text": "code HB-7Q2K9-EXTRA", "schema": schema}, 10, 0)
    assert long.outcome == "incomplete"
    assert long.data["missing"] == ["code"] and [i["path"] for i in long.data["invalid"]] == ["code"]
    assert "maxLength" not in chat_bodies(openai_fake)[1]["response_format"]["json_schema"]["schema"]["properties"]["code"]


async def test_extract_an_inline_schema_online(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    schema = {"title": "Parcel pickup!", "type": "object", "required": ["weight"],
              "properties": {"weight": {"type": "number"}, "fragile": {"type": "boolean"}}}
    openai_fake.reply({"weight": 4.5, "fragile": True})
    result = await call(EXTRACT, ai_context(), {"text": "4.5kg, fragile", "schema": schema, "moderate": False}, 10, 0)
    assert (result.outcome, result.data) == ("ok", {"weight": 4.5, "fragile": True})
    assert openai_fake.count("moderations") == 0
    assert chat_bodies(openai_fake)[0]["response_format"]["json_schema"]["name"] == "Parcel_pickup"


async def test_moderation_stops_extraction_before_the_model_sees_the_text(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.flag("kill", "violence")
    result = await call(EXTRACT, ai_context(), {"text": "20 kg maize or I kill you", "schema": "harvest"}, 10, 0)
    assert result.outcome == "unsafe"
    assert result.data == {"flagged": True, "categories": ["violence"], "source": "openai"}
    assert openai_fake.count("chat/completions") == 0


async def test_a_refusal_is_unsafe(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.refuse_next("I can't help with that.")
    result = await call(EXTRACT, ai_context(), {"text": "something odd", "schema": "product"}, 10, 0)
    assert result.outcome == "unsafe" and result.data["refusal"] == "I can't help with that."


# ----- moderation and classification


async def test_moderate_online(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.flag("idiot")
    flagged = await call(MODERATE, ai_context(), {"text": "You IDIOT"}, 10, 0)
    assert (flagged.outcome, flagged.data["categories"]) == ("flagged", ["harassment"])
    clean = await call(MODERATE, ai_context(blocked_words=["scam*"]), {"text": "fresh maize"}, 10, 0)
    assert clean.outcome == "ok" and clean.data["source"] == "openai"
    bot_word = await call(MODERATE, ai_context(blocked_words=["scam*"]), {"text": "a scammer"}, 10, 0)
    assert (bot_word.outcome, bot_word.data["categories"]) == ("flagged", ["blocked"])
    sent = [r.body for r in openai_fake.requests if r.path == "/v1/moderations"]
    assert sent[0] == {"model": "omni-moderation-latest", "input": "You IDIOT"}


async def test_classify_online_picks_the_models_intent_or_unknown_below_threshold(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.reply({"intent": "sell", "confidence": 0.92})
    sure = await call(CLASSIFY, ai_context(), {"text": "I have 20 bags of beans", "intents": INTENTS}, 10, 0)
    assert sure.outcome == "sell"
    assert sure.data == {"intent": "sell", "confidence": 0.92, "guess": "sell", "source": "openai"}
    openai_fake.reply({"intent": "buy", "confidence": 0.3})
    unsure = await call(CLASSIFY, ai_context(), {"text": "beans?", "intents": INTENTS}, 10, 0)
    assert (unsure.outcome, unsure.data["guess"], unsure.data["confidence"]) == ("unknown", "buy", 0.3)
    body = chat_bodies(openai_fake)[0]
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["intent"]["enum"] == ["buy", "sell", "unknown"]
    assert "- sell: a farmer offering produce" in body["messages"][0]["content"]
    assert "e.g. purchase produce" in body["messages"][0]["content"]


# ----- FAQ answers


async def test_answer_online_retrieves_composes_and_cites_in_two_languages(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.reply_when("delivery", {"answer": "Delivery is KES 200, free above KES 5,000.", "citations": ["delivery"]})
    openai_fake.reply_when("pagare", {"answer": "Con M-Pesa o in contanti alla consegna.", "citations": ["payment"]})
    en = await call(ANSWER, ai_context(), {"question": "How much does delivery cost?"}, 10, 0)
    assert en.outcome == "answered"
    assert en.data["answer"] == "Delivery is KES 200, free above KES 5,000."
    assert en.data["citations"] == ["delivery"] and en.data["lang"] == "en" and en.data["source"] == "openai"
    assert 0.35 <= en.data["confidence"] <= 1
    it = await call(ANSWER, ai_context("it"), {"question": "Come posso pagare?"}, 10, 0)
    assert (it.outcome, it.data["citations"], it.data["lang"]) == ("answered", ["payment"], "it")
    # the entries were embedded once, with the first question; then only questions are
    embeds = [r.body for r in openai_fake.requests if r.path == "/v1/embeddings"]
    assert len(embeds) == 2
    assert embeds[0]["input"][0] == "How much does delivery cost?" and len(embeds[0]["input"]) == 1 + 10
    assert embeds[1]["input"] == ["Come posso pagare?"]
    assert embeds[0]["model"] == "text-embedding-3-small"
    prompt = chat_bodies(openai_fake)[1]["messages"][0]["content"]
    assert '"it"' in prompt and "[payment]" in prompt and "Si paga con M-Pesa" in prompt
    cited = chat_bodies(openai_fake)[1]["response_format"]["json_schema"]["schema"]["properties"]["citations"]
    assert "payment" in cited["items"]["enum"]


async def test_answer_online_is_unknown_without_asking_the_model_when_nothing_matches(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    result = await call(ANSWER, ai_context(), {"question": "What is the capital of France?"}, 10, 0)
    assert result.outcome == "unknown" and result.data["confidence"] < 0.35
    assert openai_fake.count("embeddings") == 1 and openai_fake.count("chat/completions") == 0


async def test_answer_online_drops_citations_of_entries_it_was_not_given(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.reply({"answer": "", "citations": []})
    nothing = await call(ANSWER, ai_context(), {"question": "Do you deliver on Sunday?"}, 10, 0)
    assert nothing.outcome == "unknown"


async def test_a_cached_answer_makes_no_request(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.reply_when("refund", {"answer": "Report it within 24 hours with a photo.", "citations": ["returns"]})
    first = await call(ANSWER, ai_context(), {"question": "How do refunds work?"}, 10, 0)
    seen = len(openai_fake.requests)
    again = await call(ANSWER, ai_context(), {"question": "how do REFUNDS work"}, 10, 0)
    assert len(openai_fake.requests) == seen == 2  # one embeddings, one chat completion
    assert again.data == {**first.data, "cached": True}
    other_lang = await call(ANSWER, ai_context("it"), {"question": "How do refunds work?"}, 10, 0)
    assert other_lang.data["cached"] is False and len(openai_fake.requests) > seen


@pytest.mark.redis
async def test_answers_are_cached_in_redis_for_a_day(openai_fake, ai_context, redis_url: str, redis_prefix: str) -> None:  # type: ignore[no-untyped-def]
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    services = {"redis": client, "redis_prefix": redis_prefix}
    try:
        openai_fake.reply_when("open", {"answer": "Monday to Saturday, 8 to 18.", "citations": ["opening-hours"]})
        first = await call(ANSWER, ai_context(services=services), {"question": "When are you open?"}, 10, 0)
        seen = len(openai_fake.requests)
        again = await call(ANSWER, ai_context(services=services), {"question": "When are you open?"}, 10, 0)
        assert len(openai_fake.requests) == seen and again.data == {**first.data, "cached": True}
        keys = [k.decode() async for k in client.scan_iter(match=f"{redis_prefix}:ai:answer:*")]
        assert len(keys) == 1 and keys[0].startswith(f"{redis_prefix}:ai:answer:market:en:")
        assert 86_000 < await client.ttl(keys[0]) <= 86_400
        assert json.loads(await client.get(keys[0]))["data"]["citations"] == ["opening-hours"]
    finally:
        await client.aclose()


# ----- failures: the action raises, so the flow's on_error runs


@pytest.mark.parametrize("status", [500, 429])
async def test_a_server_error_raises_instead_of_falling_back(openai_fake, ai_context, status) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (EXTRACT, {"text": "20 kg maize", "schema": "harvest", "moderate": False}),
        (CLASSIFY, {"text": "I want to buy", "intents": INTENTS}),
        (MODERATE, {"text": "hello"}),
        (ANSWER, {"question": "When are you open?"}),
    ]
    for action, args in cases:
        openai_fake.fail_next(1, status)
        with pytest.raises(ActionError, match=f"Error code: {status}"):
            await call(action, ai_context(), args, 10, 0)
    openai_fake.fail_next(1, 500)  # the step's retries apply
    openai_fake.reply({"intent": "buy", "confidence": 0.9})
    assert (await call(CLASSIFY, ai_context(), {"text": "I want to buy", "intents": INTENTS}, 10, 1)).outcome == "buy"


async def test_a_slow_server_times_out(openai_fake, ai_context) -> None:  # type: ignore[no-untyped-def]
    openai_fake.delay(1.0)
    with pytest.raises(ActionError, match="Timeout|timed out"):
        await call(MODERATE, ai_context(timeout=0.2), {"text": "hello"}, 10, 0)


async def test_a_wrong_key_is_an_error(openai_fake, ai_context, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key")
    with pytest.raises(ActionError, match="AuthenticationError"):
        await call(MODERATE, ai_context(), {"text": "hello"}, 10, 0)


async def test_an_injected_client_is_used_without_an_environment_key(openai_fake, ai_context, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    async with AsyncOpenAI(api_key=openai_fake.api_key, base_url=openai_fake.url, max_retries=0) as client:
        openai_fake.reply({"intent": "sell", "confidence": 0.8})
        result = await call(CLASSIFY, ai_context(services={"openai": client}), {"text": "selling beans", "intents": INTENTS}, 10, 0)
    assert result.data["source"] == "openai" and result.outcome == "sell"


# ----- the fake holds requests to what the API requires


async def test_the_fake_refuses_what_the_api_refuses(openai_fake) -> None:  # type: ignore[no-untyped-def]
    import openai

    async with AsyncOpenAI(api_key=openai_fake.api_key, base_url=openai_fake.url, max_retries=0) as client:
        loose = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"],
                 "additionalProperties": False}
        with pytest.raises(openai.BadRequestError, match="'required' is required"):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": loose, "strict": True}})
        with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                                 response_format={"type": "json_object"})
        with pytest.raises(openai.BadRequestError, match="at least one message"):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[])
        openai_fake.reply({"a": 1})
        closed = {**loose, "required": ["a", "b"]}
        with pytest.raises(openai.InternalServerError, match="canned answer does not match"):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": closed, "strict": True}})
        plain = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert plain.choices[0].message.content == "OK" and plain.usage is not None
        vectors = await client.embeddings.create(model="text-embedding-3-small", input=["maize price", "maize prices"])
        floats = await client.embeddings.create(model="text-embedding-3-small", input="maize price", encoding_format="float")
        assert vectors.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)  # base64 decodes alike
        assert len(vectors.data[0].embedding) == 256 and vectors.usage.total_tokens == 4
