"""What the storage tests share besides fixtures (imported by name: a module called `conftest`
is ambiguous when pytest collects several test folders in one run)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from actions.storage.backends import Backend
from actions.storage.service import MediaStorage
from engine.channels.whatsapp import GraphClient

SECRET = "test-media-secret-0123456789abcdef"
BOT, USER, OTHER = "test", "15550000001", "15550000002"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))

BOT_YAML = """\
bot: test
start: main
languages: [en]
actions: [storage]
"""


async def upload(client: GraphClient, data: bytes, mime: str, filename: str = "photo") -> str:
    """A file as the user's phone would put it on Graph: the media id an inbound message carries."""
    return await client.upload_media(data, mime, filename)


async def s3_backend(endpoint: str, **options: object) -> Backend:
    from actions.storage.s3 import S3Backend

    backend = S3Backend(f"media-{uuid.uuid4().hex[:12]}", endpoint_url=endpoint, region="us-east-1",
                        access_key="testing", secret_key="testing", **options)  # type: ignore[arg-type]
    s3 = await backend._s3()
    await s3.create_bucket(Bucket=backend.bucket)
    return backend


async def bucket_keys(backend: Backend) -> list[str]:
    s3 = await backend._s3()  # type: ignore[attr-defined]
    listed = await s3.list_objects_v2(Bucket=backend.bucket)  # type: ignore[attr-defined]
    return sorted(o["Key"] for o in listed.get("Contents", []))


async def stored_bytes(storage: MediaStorage, key: str) -> bytes | None:
    return await storage.backend.get(key)


@dataclass
class Served:
    url: str
    storage: MediaStorage
