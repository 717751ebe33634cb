"""The storage service as `flowbot serve` / `flowbot worker` build it: from the environment, each
WhatsApp bot downloading through its own adapter's Graph client (WHATSAPP_API_BASE_URL), and
the web app's media routes building theirs on DATABASE_URL when the host set none."""

from __future__ import annotations

from pathlib import Path

import _servers
import aiohttp
import pytest
from fakes.graph import GraphFake
from storage_support import BOT, PNG, SECRET, USER

from actions.storage import records
from actions.storage.backends import LocalBackend
from actions.storage.service import MediaStorage
from engine.deployment import Deployment
from engine.store.migrate import migrate
from engine.store.postgres import PostgresStore
from engine.testing.plugins import run_action
from engine.web import build_app

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_a_deployment_downloads_through_its_bots_graph_client_and_serves_from_the_environment(
        bot_dir: Path, tmp_path: Path, postgres_db: str, redis_url: str, redis_prefix: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    migrate(postgres_db)
    async with GraphFake() as graph:
        monkeypatch.setenv("WHATSAPP_API_BASE_URL", graph.url)
        monkeypatch.setenv("WHATSAPP_TOKEN", "token-of-the-bot")
        monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", "123")
        monkeypatch.setenv("DATABASE_URL", postgres_db)
        monkeypatch.setenv("FLOWBOT_MEDIA_DIR", str(tmp_path / "media"))
        monkeypatch.setenv("FLOWBOT_MEDIA_SECRET", SECRET)
        monkeypatch.delenv("FLOWBOT_MEDIA_S3_BUCKET", raising=False)
        deployment = Deployment.open([bot_dir], redis_url, redis_prefix)
        store = await PostgresStore.open(postgres_db, max_size=2)
        worker_side = MediaStorage.for_bots(store, deployment.bots)  # as engine/serve.py run_workers does
        try:
            assert isinstance(worker_side.backend, LocalBackend) and worker_side.backend.root == (tmp_path / "media").resolve()
            client = worker_side.sources[BOT]
            assert client is deployment.bots[BOT].adapter.client  # type: ignore[attr-defined]
            media_id = await client.upload_media(PNG, "image/png", "photo.png")
            async with _servers.serving(build_app(deployment)) as url:
                monkeypatch.setenv("FLOWBOT_PUBLIC_URL", url)
                worker_side.base_url = url
                saved = await run_action("storage.save", {"media_id": media_id}, services={"storage": worker_side},
                                         bot=BOT, user=USER)
                assert saved.outcome == "ok" and saved.data["url"].startswith(f"{url}/media/")
                assert ("GET", f"/v23.0/{media_id}", "Bearer token-of-the-bot") in graph.requests
                async with aiohttp.ClientSession() as http, http.get(saved.data["url"]) as got:
                    assert got.status == 200 and await got.read() == PNG  # the web app's own service, from env
                assert [r["outcome"] for r in await records.accesses(store.pool, saved.data["id"])] == ["granted"]

                # delete my data through the runtime's forgetters, as serve wires them
                deployment.bots[BOT].runtime.forgetters.append(worker_side.forget)
                await deployment.bots[BOT].runtime.forget(USER)
                async with aiohttp.ClientSession() as http, http.get(saved.data["url"]) as got:
                    assert got.status == 404
                assert list((tmp_path / "media").rglob("*.png")) == []
        finally:
            await worker_side.close()
            await store.close()
            await deployment.close()


async def test_without_a_secret_private_urls_are_refused_plainly(
        pg_store: PostgresStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.runtime.actions import ActionError

    monkeypatch.delenv("FLOWBOT_MEDIA_SECRET", raising=False)
    storage = MediaStorage(LocalBackend(tmp_path), pg_store)
    obj, _ = await records.insert(pg_store.pool, public_id="a" * 32, bot=BOT, user=USER, area="private",
                                  backend="local", key=f"private/{BOT}/{'b' * 32}/{'a' * 32}.png",
                                  content_type="image/png", size=1, sha256="c" * 64, media_id=None, url=None,
                                  idempotency_key="k")
    with pytest.raises(ActionError, match="FLOWBOT_MEDIA_SECRET"):
        await run_action("storage.url", {"id": obj.public_id}, services={"storage": storage}, bot=BOT, user=USER)


async def test_a_twilio_bot_fetches_its_media_urls_with_its_adapters_credentials(
        bot_dir: Path, tmp_path: Path, pg_store: PostgresStore, redis_url: str, redis_prefix: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As `flowbot worker` wires it: a bot on Twilio downloads the MediaUrl of its webhooks with
    its account (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN, TWILIO_API_BASE_URL)."""
    from fakes.twilio import TwilioFake

    async with TwilioFake() as twilio:
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", twilio.account_sid)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", twilio.auth_token)
        monkeypatch.setenv("TWILIO_API_BASE_URL", twilio.url)
        monkeypatch.setenv("FLOWBOT_MEDIA_DIR", str(tmp_path / "media"))
        monkeypatch.setenv("FLOWBOT_MEDIA_SECRET", SECRET)
        monkeypatch.delenv("FLOWBOT_MEDIA_S3_BUCKET", raising=False)
        (bot_dir / "bot.yaml").write_text((bot_dir / "bot.yaml").read_text()
                                          + 'channels:\n  provider: twilio\n  twilio: {from_number: "+14155238886"}\n')
        deployment = Deployment.open([bot_dir], redis_url, redis_prefix)
        worker_side = MediaStorage.for_bots(pg_store, deployment.bots)
        try:
            saved = await run_action("storage.save", {"url": twilio.add_media(PNG, "image/png")},
                                     services={"storage": worker_side}, bot=BOT, user=USER)
            assert saved.outcome == "ok" and saved.data["size"] == len(PNG)
            assert twilio.media_fetches[0][1] == deployment.bots[BOT].adapter.authorization  # type: ignore[attr-defined]
        finally:
            await worker_side.close()
            await deployment.close()
