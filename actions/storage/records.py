"""The media tables (engine/store/migrations/0003_media.sql): what is stored, and who fetched it.

Every statement is a constant with placeholders. The pool is `services["db"]` (a PostgresStore
or a psycopg AsyncConnectionPool in autocommit mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from engine.store.postgres import _audit, _clean, user_pseudonym


class MediaDbMissing(RuntimeError):
    pass


def pool_of(db: Any) -> Any:
    if db is None:
        raise MediaDbMissing("the storage plugin needs PostgreSQL: the host injects it as services['db'] "
                             "(flowbot serve and flowbot worker do when DATABASE_URL is set; run `flowbot migrate`)")
    pool = getattr(db, "pool", db)
    if not callable(getattr(pool, "connection", None)):
        raise MediaDbMissing(f"services['db'] is a {type(db).__name__}, not a PostgresStore or an AsyncConnectionPool")
    return pool


@dataclass(frozen=True, slots=True)
class MediaObject:
    id: int
    public_id: str
    bot: str
    user_id: str
    area: str
    backend: str
    object_key: str
    content_type: str
    size: int
    sha256: str
    provider_media_id: str | None
    source_url: str | None
    idempotency_key: str
    created_at: datetime


_COLUMNS = ("id, public_id, bot, user_id, area, backend, object_key, content_type, size, sha256, "
            "provider_media_id, source_url, idempotency_key, created_at")


def _object(row: dict[str, Any] | None) -> MediaObject | None:
    return MediaObject(**row) if row else None


async def _one(pool: Any, sql: str, params: tuple[Any, ...]) -> MediaObject | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, _clean(params))
        return _object(await cur.fetchone())


async def by_key(pool: Any, idempotency_key: str) -> MediaObject | None:
    return await _one(pool, "SELECT " + _COLUMNS + " FROM media_objects WHERE idempotency_key = %s", (idempotency_key,))


async def by_public_id(pool: Any, public_id: str) -> MediaObject | None:
    return await _one(pool, "SELECT " + _COLUMNS + " FROM media_objects WHERE public_id = %s", (public_id,))


async def insert(pool: Any, *, public_id: str, bot: str, user: str, area: str, backend: str, key: str,
                 content_type: str, size: int, sha256: str, media_id: str | None, url: str | None,
                 idempotency_key: str) -> tuple[MediaObject, bool]:
    """The new row and True; or, when this idempotency key has a row already (a retried turn,
    or a concurrent one), that row and False."""
    found = await _one(
        pool, "INSERT INTO media_objects (public_id, bot, user_id, area, backend, object_key, content_type, size,"
        " sha256, provider_media_id, source_url, idempotency_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
        " %s, %s) ON CONFLICT (idempotency_key) DO NOTHING RETURNING " + _COLUMNS,
        (public_id, bot, user, area, backend, key, content_type, size, sha256, media_id, url, idempotency_key))
    if found is not None:
        return found, True
    existing = await by_key(pool, idempotency_key)
    assert existing is not None
    return existing, False


async def delete(pool: Any, object_id: int) -> bool:
    async with pool.connection() as conn:
        cur = await conn.execute("DELETE FROM media_objects WHERE id = %s", (object_id,))
        return cur.rowcount == 1


async def of_user(pool: Any, bot: str, user: str) -> list[MediaObject]:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT " + _COLUMNS + " FROM media_objects WHERE bot = %s AND user_id = %s ORDER BY id",
                          _clean((bot, user)))
        return [MediaObject(**row) for row in await cur.fetchall()]


async def forget(pool: Any, bot: str, user: str, object_ids: list[int], *, actor: str, reason: str) -> dict[str, int]:
    """Remove the rows of a user's objects (their files are gone already) and of every access
    to them, in one transaction, with an audit entry naming the user by pseudonym only."""
    bot, user = _clean((bot, user))
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT set_config('flowbot.erasure', 'on', true)")
        objects = await conn.execute("DELETE FROM media_objects WHERE bot = %s AND user_id = %s AND id = ANY(%s)",
                                     (bot, user, object_ids))
        log = await conn.execute("DELETE FROM media_access_log WHERE bot = %s AND user_id = %s", (bot, user))
        counts = {"media_objects": objects.rowcount, "media_access_log": log.rowcount}
        await _audit(conn, actor, "forget_media", user_pseudonym(bot, user),
                     {"bot": bot, "deleted": counts, "reason": reason})
    return counts


async def log_access(pool: Any, outcome: str, *, obj: MediaObject | None = None, public_id: str | None = None,
                     ip: str | None = None, user_agent: str | None = None) -> None:
    """One row of the access log; `public_id` (what the request named, when no object was
    found) is cut to 64 characters, the user agent to 300."""
    named = obj.public_id if obj else (public_id or "")[:64] or None
    owner = (obj.bot, obj.user_id, obj.area) if obj else (None, None, None)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO media_access_log (public_id, bot, user_id, area, ip, user_agent, outcome)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            _clean((named, *owner, ip, (user_agent or "")[:300] or None, outcome)))


async def accesses(pool: Any, public_id: str | None = None) -> list[dict[str, Any]]:
    """The access log, oldest first (of one object, or all)."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, at, public_id, bot, user_id, area, ip, user_agent, outcome FROM media_access_log"
                          " WHERE %s::text IS NULL OR public_id = %s ORDER BY id", _clean((public_id, public_id)))
        return await cur.fetchall()
