"""Where the bytes live: the `Backend` protocol, the object keys, and the local directory backend.

An object key is made by flowbot, never taken from a user or a flow:
`<area>/<bot>/<user hash>/<id>.<ext>` (see `object_key`). Every backend checks a key against
that shape before touching anything, and the local backend also checks that the resolved path
stays inside its directory, so no key can reach outside it ("../", absolute paths, symlinks).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

AREAS = ("public", "private")
_BOT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KEY = re.compile(r"^(public|private)/[A-Za-z0-9_-]{1,64}/[0-9a-f]{32}/[0-9a-f]{32}\.[a-z0-9]{1,8}$")


class BadKey(ValueError):
    """An object key that flowbot did not make: refused before any file or bucket is touched."""


def user_hash(bot: str, user: str) -> str:
    """The user's folder: a hash, so no phone number appears in a key, a path or a URL."""
    return hashlib.sha256(f"media\x00{bot}\x00{user}".encode()).hexdigest()[:32]


def object_key(area: str, bot: str, user: str, public_id: str, ext: str) -> str:
    if area not in AREAS:
        raise BadKey(f"area must be public or private, not {area!r}")
    if not _BOT.match(bot):
        raise BadKey(f"a bot name in a media key is letters, digits, _ and - (got {bot!r})")
    return checked(f"{area}/{bot}/{user_hash(bot, user)}/{public_id}.{ext}")


def checked(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise BadKey(f"not a media object key: {key!r}")
    return key


class Backend(Protocol):
    """Stores bytes under keys. `name` is recorded with each object (`local`, `s3:<bucket>`)."""

    name: str

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The bytes, or None when there is no such object."""

    async def delete(self, key: str) -> None:
        """Remove the object; removing a missing one is not an error."""

    def public_url(self, key: str) -> str | None:
        """A URL the backend serves a public object at by itself, or None (flowbot serves it)."""

    async def close(self) -> None: ...


class LocalBackend:
    """Files in a directory (FLOWBOT_MEDIA_DIR, default .flowbot/media), written atomically
    (a temporary file renamed into place), readable only by this user."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.name = "local"

    def path(self, key: str) -> Path:
        path = (self.root / checked(key)).resolve()
        if not path.is_relative_to(self.root):  # a symlink inside the tree pointing out
            raise BadKey(f"media key {key!r} leads outside {self.root}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    async def get(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        path = self.path(key)
        await asyncio.to_thread(path.unlink, True)

    def public_url(self, key: str) -> str | None:
        return None

    async def close(self) -> None:
        return None

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
