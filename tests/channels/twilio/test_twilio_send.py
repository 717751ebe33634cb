"""Sending over real HTTP to TwilioFake: exactly Twilio's Messages API request, errors mapped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from fakes.twilio import TwilioFake

from engine.channels.base import SendError
from engine.channels.twilio import TwilioAdapter
from engine.messages import Button, Media, Outbound, Row, Template

SID, TOKEN = "AC11111111111111111111111111111111", "secret-token"


@pytest.fixture
async def fake() -> AsyncIterator[TwilioFake]:
    async with TwilioFake(SID, TOKEN) as server:
        yield server


@pytest.fixture
async def adapter(fake: TwilioFake) -> AsyncIterator[TwilioAdapter]:
    twilio = TwilioAdapter(SID, TOKEN, from_number="+14155238886", base_url=fake.url,
                           content_sids={"order_update": "HX0123", "reminder:sw": "HXsw"})
    yield twilio
    await twilio.close()


async def test_text_is_a_form_post_with_basic_auth(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    result = await adapter.send(Outbound(to="491511234567", text="Habari!"))
    [received] = fake.messages
    assert received.fields == [("To", "whatsapp:+491511234567"), ("From", "whatsapp:+14155238886"),
                               ("Body", "Habari!")]
    assert (received.username, received.password) == (SID, TOKEN)
    assert received.content_type == "application/x-www-form-urlencoded"
    assert fake.requests == [("POST", f"/2010-04-01/Accounts/{SID}/Messages.json")]
    assert result.provider_id.startswith("SM") and result.raw["status"] == "queued"


async def test_buttons_become_numbered_text(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    out = Outbound(to="255700000001", kind="buttons", text="Which one?",
                   buttons=(Button("maize", "Maize"), Button("beans", "Beans")))
    await adapter.send(out)
    assert fake.messages[0].form["Body"] == "Which one?\n\n1. Maize\n2. Beans"


async def test_a_list_keeps_header_descriptions_and_footer(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    out = Outbound(to="255700000001", kind="list", text="Pick a market", header="Markets", footer="Prices today",
                   list_button="Choose", rows=(Row("ars", "Arusha", "North"), Row("dar", "Dar es Salaam"),
                                               Row("flowbot:more", "More")))
    await adapter.send(out)
    assert fake.messages[0].form["Body"] == (
        "*Markets*\n\nPick a market\n\n1. Arusha — North\n2. Dar es Salaam\n3. More\n\n_Prices today_")


async def test_media_goes_as_media_url_with_its_caption(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    out = Outbound(to="255700000001", kind="media",
                   media=Media(kind="image", link="https://cdn.example.com/cow.jpg", caption="Your cow"))
    await adapter.send(out)
    assert fake.messages[0].fields[2:] == [("MediaUrl", "https://cdn.example.com/cow.jpg"), ("Body", "Your cow")]


async def test_media_by_id_cannot_go_through_twilio(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to="255700000001", kind="media", media=Media(kind="image", id="123")))
    assert not failed.value.retryable and fake.requests == []


async def test_a_mapped_template_goes_as_content_sid_and_variables(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    out = Outbound(to="255700000001", kind="template", template=Template("order_update", "en", ("Ada", "3")),
                   fallback_text="Hi Ada, order 3 shipped")
    await adapter.send(out)
    form = fake.messages[0].form
    assert form["ContentSid"] == "HX0123" and "Body" not in form
    assert json.loads(form["ContentVariables"]) == {"1": "Ada", "2": "3"}


async def test_a_language_specific_content_sid_wins(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    await adapter.send(Outbound(to="255700000001", kind="template", template=Template("reminder", "sw")))
    assert fake.messages[0].form["ContentSid"] == "HXsw"


async def test_an_unmapped_template_sends_its_fallback_text(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    out = Outbound(to="255700000001", kind="template", template=Template("welcome", "en"), fallback_text="Welcome!")
    await adapter.send(out)
    assert fake.messages[0].form["Body"] == "Welcome!" and "ContentSid" not in fake.messages[0].form


async def test_an_unmapped_template_without_fallback_is_refused(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to="255700000001", kind="template", template=Template("welcome", "en")))
    assert not failed.value.retryable and fake.requests == []


async def test_a_messaging_service_replaces_from(fake: TwilioFake) -> None:
    twilio = TwilioAdapter(SID, TOKEN, messaging_service_sid="MG42", base_url=fake.url,
                           status_callback="https://bot.example.com/twilio/status")
    try:
        await twilio.send(Outbound(to="255700000001", text="hi"))
    finally:
        await twilio.close()
    assert fake.messages[0].fields == [("To", "whatsapp:+255700000001"), ("MessagingServiceSid", "MG42"),
                                       ("StatusCallback", "https://bot.example.com/twilio/status"), ("Body", "hi")]


async def test_settings_come_from_the_environment(fake: TwilioFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_API_BASE_URL", fake.url)
    twilio = TwilioAdapter(from_number="whatsapp:+14155238886")
    try:
        await twilio.send(Outbound(to="255700000001", text="hi"))
    finally:
        await twilio.close()
    assert fake.messages[0].form["From"] == "whatsapp:+14155238886"


def test_missing_credentials_are_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with pytest.raises(ValueError):
        TwilioAdapter(from_number="+1555")
    with pytest.raises(ValueError):
        TwilioAdapter(SID, TOKEN)  # no sender


@pytest.mark.parametrize(("status", "code", "retryable"), [
    (429, 20429, True), (500, 20500, True), (503, 20503, True),
    (400, 63016, False), (400, 21610, False), (400, 21211, False), (401, 20003, False),
])
async def test_twilio_errors_map_to_send_error(fake: TwilioFake, adapter: TwilioAdapter, status: int, code: int,
                                               retryable: bool) -> None:
    fake.fail_next(1, status, code)
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to="255700000001", text="hi"))
    assert (failed.value.status, failed.value.code, failed.value.retryable) == (status, code, retryable)
    await adapter.send(Outbound(to="255700000001", text="again"))  # the next one goes through
    assert [m.form["Body"] for m in fake.messages] == ["again"]


async def test_retry_after_is_passed_on(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    fake.fail_next(1, 429, retry_after=7)
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to="255700000001", text="hi"))
    assert failed.value.retry_after == 7.0 and failed.value.retryable


async def test_an_unsubscribed_user_is_not_retried(fake: TwilioFake, adapter: TwilioAdapter) -> None:
    fake.unsubscribed("+255700000001")
    with pytest.raises(SendError) as failed:
        await adapter.send(Outbound(to="255700000001", text="hi"))
    assert (failed.value.code, failed.value.retryable) == (21610, False)


async def test_a_wrong_token_is_not_retried(fake: TwilioFake) -> None:
    twilio = TwilioAdapter(SID, "wrong", from_number="+14155238886", base_url=fake.url)
    try:
        with pytest.raises(SendError) as failed:
            await twilio.send(Outbound(to="255700000001", text="hi"))
    finally:
        await twilio.close()
    assert (failed.value.status, failed.value.code, failed.value.retryable) == (401, 20003, False)


async def test_an_unreachable_server_is_retryable() -> None:
    async with TwilioFake(SID, TOKEN) as gone:
        url = gone.url
    twilio = TwilioAdapter(SID, TOKEN, from_number="+14155238886", base_url=url)
    try:
        with pytest.raises(SendError) as failed:
            await twilio.send(Outbound(to="255700000001", text="hi"))
    finally:
        await twilio.close()
    assert failed.value.retryable


async def test_a_slow_server_times_out_as_retryable(fake: TwilioFake) -> None:
    fake.delay(1.0)
    twilio = TwilioAdapter(SID, TOKEN, from_number="+14155238886", base_url=fake.url, timeout=0.1)
    try:
        with pytest.raises(SendError) as failed:
            await twilio.send(Outbound(to="255700000001", text="hi"))
    finally:
        await twilio.close()
    assert failed.value.retryable


async def test_a_shared_session_is_left_open(fake: TwilioFake) -> None:
    async with aiohttp.ClientSession() as session:
        twilio = TwilioAdapter(SID, TOKEN, from_number="+14155238886", base_url=fake.url, session=session)
        await twilio.send(Outbound(to="255700000001", text="hi"))
        await twilio.close()
        assert not session.closed
