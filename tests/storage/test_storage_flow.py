"""A flow saves a photo the user sent and answers with its URL; refusals and failures follow the
flow's branches; delete-my-data removes the files. Plus the keys: no way out of the media area."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest
from storage_support import (
    BOT,
    JPEG,
    PNG,
    USER,
    Served,
    bucket_keys,
    s3_backend,
    upload,
)

from actions.storage import records
from actions.storage.backends import BadKey, LocalBackend, object_key
from actions.storage.service import MediaStorage
from actions.storage.sources import Policy
from engine.channels.whatsapp import GraphClient
from engine.clock import FakeClock
from engine.flow.loader import load_bot
from engine.messages import Inbound, Media
from engine.runtime import MemoryStore, Runtime

MAIN = """\
flow: main
start: ask_photo
slots:
  photo: {}
  stored: {}
steps:
  ask_photo:
    ask: "Send a photo of your harvest."
    validate: {type: media, kinds: [image]}
    into: photo
    next: keep
  keep:
    action: storage.save
    with: {media_id: "{{ slots.photo.id }}", area: private, max_size: 1000}
    into: stored
    on: {ok: thanks, refused: too_big}
    on_error: {say: "Sorry, I could not keep it. Try again later.", next: ask_photo}
  thanks:
    say: "Kept ({{ slots.stored.size }} bytes): {{ slots.stored.url }}"
    end: true
  too_big:
    say: "That photo cannot be kept ({{ result.reason }}). Send a smaller one."
    next: ask_photo
"""

def write_flow(bot_dir: Path) -> None:
    (bot_dir / "main.yaml").write_text(MAIN)


def photo(media_id: str, message_id: str, size: int) -> Inbound:
    """An inbound image as the WhatsApp adapter normalizes it (the webhook's image.id is the media id)."""
    return Inbound(user=USER, kind="image", media=Media(kind="image", id=media_id, mime="image/png", size=size),
                   message_id=message_id)


def said(result: object) -> list[str]:
    return [o.text for o in result.outbound]  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_flow_keeps_a_photo_and_sends_a_url_that_opens_it(
        served: Served, bot_dir: Path, graph_client: GraphClient) -> None:
    write_flow(bot_dir)
    storage = served.storage
    rt = Runtime(load_bot(bot_dir), MemoryStore(), FakeClock(), services={"storage": storage})
    assert said(await rt.handle(Inbound(user=USER, text="hi", message_id="wamid.1"))) == ["Send a photo of your harvest."]

    big = await upload(graph_client, PNG, "image/png")  # 1032 bytes: over the step's max_size
    answer = said(await rt.handle(photo(big, "wamid.2", len(PNG))))
    assert answer[0] == "That photo cannot be kept (too_large). Send a smaller one."

    small = await upload(graph_client, JPEG, "image/jpeg")
    answer = said(await rt.handle(photo(small, "wamid.3", len(JPEG))))
    assert answer[0].startswith(f"Kept ({len(JPEG)} bytes): {served.url}/media/")
    url = answer[0].split(": ", 1)[1]
    async with aiohttp.ClientSession() as http, http.get(url) as got:
        assert got.status == 200 and await got.read() == JPEG

    # delete my data: the host's forgetter (engine/serve.py wires MediaStorage.forget) removes the file
    rt.forgetters.append(storage.forget)
    objects = await records.of_user(storage.pool, BOT, USER)
    await rt.forget(USER)
    assert await records.of_user(storage.pool, BOT, USER) == []
    assert [await storage.backend.get(o.object_key) for o in objects] == [None]
    async with aiohttp.ClientSession() as http, http.get(url) as got:
        assert got.status == 404


@pytest.mark.postgres
@pytest.mark.redis
async def test_graph_failing_follows_the_steps_on_error(served: Served, bot_dir: Path, graph_client: GraphClient,
                                                         graph: object) -> None:
    write_flow(bot_dir)
    rt = Runtime(load_bot(bot_dir), MemoryStore(), FakeClock(), services={"storage": served.storage})
    await rt.handle(Inbound(user=USER, text="hi", message_id="wamid.1"))
    media_id = await upload(graph_client, JPEG, "image/jpeg")
    graph.fail_next(1, 500)  # type: ignore[attr-defined]
    answer = said(await rt.handle(photo(media_id, "wamid.2", len(JPEG))))
    assert answer[0] == "Sorry, I could not keep it. Try again later."


def test_keys_are_made_by_flowbot_and_never_lead_outside_the_media_folder(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "media")
    good = object_key("private", "shop", USER, "a" * 32, "jpg")
    assert backend.path(good).is_relative_to(tmp_path / "media") and USER not in good
    for bad in ("../../etc/passwd", "/etc/passwd", "private/shop/../../../etc/passwd",
                f"private/shop/{'b' * 32}/../{'a' * 32}.jpg", f"private/shop/{'b' * 32}/{'a' * 32}.jpg/..",
                f"other/shop/{'b' * 32}/{'a' * 32}.jpg", f"private/shop/{'b' * 32}/{'a' * 32}.jpg\x00.png", ""):
        with pytest.raises(BadKey):
            backend.path(bad)
    for bot in ("..", "a/b", "a\\b", ""):
        with pytest.raises(BadKey):
            object_key("private", bot, USER, "a" * 32, "jpg")
    with pytest.raises(BadKey):
        object_key("../private", "shop", USER, "a" * 32, "jpg")


def test_a_symlink_inside_the_folder_cannot_lead_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "media" / "private" / "shop"
    root.mkdir(parents=True)
    key = object_key("private", "shop", USER, "a" * 32, "jpg")
    os.symlink(outside, root / key.split("/")[2])
    with pytest.raises(BadKey):
        LocalBackend(tmp_path / "media").path(key)


@pytest.mark.postgres
@pytest.mark.redis
async def test_the_public_path_takes_no_path_tricks(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/media/public/..%2F..%2Fetc%2Fpasswd", "/media/public/../../etc/passwd", "/media/..%2Fsecret"):
            async with http.get(served.url + path) as got:
                assert got.status in (403, 404), path
                assert b"root:" not in await got.read()


@pytest.mark.postgres
async def test_s3_public_files_are_served_by_the_bucket_url_when_one_is_set(
        moto_s3: str, pg_store: object, graph_client: GraphClient) -> None:
    backend = await s3_backend(moto_s3, public_base_url="https://cdn.example.com/media")
    storage = MediaStorage(backend, pg_store, sources={BOT: graph_client})
    try:
        obj, created = await storage.save(bot=BOT, user=USER, idempotency_key="k1", area="public",
                                          policy=Policy(),
                                          media_id=await upload(graph_client, PNG, "image/png"))
        assert created
        url, expires = storage.url_of(obj)
        assert url == f"https://cdn.example.com/media/{obj.object_key}" and expires is None
        assert await bucket_keys(backend) == [obj.object_key]
        await storage.forget(BOT, USER)
        assert await bucket_keys(backend) == []
    finally:
        await storage.close()
