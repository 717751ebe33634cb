"""The S3-compatible backend, on aiobotocore (docs/decisions/0005-media-storage.md).

Any server speaking S3's API will do: AWS S3, MinIO, Cloudflare R2, Backblaze B2, ... Set
FLOWBOT_MEDIA_S3_BUCKET, and FLOWBOT_MEDIA_S3_ENDPOINT for a server that is not AWS.
Credentials come from botocore's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a
profile, an instance role); they are never read from a bot's YAML. One client is opened on
first use and kept (its connection pool with it) until `close()`.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from typing import Any

from actions.storage.backends import checked


class S3Backend:
    """Objects in one bucket. Private objects are only ever read by flowbot (the /media route);
    public ones are served by the bucket itself when `public_base_url` is set (the bucket or
    its CDN must then allow anonymous reads of `public/*`), else by flowbot too."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None,
                 public_base_url: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, path_style: bool | None = None) -> None:
        self.bucket = bucket
        self.name = f"s3:{bucket}"
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self.public_base_url = (public_base_url or "").rstrip("/") or None
        self._credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key} if access_key else {}
        # path-style addressing (endpoint/bucket/key) is what most S3-compatible servers expect
        self._path_style = path_style if path_style is not None else bool(endpoint_url)
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_env(cls) -> S3Backend:
        return cls(os.environ["FLOWBOT_MEDIA_S3_BUCKET"], endpoint_url=os.environ.get("FLOWBOT_MEDIA_S3_ENDPOINT"),
                   region=os.environ.get("FLOWBOT_MEDIA_S3_REGION") or os.environ.get("AWS_REGION"),
                   public_base_url=os.environ.get("FLOWBOT_MEDIA_PUBLIC_BASE_URL"))

    async def _s3(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                config = AioConfig(s3={"addressing_style": "path" if self._path_style else "auto"},
                                   connect_timeout=10, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
                stack = AsyncExitStack()
                self._client = await stack.enter_async_context(get_session().create_client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config, **self._credentials))
                self._stack = stack
        return self._client

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        s3 = await self._s3()
        await s3.put_object(Bucket=self.bucket, Key=checked(key), Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes | None:
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=checked(key))
        except s3.exceptions.NoSuchKey:
            return None
        async with answer["Body"] as stream:
            return bytes(await stream.read())

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=checked(key))  # S3 answers 204 for a missing key too

    def public_url(self, key: str) -> str | None:
        if self.public_base_url is None or not checked(key).startswith("public/"):
            return None
        return f"{self.public_base_url}/{key}"

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._client = self._stack, None, None
            await stack.aclose()
