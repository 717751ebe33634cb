"""Sending over real HTTP to ChatwootFake: Chatwoot's create-message request, errors mapped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _chatwoot_cases import api_channel_message, fixture, request
from fakes.chatwoot import ChatwootFake

from engine.channels.base import SendError
from engine.channels.chatwoot import ChatwootAdapter
from engine.messages import Button, Media, Outbound, Row, Template

TOKEN = "agent-bot-token"


@pytest.fixture
async def fake() -> AsyncIterator[ChatwootFake]:
    async with ChatwootFake(TOKEN) as server:
        yield server


@pytest.fixture
async def adapter(fake: ChatwootFake) -> AsyncIterator[ChatwootAdapter]:
    chatwoot = ChatwootAdapter(fake.url, TOKEN)
    chatwoot.parse(request(api_channel_message(sender={"id": 42, "type": "contact", "name": "Ada"},
                                               conversation={"id": 77, "inbox_id": 3},
                                               account={"id": 5, "name": "Shop"})))
    yield chatwoot
    await chatwoot.close()


async def test_a_reply_goes_to_the_conversation_parse_saw(fake: ChatwootFake, adapter: ChatwootAdapter) -> None:
    result = await adapter.send(Outbound(to="42", text="Karibu!"))
    [received] = fake.messages
    assert (received.account_id, received.conversation_id, received.token) == ("5", "77", TOKEN)
    assert received.body == {"content": "Karibu!", "message_type": "outgoing", "private": False}
    assert fake.requests == [("POST", "/api/v1/accounts/5/conversations/77/messages")]
    assert result.provider_id == "1001"


async def test_choices_are_an_input_select_like_the_docs_sample(fake: ChatwootFake, adapter: ChatwootAdapter) -> None:
    out = Outbound(to="42", kind="buttons", text="Select one of the items below",
                   buttons=(Button("Option 1", "Option1"), Button("Option 2", "Option2")))
    await adapter.send(out)
    sample = fixture("create_message_input_select_request.json")
    assert fake.messages[0].body == {**sample, "message_type": "outgoing"}


async def test_a_list_is_an_input_select_of_its_rows(fake: ChatwootFake, adapter: ChatwootAdapter) -> None:
    out = Outbound(to="42", kind="list", header="Markets", text="Pick one", list_button="Choose",
                   rows=(Row("ars", "Arusha", "North"), Row("dar", "Dar es Salaam"), Row("flowbot:more", "More")))
    await adapter.send(out)
    body = fake.messages[0].body
    assert body["content"] == "Markets\n\nPick one" and body["content_type"] == "input_select"
    assert body["content_attributes"]["items"] == [{"title": "Arusha", "value": "ars"},
                                                   {"title": "Dar es Salaam", "value": "dar"},
                                                   {"title": "More", "value": "flowbot:more"}]


async def test_media_goes_as_caption_and_link(fake: ChatwootFake, adapter: ChatwootAdapter) -> None:
    await adapter.send(Outbound(to="42", kind="media",
                                media=Media(kind="image", link="https://cdn.example.com/a.jpg", caption="Receipt")))
    assert fake.messages[0].body["content"] == "Receipt\nhttps://cdn.example.com/a.jpg"


async def test_a_template_carries_its_params_and_fallback_text(fake: ChatwootFake, adapter: ChatwootAdapter) -> None:
    out = Outbound(to="42", kind="template", template=Template("order_update", "en", ("Ada", "3")),
                   fallback_text="Hi Ada, order 3 shipped")
    await adapter.send(out)
    assert fake.messages[0].body == {
        "content": "Hi Ada, order 3 shipped", "message_type": "outgoing", "private": False,
        "template_params": {"name": "order_update", "language": "en",
                            "processed_params": {"body": {"1": "Ada", "2": "3"}}}}


async def test_an_explicit_conversation_wins(fake: ChatwootFake, adapter: ChatwootAdapter) -> None:
    await adapter.send(Outbound(to="42", text="hi"), conversation_id=99)
    await adapter.send(Outbound(to="someone-else", text="hi"), conversation_id="12", account_id=8)
    assert [(m.account_id, m.conversation_id) for m in fake.messages] == [("5", "99"), ("8", "12")]


async def test_the_latest_conversation_of_a_user_is_used(fake: ChatwootFake, adapter: ChatwootAdapter) -> None:
    adapter.parse(request(api_channel_message(sender={"id": 42, "type": "contact"}, conversation={"id": 78},
                                              account={"id": 5})))
    await adapter.send(Outbound(to="42", text="hi"))
    assert fake.messages[0].conversation_id == "78"


async def test_an_unknown_conversation_is_refused_without_a_request(fake: ChatwootFake,
                                                                    adapter: ChatwootAdapter) -> None:
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to="7", text="hi"))
    assert not failed.value.retryable and fake.requests == []


async def test_a_default_account_needs_only_the_conversation(fake: ChatwootFake,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATWOOT_BASE_URL", fake.url)
    monkeypatch.setenv("CHATWOOT_API_ACCESS_TOKEN", TOKEN)
    chatwoot = ChatwootAdapter(account_id=3)
    try:
        await chatwoot.send(Outbound(to="7", text="hi"), conversation_id=1)
    finally:
        await chatwoot.close()
    assert (fake.messages[0].account_id, fake.messages[0].conversation_id) == ("3", "1")


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (503, True), (404, False),
                                                   (401, False), (422, False)])
async def test_errors_map_to_send_error(fake: ChatwootFake, adapter: ChatwootAdapter, status: int,
                                       retryable: bool) -> None:
    fake.fail_next(1, status, retry_after=3 if status == 429 else None)
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to="42", text="hi"))
    assert (failed.value.status, failed.value.retryable) == (status, retryable)
    assert failed.value.retry_after == (3.0 if status == 429 else None)
    await adapter.send(Outbound(to="42", text="again"))
    assert [m.body["content"] for m in fake.messages] == ["again"]


async def test_a_wrong_token_is_not_retried(fake: ChatwootFake) -> None:
    chatwoot = ChatwootAdapter(fake.url, "wrong")
    try:
        with pytest.raises(SendError) as failed:
            await chatwoot.send(Outbound(to="1", text="hi"), conversation_id=1, account_id=1)
    finally:
        await chatwoot.close()
    assert (failed.value.status, failed.value.retryable) == (401, False)
    assert "Invalid Access Token" in str(failed.value)


async def test_a_deleted_conversation_is_not_retried() -> None:
    async with ChatwootFake(TOKEN, conversations={"1"}) as fake:
        chatwoot = ChatwootAdapter(fake.url, TOKEN)
        try:
            await chatwoot.send(Outbound(to="1", text="hi"), conversation_id=1, account_id=1)
            with pytest.raises(SendError) as failed:
                await chatwoot.send(Outbound(to="1", text="hi"), conversation_id=2, account_id=1)
        finally:
            await chatwoot.close()
    assert (failed.value.status, failed.value.retryable) == (404, False)


async def test_an_unreachable_server_is_retryable() -> None:
    async with ChatwootFake(TOKEN) as gone:
        url = gone.url
    chatwoot = ChatwootAdapter(url, TOKEN)
    try:
        with pytest.raises(SendError) as failed:
            await chatwoot.send(Outbound(to="1", text="hi"), conversation_id=1, account_id=1)
    finally:
        await chatwoot.close()
    assert failed.value.retryable
