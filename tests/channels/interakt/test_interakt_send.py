"""Sending over real HTTP to InteraktFake. The request shape follows Interakt's public API docs
as described in the brief (no recorded exchange is available): it lives in one function,
`interakt_request`, so correcting it is a one-place change."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakes.interakt import InteraktFake

from engine.channels.base import SendError
from engine.channels.interakt import InteraktAdapter
from engine.messages import Button, Media, Outbound, Template

KEY = "dGVzdDo="


@pytest.fixture
async def fake() -> AsyncIterator[InteraktFake]:
    async with InteraktFake(KEY) as server:
        yield server


@pytest.fixture
async def adapter(fake: InteraktFake) -> AsyncIterator[InteraktAdapter]:
    interakt = InteraktAdapter(KEY, base_url=fake.url)
    yield interakt
    await interakt.close()


async def test_text(fake: InteraktFake, adapter: InteraktAdapter) -> None:
    result = await adapter.send(Outbound(to="919876543210", text="Namaste"))
    [received] = fake.messages
    assert received.authorization == f"Basic {KEY}"
    assert received.body == {"countryCode": "+91", "phoneNumber": "9876543210", "type": "Text",
                             "data": {"message": "Namaste"}}
    assert fake.requests == [("POST", "/v1/public/message/")] and result.provider_id


async def test_a_template(fake: InteraktFake, adapter: InteraktAdapter) -> None:
    await adapter.send(Outbound(to="254700000001", kind="template", template=Template("order_update", "en",
                                                                                       ("Ada", "3"))))
    assert fake.messages[0].body == {"countryCode": "+254", "phoneNumber": "700000001", "type": "Template",
                                     "template": {"name": "order_update", "languageCode": "en",
                                                  "bodyValues": ["Ada", "3"]}}


async def test_buttons_and_media_become_text(fake: InteraktFake, adapter: InteraktAdapter) -> None:
    await adapter.send(Outbound(to="919876543210", kind="buttons", text="Continue?",
                                buttons=(Button("y", "Yes"), Button("n", "No"))))
    await adapter.send(Outbound(to="919876543210", kind="media", media=Media(kind="image", link="https://x/y.jpg")))
    assert [m.body["data"]["message"] for m in fake.messages] == ["Continue?\n\n1. Yes\n2. No", "https://x/y.jpg"]


@pytest.mark.parametrize("to", ["", "abc", "+0"])
async def test_a_number_that_is_not_one_is_refused(fake: InteraktFake, adapter: InteraktAdapter, to: str) -> None:
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to=to, text="hi"))
    assert not failed.value.retryable and fake.requests == []


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (502, True), (400, False),
                                                   (403, False)])
async def test_errors_map_to_send_error(fake: InteraktFake, adapter: InteraktAdapter, status: int,
                                       retryable: bool) -> None:
    fake.fail_next(1, status, retry_after=4 if status == 429 else None)
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to="919876543210", text="hi"))
    assert (failed.value.status, failed.value.retryable) == (status, retryable)
    assert failed.value.retry_after == (4.0 if status == 429 else None)


async def test_a_200_with_result_false_is_a_failure(fake: InteraktFake, adapter: InteraktAdapter) -> None:
    fake.fail_next(1, 200, {"result": False, "message": "Template not found"})
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to="919876543210", text="hi"))
    assert not failed.value.retryable and "Template not found" in str(failed.value)


async def test_a_wrong_key_is_not_retried(fake: InteraktFake) -> None:
    interakt = InteraktAdapter("wrong", base_url=fake.url)
    try:
        with pytest.raises(SendError) as failed:
            await interakt.send(Outbound(to="919876543210", text="hi"))
    finally:
        await interakt.close()
    assert (failed.value.status, failed.value.retryable) == (401, False)


async def test_the_environment_configures_key_and_base_url(fake: InteraktFake,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERAKT_API_KEY", KEY)
    monkeypatch.setenv("INTERAKT_API_BASE_URL", fake.url)
    interakt = InteraktAdapter()
    try:
        await interakt.send(Outbound(to="919876543210", text="hi"))
    finally:
        await interakt.close()
    assert len(fake.messages) == 1


async def test_an_unreachable_server_is_retryable() -> None:
    async with InteraktFake(KEY) as gone:
        url = gone.url
    interakt = InteraktAdapter(KEY, base_url=url)
    try:
        with pytest.raises(SendError) as failed:
            await interakt.send(Outbound(to="919876543210", text="hi"))
    finally:
        await interakt.close()
    assert failed.value.retryable
