"""The storage plugin against real servers: media downloaded from the Graph fake through the real
Graph client, stored in a local directory and in an S3 bucket (moto's server), recorded in a
real PostgreSQL, and served by flowbot's web app on loopback with signed, expiring URLs."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import _servers
import aiohttp
import pytest
from fakes.graph import GraphFake
from storage_support import BOT, JPEG, OTHER, PNG, SECRET, USER, Served, upload

from actions.storage import records
from actions.storage.service import MediaStorage
from engine.channels.whatsapp import GraphClient
from engine.clock import FakeClock
from engine.runtime.actions import ActionError, ActionResult
from engine.testing.plugins import run_action

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def save(storage: MediaStorage, user: str = USER, key: str | None = None, **args: Any) -> ActionResult:
    return await run_action("storage.save", args, services={"storage": storage}, bot=BOT, user=user,
                            idempotency_key=key)


async def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        return answer.status, await answer.read(), dict(answer.headers)


async def log_of(storage: MediaStorage, public_id: str | None = None) -> list[tuple[Any, ...]]:
    return [(row["public_id"], row["outcome"], row["ip"]) for row in await records.accesses(storage.pool, public_id)]


async def test_a_file_the_user_sent_is_downloaded_from_graph_checked_stored_and_recorded(
        storage: MediaStorage, graph: GraphFake, graph_client: GraphClient) -> None:
    media_id = await upload(graph_client, PNG, "image/png")
    result = await save(storage, media_id=media_id)
    assert result.outcome == "ok"
    data = result.data
    assert data["size"] == len(PNG) and data["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert data["area"] == "private" and data["content_type"] == "image/png"
    obj = await records.by_public_id(storage.pool, data["id"])
    assert obj is not None
    assert (obj.bot, obj.user_id, obj.provider_media_id, obj.size, obj.sha256) == (
        BOT, USER, media_id, len(PNG), hashlib.sha256(PNG).hexdigest())
    assert await storage.backend.get(obj.object_key) == PNG
    assert USER not in obj.object_key and obj.object_key.startswith(f"private/{BOT}/") and obj.object_key.endswith(".png")
    # through Graph as Graph wants it: the media's URL, then the download, both with the bearer token
    assert [(m, p) for m, p, _ in graph.requests][-2:] == [("GET", f"/v23.0/{media_id}"), ("GET", f"/_fake/media/{media_id}")]
    assert all(auth == "Bearer token" for _, _, auth in graph.requests)


async def test_a_private_url_opens_the_file_until_it_expires_and_every_access_is_logged(
        served: Served, graph_client: GraphClient, clock: FakeClock) -> None:
    storage = served.storage
    stored = (await save(storage, media_id=await upload(graph_client, JPEG, "image/jpeg"))).data
    url = (await run_action("storage.url", {"id": stored["id"], "ttl": 60}, services={"storage": storage},
                            bot=BOT, user=USER)).data
    assert url["url"].startswith(f"{served.url}/media/") and url["expires_at"] >= clock.now() + 60

    status, body, headers = await get(url["url"])
    assert (status, body) == (200, JPEG)
    assert headers["Content-Type"] == "image/jpeg" and headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"] and "no-store" in headers["Cache-Control"]

    clock.advance(59)
    assert (await get(url["url"]))[0] == 200
    clock.advance(2)
    status, body, _ = await get(url["url"])
    assert status == 403 and body != JPEG
    assert await log_of(storage, stored["id"]) == [(stored["id"], "granted", "127.0.0.1"),
                                                   (stored["id"], "granted", "127.0.0.1"),
                                                   (stored["id"], "expired", "127.0.0.1")]
    rows = await records.accesses(storage.pool, stored["id"])
    assert {(r["bot"], r["user_id"], r["area"]) for r in rows} == {(BOT, USER, "private")}


async def test_a_tampered_or_foreign_token_is_refused_and_logged(served: Served, graph_client: GraphClient) -> None:
    storage = served.storage
    stored = (await save(storage, media_id=await upload(graph_client, PNG, "image/png"))).data
    good = stored["url"]
    token = good.rsplit("/", 1)[1]
    payload, signature = token.rsplit(".", 1)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]  # not the last: its low bits are padding
    from actions.storage.signing import UrlSigner

    other_secret = UrlSigner(["another-secret-0123456789abcdef"], storage.clock).sign(stored["id"], 60)[0]
    for bad in (f"{payload}.{flipped}", f"{payload}x.{signature}", other_secret, "not-a-token", good.rsplit("/", 1)[1] + "x"):
        status, body, _ = await get(f"{served.url}/media/{bad}")
        assert status == 403, bad
        assert body == b"forbidden"
    assert (await get(good))[0] == 200
    outcomes = [(public_id, outcome) for public_id, outcome, _ in await log_of(storage)]
    assert outcomes == [(None, "bad_signature")] * 5 + [(stored["id"], "granted")]


async def test_an_address_refused_too_often_is_throttled_with_one_row_a_minute(
        served: Served, graph_client: GraphClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guessing tokens: past FLOWBOT_MEDIA_REFUSED_PER_MINUTE refusals a minute, the address gets
    429 (Retry-After) before any lookup, even for a good link, and the access log gets one
    `throttled` row for the minute, not one per request."""
    monkeypatch.setenv("FLOWBOT_MEDIA_REFUSED_PER_MINUTE", "5")
    storage = served.storage
    stored = (await save(storage, media_id=await upload(graph_client, PNG, "image/png"))).data
    assert (await get(stored["url"]))[0] == 200  # granted requests are not counted
    for n in range(5):
        assert (await get(f"{served.url}/media/guess{n}.abc"))[0] == 403
    for url in (stored["url"], f"{served.url}/media/guess5.abc", f"{served.url}/media/public/{stored['id']}"):
        status, body, headers = await get(url)
        assert (status, body) == (429, b"too many requests") and 0 < int(headers["Retry-After"]) <= 60, url
    outcomes = [outcome for _, outcome, _ in await log_of(storage)]
    assert outcomes == ["granted"] + ["bad_signature"] * 5 + ["throttled"]


async def test_refusals_are_counted_per_address_and_redis_away_throttles_nothing(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    from engine.web.media import RefusalLimit

    client = aioredis.Redis.from_url(redis_url)
    limit = RefusalLimit(client, redis_prefix, per_minute=2)
    try:
        for _ in range(2):
            assert await limit.wait("10.0.0.1") is None
            await limit.refused("10.0.0.1")
        seconds, first = await limit.wait("10.0.0.1") or (0, False)
        assert 0 < seconds <= 60 and first
        _, again = await limit.wait("10.0.0.1") or (0, True)
        assert again is False  # a row only for the first one turned away
        assert await limit.wait("10.0.0.2") is None
        assert await limit.wait(None) is None
    finally:
        await client.aclose()
    away = aioredis.Redis(host="127.0.0.1", port=_servers.free_port(), socket_connect_timeout=0.2)
    assert await RefusalLimit(away, redis_prefix, per_minute=1).wait("10.0.0.1") is None
    await away.aclose()


async def test_a_key_rotation_keeps_old_urls_working_and_signs_with_the_new_secret(clock: FakeClock) -> None:
    from actions.storage.signing import TokenRefused, UrlSigner

    old = UrlSigner([SECRET], clock)
    rotated = UrlSigner([SECRET, "the-new-secret-0123456789abcdef"], clock)
    token, _ = old.sign("a" * 32, 30)
    assert rotated.verify(token) == "a" * 32
    fresh, _ = rotated.sign("b" * 32, 30)
    with pytest.raises(TokenRefused):
        old.verify(fresh)


async def test_public_files_have_a_plain_url_private_ones_never_do(served: Served, graph_client: GraphClient) -> None:
    storage = served.storage
    public = (await save(storage, media_id=await upload(graph_client, PNG, "image/png"), area="public")).data
    private = (await save(storage, media_id=await upload(graph_client, JPEG, "image/jpeg"))).data
    assert public["url"] == f"{served.url}/media/public/{public['id']}" and public["expires_at"] is None
    status, body, headers = await get(public["url"])
    assert (status, body) == (200, PNG) and "public" in headers["Cache-Control"]
    assert (await get(f"{served.url}/media/public/{private['id']}"))[0] == 404  # a private file by its id: no
    assert (await get(f"{served.url}/media/public/{'0' * 32}"))[0] == 404
    outcomes = [(public_id, outcome) for public_id, outcome, _ in await log_of(storage)]
    assert outcomes == [(public["id"], "granted"), (private["id"], "missing"), ("0" * 32, "missing")]


async def test_too_large_or_wrong_type_takes_the_refused_branch_and_stores_nothing(
        storage: MediaStorage, graph_client: GraphClient) -> None:
    big = await upload(graph_client, PNG, "image/png")
    refused = await save(storage, media_id=big, max_size=100)
    assert refused.outcome == "refused" and refused.data["reason"] == "too_large" and refused.data["max_size"] == 100
    gif = await upload(graph_client, b"GIF89a" + bytes(50), "image/gif")
    assert (await save(storage, media_id=gif)).data["reason"] == "wrong_type"  # not in the default types
    assert (await save(storage, media_id=gif, types=["image/*"])).outcome == "ok"
    pdf = await upload(graph_client, b"%PDF-1.7\n" + bytes(50), "application/pdf")
    assert (await save(storage, media_id=pdf, types=["image/*"])).data["reason"] == "wrong_type"
    # a file whose bytes are not what it claims to be: HTML said to be a PNG is not kept
    lie = await upload(graph_client, b"<html><script>alert(1)</script></html>", "image/png")
    assert (await save(storage, media_id=lie)).data["reason"] == "wrong_type"
    gone = await save(storage, media_id="1234567890")  # unknown (or expired) media id
    assert gone.outcome == "refused" and gone.data["reason"] == "not_found"
    async with storage.pool.connection() as conn:
        rows = await (await conn.execute("SELECT content_type FROM media_objects")).fetchall()
    assert rows == [("image/gif",)]


async def test_settings_set_the_limits_of_a_bot(storage: MediaStorage, graph_client: GraphClient) -> None:
    media_id = await upload(graph_client, PNG, "image/png")
    result = await run_action("storage.save", {"media_id": media_id}, services={"storage": storage}, bot=BOT,
                              settings={"storage": {"max_size": 200, "allowed_types": ["image/png"]}})
    assert result.outcome == "refused" and result.data == {"reason": "too_large", "max_size": 200, "types": ["image/png"]}


async def test_the_download_stops_at_the_limit_even_when_graph_says_nothing_of_the_size(
        graph: GraphFake, graph_client: GraphClient) -> None:
    from engine.channels.whatsapp import MediaTooLarge

    media_id = await upload(graph_client, PNG, "image/png")
    url, _, _ = await graph_client.media_url(media_id)
    with pytest.raises(MediaTooLarge):
        await graph_client.download(url, max_bytes=len(PNG) - 1)
    assert await graph_client.download(url, max_bytes=len(PNG)) == PNG


async def test_a_retried_turn_stores_once(storage: MediaStorage, graph: GraphFake, graph_client: GraphClient) -> None:
    media_id = await upload(graph_client, PNG, "image/png")
    first = await save(storage, key="turn-1", media_id=media_id)
    asked = len(graph.requests)
    again = await save(storage, key="turn-1", media_id=media_id)
    assert again.data["id"] == first.data["id"] and again.data["sha256"] == first.data["sha256"]
    assert len(graph.requests) == asked  # nothing downloaded again
    other_turn = await save(storage, key="turn-2", media_id=media_id)
    assert other_turn.data["id"] != first.data["id"]
    assert len(await records.of_user(storage.pool, BOT, USER)) == 2


async def test_graph_down_fails_the_action_so_retries_and_on_error_apply(
        storage: MediaStorage, graph: GraphFake, graph_client: GraphClient) -> None:
    media_id = await upload(graph_client, PNG, "image/png")
    graph.fail_next(1, 500)
    with pytest.raises(ActionError, match="unexpected error"):
        await save(storage, key="turn-1", media_id=media_id)
    assert await records.of_user(storage.pool, BOT, USER) == []
    assert (await save(storage, key="turn-1", media_id=media_id)).outcome == "ok"  # the retry works


async def test_urls_and_deletes_only_reach_the_users_own_files(served: Served, graph_client: GraphClient) -> None:
    storage = served.storage
    stored = (await save(storage, media_id=await upload(graph_client, PNG, "image/png"))).data
    theirs = await run_action("storage.url", {"id": stored["id"]}, services={"storage": storage}, bot=BOT, user=OTHER)
    assert theirs.outcome == "missing"
    assert (await run_action("storage.delete", {"id": stored["id"]}, services={"storage": storage}, bot=BOT,
                             user=OTHER)).outcome == "missing"
    obj = await records.by_public_id(storage.pool, stored["id"])
    assert obj is not None
    deleted = await run_action("storage.delete", {"id": stored["id"]}, services={"storage": storage}, bot=BOT, user=USER)
    assert deleted.outcome == "ok"
    assert await storage.backend.get(obj.object_key) is None
    assert await records.by_public_id(storage.pool, stored["id"]) is None
    assert (await get(stored["url"]))[0] == 404  # a URL made before the delete finds nothing


async def test_forgetting_a_user_removes_their_files_rows_and_access_log_only(
        served: Served, graph_client: GraphClient) -> None:
    storage = served.storage
    mine = [(await save(storage, media_id=await upload(graph_client, PNG, "image/png"), area=area)).data
            for area in ("private", "public")]
    theirs = (await save(storage, user=OTHER, media_id=await upload(graph_client, JPEG, "image/jpeg"))).data
    for item in (*mine, theirs):
        assert (await get(item["url"]))[0] == 200
    keys = [o.object_key for o in await records.of_user(storage.pool, BOT, USER)]

    counts = await storage.forget(BOT, USER)

    assert counts == {"files": 2, "media_objects": 2, "media_access_log": 2}
    for key in keys:
        assert await storage.backend.get(key) is None
    assert await records.of_user(storage.pool, BOT, USER) == []
    assert [p for p, _, _ in await log_of(storage)] == [theirs["id"]]
    assert (await get(mine[0]["url"]))[0] == 404 and (await get(theirs["url"]))[0] == 200
    async with storage.pool.connection() as conn:
        audit = await (await conn.execute("SELECT subject, details FROM audit_log WHERE action = 'forget_media'")).fetchall()
    assert len(audit) == 1 and USER not in str(audit[0])


async def test_the_access_log_is_append_only(served: Served, graph_client: GraphClient) -> None:
    import psycopg

    storage = served.storage
    stored = (await save(storage, media_id=await upload(graph_client, PNG, "image/png"))).data
    await get(stored["url"])
    async with storage.pool.connection() as conn:
        with pytest.raises(psycopg.errors.RestrictViolation):
            await conn.execute("UPDATE media_access_log SET outcome = 'expired'")
        with pytest.raises(psycopg.errors.RestrictViolation):
            await conn.execute("DELETE FROM media_access_log")


async def test_a_url_source_must_be_on_an_allowed_host(served: Served, graph_client: GraphClient) -> None:
    storage = served.storage
    public = (await save(storage, media_id=await upload(graph_client, PNG, "image/png"), area="public")).data
    with pytest.raises(ActionError, match="url_hosts"):
        await save(storage, url=public["url"])
    copied = await run_action("storage.save", {"url": public["url"]}, services={"storage": storage}, bot=BOT,
                              user=USER, settings={"storage": {"url_hosts": ["127.0.0.1"]}})
    assert copied.outcome == "ok" and copied.data["sha256"] == public["sha256"] and copied.data["area"] == "private"
    with pytest.raises(ActionError, match="exactly one"):
        await save(storage, url=public["url"], media_id="1")


def test_the_token_format_is_compact_and_url_safe(clock: FakeClock) -> None:
    from actions.storage.signing import UrlSigner

    token, _ = UrlSigner([SECRET], clock).sign("f" * 32, 300)
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", token) and len(token) < 120


async def test_a_file_sent_through_twilio_is_fetched_with_the_accounts_credentials_and_only_there(
        storage: MediaStorage) -> None:
    """A Twilio bot's MediaUrl: fetched with the account's basic auth (Twilio requires it), its
    redirect to the signed media URL followed without it; no url_hosts needed for the account's
    own media. Another account's URL is refused by Twilio (the action fails: on_error); a
    too-large file is refused through the redirect; a URL elsewhere still needs url_hosts."""
    from fakes.twilio import TwilioFake

    from actions.storage.sources import TwilioMedia
    from engine.channels.twilio import TwilioAdapter

    async with TwilioFake() as twilio:
        adapter = TwilioAdapter(twilio.account_sid, twilio.auth_token, from_number="+14155238886", base_url=twilio.url)
        storage.twilio = {BOT: TwilioMedia(adapter.base_url, adapter.authorization)}
        saved = await save(storage, url=twilio.add_media(PNG, "image/png"))
        assert saved.outcome == "ok" and saved.data["sha256"] == hashlib.sha256(PNG).hexdigest()
        assert [(path.split("/")[-2], auth) for path, auth in twilio.media_fetches] == \
            [("Media", adapter.authorization), ("media-cdn", "")]  # the credentials stay with Twilio
        too_big = await save(storage, url=twilio.add_media(PNG, "image/png"), max_size=100)
        assert too_big.outcome == "refused" and too_big.data["reason"] == "too_large"
        foreign = twilio.add_media(PNG, "image/png").replace(twilio.account_sid, "AC" + "1" * 32)
        with pytest.raises(ActionError, match="401"):
            await save(storage, url=foreign)
        storage.twilio = {}  # a bot on another channel: the same URL is just a URL, on no allowed host
        with pytest.raises(ActionError, match="url_hosts"):
            await save(storage, url=twilio.add_media(PNG, "image/png"))
