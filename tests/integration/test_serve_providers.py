"""The same bot behind Twilio and behind Chatwoot: only its manifest's `channels` changes.

A real `flowbot serve` process on loopback, real Redis, and each provider's fake receiving the
replies in that provider's own format.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from engine.channels.twilio import twilio_signature
from fakes.chatwoot import ChatwootFake, signed_headers
from fakes.twilio import TwilioFake

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]

MAIN = """\
flow: main
start: menu
steps:
  menu:
    ask: What would you like?
    choices: [{id: fruit, title: Fruit}, {id: veg, title: Vegetables}]
    into: pick
    next: done
  done:
    say: "Good choice: {{ slots.pick }}."
    end: true
"""


def write_bot(root: Path, channels: str) -> Path:
    bot = root / "flows" / "grocer"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text(f"bot: grocer\nstart: main\nlanguages: [en]\n{channels}")
    (bot / "main.yaml").write_text(MAIN)
    (root / "locales" / "grocer").mkdir(parents=True)
    (root / "locales" / "grocer" / "en.yaml").write_text("{}\n")
    return bot


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_server(bot: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", str(bot), "--port", str(port), "--with-worker",
                             "--prefix", env["PREFIX"]], cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start: " + log.read_text()[-3000:])


async def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


@pytest.fixture
async def twilio(tmp_path: Path, redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[str, str, TwilioFake]]:
    fake = TwilioFake(auth_token="twilio-token")
    await fake.start()
    port = free_port()
    public = f"https://bots.example.com/webhooks/twilio/grocer"
    bot = write_bot(tmp_path, f"channels:\n  provider: twilio\n  twilio: {{from_number: '+14155238886', public_url: '{public}'}}\n")
    env = {"REDIS_URL": redis_url, "PREFIX": redis_prefix, "TWILIO_ACCOUNT_SID": fake.account_sid, "TWILIO_AUTH_TOKEN": "twilio-token",
           "TWILIO_API_BASE_URL": fake.url, "FLOWBOT_LOG_LEVEL": "warning"}
    proc = await start_server(bot, env, port, tmp_path / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}", public, fake
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)  # the fakes answer from this event loop: do not block it
        await fake.stop()


async def post_twilio(base: str, public: str, params: dict[str, str], token: str = "twilio-token") -> int:
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": twilio_signature(public, params, token)}
    async with aiohttp.ClientSession() as http, http.post(f"{base}/webhooks/twilio/grocer", data=urlencode(params), headers=headers) as r:
        return r.status


async def test_twilio_in_and_out(twilio) -> None:  # type: ignore[no-untyped-def]
    base, public, fake = twilio
    user = "1415" + str(uuid.uuid4().int)[:7]
    first = {"From": f"whatsapp:+{user}", "To": "whatsapp:+14155238886", "Body": "hi", "MessageSid": "SM" + uuid.uuid4().hex,
             "AccountSid": fake.account_sid, "NumMedia": "0", "ProfileName": "Amina"}
    assert await post_twilio(base, public, first) == 200
    assert await post_twilio(base, public, first) == 200  # redelivered: answered once
    menu = await wait_for(lambda: [m for m in fake.messages if m.form.get("To") == f"whatsapp:+{user}"])
    assert menu[0].form["From"] == "whatsapp:+14155238886"
    assert "What would you like?" in menu[0].form["Body"] and "1" in menu[0].form["Body"] and "Vegetables" in menu[0].form["Body"]
    second = {**first, "Body": "2", "MessageSid": "SM" + uuid.uuid4().hex}
    assert await post_twilio(base, public, second) == 200
    done = await wait_for(lambda: [m for m in fake.messages if m.form.get("To") == f"whatsapp:+{user}"][1:])
    assert done[0].form["Body"] == "Good choice: veg."
    assert len([m for m in fake.messages if m.form.get("To") == f"whatsapp:+{user}"]) == 2
    assert await post_twilio(base, public, {**first, "MessageSid": "SMforged"}, token="wrong") == 403


@pytest.fixture
async def chatwoot(tmp_path: Path, redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[str, ChatwootFake]]:
    fake = ChatwootFake(token="cw-token")
    await fake.start()
    port = free_port()
    bot = write_bot(tmp_path, "channels:\n  provider: chatwoot\n  chatwoot: {account_id: 1}\n")
    env = {"REDIS_URL": redis_url, "PREFIX": redis_prefix, "CHATWOOT_BASE_URL": fake.url, "CHATWOOT_API_ACCESS_TOKEN": "cw-token",
           "CHATWOOT_WEBHOOK_SECRET": "cw-secret", "FLOWBOT_LOG_LEVEL": "warning"}
    proc = await start_server(bot, env, port, tmp_path / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}", fake
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)  # the fakes answer from this event loop: do not block it
        await fake.stop()


def chatwoot_event(contact: int, conversation: int, content: str, message_type: str = "incoming", private: bool = False) -> bytes:
    fixture = json.loads((ROOT / "tests" / "fixtures" / "chatwoot" / "message_created_api_channel_callback.json").read_text())
    fixture.update(id=int(time.time() * 1000) % 10**9 + conversation, content=content, message_type=message_type, private=private)
    fixture["sender"]["id"] = contact
    fixture["conversation"]["id"] = conversation
    return json.dumps(fixture).encode()


async def post_chatwoot(base: str, body: bytes, secret: str = "cw-secret") -> int:
    headers = {"content-type": "application/json", **signed_headers(secret, body)}
    async with aiohttp.ClientSession() as http, http.post(f"{base}/webhooks/chatwoot/grocer", data=body, headers=headers) as r:
        return r.status


async def test_chatwoot_replies_go_to_the_conversation_and_agents_are_ignored(chatwoot) -> None:  # type: ignore[no-untyped-def]
    base, fake = chatwoot
    contact, conversation = int(uuid.uuid4().int % 10**6), int(uuid.uuid4().int % 10**6)
    assert await post_chatwoot(base, chatwoot_event(contact, conversation, "hello")) == 200
    menu = await wait_for(lambda: [m for m in fake.messages if m.conversation_id == str(conversation)])
    assert menu[0].account_id == "1" and menu[0].token == "cw-token"
    assert menu[0].body["content_type"] == "input_select"
    assert [i["title"] for i in menu[0].body["content_attributes"]["items"]] == ["Fruit", "Vegetables"]
    assert await post_chatwoot(base, chatwoot_event(contact, conversation, "an agent note", message_type="outgoing")) == 200
    assert await post_chatwoot(base, chatwoot_event(contact, conversation, "private", private=True)) == 200
    assert await post_chatwoot(base, chatwoot_event(contact, conversation, "Fruit")) == 200
    done = await wait_for(lambda: [m for m in fake.messages if m.conversation_id == str(conversation)][1:])
    assert done[0].body["content"] == "Good choice: fruit."
    await asyncio.sleep(0.3)
    assert len([m for m in fake.messages if m.conversation_id == str(conversation)]) == 2  # quiet on agents' messages
    assert await post_chatwoot(base, chatwoot_event(contact, conversation, "forged"), secret="wrong") == 401
