"""The PostgreSQL store: messaging log, delivery records, conversations, consent, channel
settings and the audit log, on psycopg 3 with an async connection pool.

The schema is engine/store/migrations/ (run engine.store.migrate first). Every statement here
is a constant with placeholders: values, user text included, only ever travel as parameters.
The two things PostgreSQL cannot store in text, NUL and unpaired surrogates (both can arrive in
a webhook's JSON), become U+FFFD on the way in, so hostile text is stored, not an error.
Connections are in autocommit mode; what must be atomic runs in an explicit transaction.

Delivery records (the `DeliveryRecords` protocol of engine/delivery/records.py): the sender
calls `sent` or `failed`, the status webhooks `status`. A status is kept as an event in
`message_statuses` whether or not its message is logged yet, and moves the message's status
forward only (sent < delivered < read; failed is final); `sent` picks up any status that beat
it. Both take a transaction-scoped advisory lock on the provider id, so neither can miss the
other.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, LiteralString

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from engine import wire
from engine.channels.base import Status
from engine.delivery.records import RANK
from engine.messages import Inbound, Outbound, inbound_to_json, outbound_to_json

CONSENT_SOURCES = ("keyword", "api", "import", "admin")
ERROR_TEXT_MAX = 1000


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Rows built between two yields to the event loop in the batch paths (the log shipper's). The
# shipper shares its process with the webhooks and the turns; a whole batch built at once held
# them up (webhook p99 at 200 messages/s: 13.7 ms with the log, 8.9 without; decision 0002).
YIELD_EVERY = 20
SENT_CHUNK = 500  # sent rows per transaction of sent_many (each holds one advisory lock per row)


def _clean(value: Any) -> Any:
    """`value` with NUL and unpaired surrogates replaced by U+FFFD, in strings at any depth."""
    if isinstance(value, str):  # the common case, ASCII without NUL, costs two C scans, no regex
        return value if value.isascii() and "\x00" not in value else _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, Jsonb):
        return Jsonb(_clean(value.obj))
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clean(v) for v in value)
    return value


def _recordset(batch: list[dict[str, Any]]) -> Jsonb:
    """Rows as `LogRow.params` makes them, as one jsonb array for `_RECORD`."""
    rows = []
    for p in batch:
        row = dict(p)
        row["body"] = p["body"].obj if isinstance(p["body"], Jsonb) else p["body"]
        row["at"] = p["at"].isoformat() if isinstance(p["at"], datetime) else p["at"]
        rows.append(row)
    return Jsonb(rows, dumps=_jsonb_text)


def _jsonb_text(value: Any) -> str:
    """JSON for a jsonb parameter, cleaned (see _clean) only when it has to be: orjson refuses
    unpaired surrogates, and a NUL shows as the escape jsonb refuses. Cleaning every string of
    every row was most of the log shipper's own CPU."""
    try:
        text = wire.dumps(value)
    except (TypeError, ValueError):  # a surrogate: orjson refuses it, and so does json's UTF-8
        text = b"\\u0000"
    if b"\\u0000" in text:
        text = wire.dumps(_clean(value))
    return text.decode("utf-8")


def _same(value: Any) -> Any:
    return value


def _when(at: float | datetime | None) -> datetime | None:
    if at is None or isinstance(at, datetime):
        return at
    return datetime.fromtimestamp(at, tz=timezone.utc) if at else None


@dataclass(frozen=True, slots=True)
class LogRow:
    """One row of the messaging log, as `log_many` writes it."""

    bot: str
    user: str
    direction: str  # "in" or "out"
    channel: str = "whatsapp"
    account: str = ""
    provider_id: str | None = None
    item_id: str | None = None
    kind: str = "text"
    body: dict[str, Any] = field(default_factory=dict)
    template_name: str | None = None
    template_language: str | None = None
    status: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    at: float | datetime | None = None  # None: the time of the insert

    @classmethod
    def inbound(cls, bot: str, inbound: Inbound, account: str = "") -> LogRow:
        return cls(bot=bot, user=inbound.user, direction="in", channel=inbound.channel, account=account,
                   provider_id=inbound.message_id or None, kind=inbound.kind, body=inbound_to_json(inbound),
                   at=inbound.timestamp or None)

    @classmethod
    def outbound(cls, bot: str, out: Outbound | Mapping[str, Any], *, channel: str = "whatsapp", account: str = "",
                 provider_id: str | None = None, item_id: str | None = None, status: str | None = "sent",
                 error_code: int | None = None, error_message: str | None = None,
                 at: float | datetime | None = None) -> LogRow:
        body = outbound_to_json(out) if isinstance(out, Outbound) else dict(out)
        template = body.get("template") or [None, None]
        return cls(bot=bot, user=str(body.get("to", "")), direction="out", channel=channel, account=account,
                   provider_id=provider_id, item_id=item_id, kind=str(body.get("kind", "text")), body=body,
                   template_name=template[0], template_language=template[1], status=status,
                   error_code=error_code, error_message=error_message[:ERROR_TEXT_MAX] if error_message else None,
                   at=at)

    def params(self, *, clean: bool = True) -> dict[str, Any]:
        """The parameters of _INSERT_MESSAGE (cleaned: see _clean; `clean=False` for a batch,
        which `_recordset` cleans as a whole only when it needs to)."""
        if self.direction not in ("in", "out"):
            raise ValueError(f"direction is 'in' or 'out', not {self.direction!r}")
        return (_clean if clean else _same)({"bot": self.bot, "user": self.user, "direction": self.direction, "channel": self.channel,
                "account": self.account, "provider_id": self.provider_id, "item_id": self.item_id, "kind": self.kind,
                "body": Jsonb(self.body), "template_name": self.template_name,
                "template_language": self.template_language, "status": self.status,
                "rank": RANK.get(self.status, 0) if self.status else 0, "error_code": self.error_code,
                "error_message": self.error_message, "at": _when(self.at)})


# Every statement is a constant; values only ever travel as parameters.

_INSERT_VALUES: LiteralString = """
INSERT INTO messages (bot, user_id, direction, channel, account, provider_message_id, item_id, kind, body,
                      template_name, template_language, status, status_rank, status_at, error_code,
                      error_message, created_at)
VALUES (%(bot)s, %(user)s, %(direction)s, %(channel)s, %(account)s, %(provider_id)s, %(item_id)s, %(kind)s,
        %(body)s, %(template_name)s, %(template_language)s, %(status)s, %(rank)s,
        CASE WHEN %(status)s::text IS NULL THEN NULL ELSE coalesce(%(at)s::timestamptz, now()) END,
        %(error_code)s, %(error_message)s, coalesce(%(at)s::timestamptz, now()))
ON CONFLICT DO NOTHING
"""
_INSERT_MESSAGE: LiteralString = _INSERT_VALUES
_INSERT_MESSAGE_RETURNING: LiteralString = _INSERT_VALUES + " RETURNING id"

_SELECT_MESSAGE: LiteralString = """
SELECT id, bot, user_id AS user, direction, channel, account, provider_message_id AS provider_id,
       item_id AS item, kind, body, template_name AS template, template_language, status, status_at,
       error_code, error_message, created_at
  FROM messages
"""
_HISTORY: LiteralString = (
    "SELECT * FROM (" + _SELECT_MESSAGE
    + " WHERE bot = %s AND user_id = %s AND (%s::bigint IS NULL OR id < %s::bigint)"
    " ORDER BY created_at DESC, id DESC LIMIT %s) AS page ORDER BY created_at, id")
_BY_PROVIDER_ID: LiteralString = _SELECT_MESSAGE + " WHERE provider_message_id = %s ORDER BY id LIMIT 1"
_BY_UNSENT_ITEM: LiteralString = _SELECT_MESSAGE + " WHERE item_id = %s AND provider_message_id IS NULL"

_LOCK_PROVIDER_ID = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"

# The batch forms (the messaging-log shipper: hundreds of rows a second): one statement per
# batch, the rows as one jsonb array, instead of a statement per row.
_RECORD: LiteralString = """jsonb_to_recordset(%s) AS r(
    bot text, "user" text, direction text, channel text, account text, provider_id text, item_id text, kind text,
    body jsonb, template_name text, template_language text, status text, rank int, error_code int,
    error_message text, at timestamptz)"""
_INSERT_BATCH: LiteralString = """
INSERT INTO messages (bot, user_id, direction, channel, account, provider_message_id, item_id, kind, body,
                      template_name, template_language, status, status_rank, status_at, error_code,
                      error_message, created_at)
SELECT r.bot, r."user", r.direction, r.channel, r.account, r.provider_id, r.item_id, r.kind, r.body,
       r.template_name, r.template_language, r.status, r.rank,
       CASE WHEN r.status IS NULL THEN NULL ELSE coalesce(r.at, now()) END,
       r.error_code, r.error_message, coalesce(r.at, now())
  FROM """ + _RECORD + """
ON CONFLICT DO NOTHING
"""
_LOCK_PROVIDER_IDS = """
SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM (SELECT k FROM unnest(%s::text[]) AS k ORDER BY k) AS sorted
"""
_CATCH_UP_BATCH: LiteralString = """
UPDATE messages AS m
   SET status = s.status, status_rank = s.rank, status_at = s.at,
       error_code = coalesce(s.error_code, m.error_code), error_message = coalesce(s.error_message, m.error_message)
  FROM (SELECT DISTINCT ON (ms.provider_message_id, ms.channel)
               ms.provider_message_id, ms.channel, ms.status, ms.rank, ms.at, ms.error_code, ms.error_message
          FROM message_statuses AS ms
          JOIN unnest(%s::text[], %s::text[]) AS r(provider_id, channel)
            ON ms.provider_message_id = r.provider_id AND ms.channel = r.channel
         ORDER BY ms.provider_message_id, ms.channel, ms.rank DESC, ms.at) AS s
 WHERE m.provider_message_id = s.provider_message_id AND m.channel = s.channel AND s.rank > m.status_rank
"""

_CATCH_UP = """
UPDATE messages AS m
   SET status = s.status, status_rank = s.rank, status_at = s.at,
       error_code = coalesce(s.error_code, m.error_code), error_message = coalesce(s.error_message, m.error_message)
  FROM (SELECT status, rank, at, error_code, error_message FROM message_statuses
         WHERE provider_message_id = %s AND channel = %s ORDER BY rank DESC, at LIMIT 1) AS s
 WHERE m.provider_message_id = %s AND m.channel = %s AND s.rank > m.status_rank
"""

_ADVANCE = """
UPDATE messages
   SET status = %s, status_rank = %s, status_at = %s,
       error_code = coalesce(%s, error_code), error_message = coalesce(%s, error_message)
 WHERE provider_message_id = %s AND channel = %s AND status_rank < %s
"""


class PostgresStore:
    """The messaging log and friends on one PostgreSQL database. Open with `await PostgresStore.open(url)`.

    `channels` maps a bot to the channel its replies go out on (default whatsapp), so `sent`
    and `failed` log them where the status webhooks of that channel will look.
    """

    def __init__(self, pool: AsyncConnectionPool, channels: Mapping[str, str] | None = None) -> None:
        self.pool = pool
        self.channels = dict(channels or {})

    @classmethod
    async def open(cls, conninfo: str, *, min_size: int = 1, max_size: int = 10,
                   channels: Mapping[str, str] | None = None) -> PostgresStore:
        pool = AsyncConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=False,
                                   kwargs={"autocommit": True}, name="flowbot")
        await pool.open(wait=True)
        return cls(pool, channels)

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ─── messaging log ──────────────────────────────────────────────────────────────────────

    async def log_inbound(self, bot: str, inbound: Inbound, *, account: str = "") -> int | None:
        """Log a message from a user; returns its id, or None if its provider id is logged already."""
        return await self._insert(LogRow.inbound(bot, inbound, account))

    async def log_outbound(self, bot: str, out: Outbound | Mapping[str, Any], **fields: Any) -> int | None:
        """Log a message to a user (fields as `LogRow.outbound`); None if its provider id is logged already."""
        return await self._insert(LogRow.outbound(bot, out, **fields))

    async def _insert(self, row: LogRow) -> int | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_INSERT_MESSAGE_RETURNING, row.params())
            found = await cur.fetchone()
        return int(found[0]) if found else None

    async def log_many(self, rows: Iterable[LogRow]) -> int:
        """Log a batch in one statement; returns how many were new (duplicates are skipped)."""
        batch = [row.params(clean=False) for row in rows]
        if not batch:
            return 0
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(_INSERT_BATCH, (_recordset(batch),))
            return max(cur.rowcount, 0)

    async def history(self, bot: str, user: str, *, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """A user's messages, oldest first: the last `limit` ones, or those before message id `before`."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_HISTORY, _clean((bot, user, before, before, limit)))
            return await cur.fetchall()

    # ─── delivery records (engine.delivery.records.DeliveryRecords) ─────────────────────────

    def _channel(self, bot: str, item: Mapping[str, Any]) -> str:
        route = item.get("c")
        if isinstance(route, Mapping) and isinstance(route.get("channel"), str):
            return str(route["channel"])
        return self.channels.get(bot, "whatsapp")

    async def sent(self, bot: str, user: str, provider_id: str, item: dict[str, Any]) -> None:
        row = LogRow.outbound(bot, {"to": user, **item.get("o", {})}, channel=self._channel(bot, item),
                              provider_id=provider_id, item_id=item.get("id") or None, status="sent")
        params = row.params()
        channel, provider_id = params["channel"], params["provider_id"]
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(_LOCK_PROVIDER_ID, (f"{channel}:{provider_id}",))
            await conn.execute(_INSERT_MESSAGE, params)
            await conn.execute(_CATCH_UP, (provider_id, channel, provider_id, channel))

    async def sent_many(self, sends: Iterable[tuple[str, str, str, dict[str, Any]]]) -> None:
        """`sent` for a batch of (bot, user, provider id, item), in transactions of at most
        SENT_CHUNK rows and a few round trips each (the messaging-log shipper's path: hundreds a
        second). Each transaction holds an advisory lock per provider id, so it is kept well
        within PostgreSQL's lock table (max_locks_per_transaction x max_connections)."""
        batch = []
        for bot, user, provider_id, item in sends:
            row = LogRow.outbound(bot, {"to": user, **item.get("o", {})}, channel=self._channel(bot, item),
                                  provider_id=provider_id, item_id=item.get("id") or None, status="sent")
            batch.append(row.params(clean=False))
            if len(batch) % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # thousands of rows: let the process's other tasks in between
        for start in range(0, len(batch), SENT_CHUNK):
            await self._sent_chunk(batch[start:start + SENT_CHUNK])

    async def _sent_chunk(self, batch: list[dict[str, Any]]) -> None:
        keys = sorted({_clean(f"{p['channel']}:{p['provider_id']}") for p in batch})  # one order: no deadlock between shippers
        rows = _recordset(batch)
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(_LOCK_PROVIDER_IDS, (keys,))
            await cur.execute(_INSERT_BATCH, (rows,))
            # only the ids: the batch's bodies are parsed once, by the insert
            await cur.execute(_CATCH_UP_BATCH, ([_clean(p["provider_id"]) for p in batch], [_clean(p["channel"]) for p in batch]))

    async def status(self, status: Status) -> None:
        rank = RANK.get(status.status, 0)
        at = _when(status.timestamp) or datetime.now(timezone.utc)
        error = _clean(": ".join(p for p in (status.error_title, status.error_detail) if p)[:ERROR_TEXT_MAX] or None)
        pid, channel, name = _clean((status.message_id, status.channel, status.status))
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(_LOCK_PROVIDER_ID, (f"{channel}:{pid}",))
            await conn.execute(
                "INSERT INTO message_statuses (channel, provider_message_id, status, rank, error_code, error_message, at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (channel, pid, name, rank, status.error_code, error, at))
            await conn.execute(_ADVANCE, (name, rank, at, status.error_code, error, pid, channel, rank))

    async def failed(self, bot: str, user: str, item: dict[str, Any], error: str, code: int | None) -> None:
        row = LogRow.outbound(bot, {"to": user, **item.get("o", {})}, channel=self._channel(bot, item),
                              item_id=item.get("id") or None, status="failed", error_code=code, error_message=error)
        async with self.pool.connection() as conn:
            await conn.execute(_INSERT_MESSAGE, row.params())

    async def get(self, provider_id: str) -> dict[str, Any] | None:
        """The record of a sent message by provider id (`failed:<item id>` for one never sent), with
        `statuses`: each status seen and when. None if nothing is known of it."""
        provider_id = _clean(provider_id)
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            if provider_id.startswith("failed:"):
                await cur.execute(_BY_UNSENT_ITEM, (provider_id[len("failed:"):],))
                unsent = await cur.fetchone()
                if unsent is not None:
                    unsent["statuses"] = {unsent["status"]: unsent["status_at"]}
                return unsent
            await cur.execute(_BY_PROVIDER_ID, (provider_id,))
            record = await cur.fetchone()
            await cur.execute("SELECT status, rank, at, error_code, error_message FROM message_statuses"
                              " WHERE provider_message_id = %s ORDER BY rank, at", (provider_id,))
            events = await cur.fetchall()
        if record is None and not events:
            return None
        if record is None:  # statuses for a message not logged (yet)
            best = events[-1]
            record = {"provider_id": provider_id, "status": best["status"], "status_at": best["at"],
                      "error_code": best["error_code"], "error_message": best["error_message"]}
        record["statuses"] = {e["status"]: e["at"] for e in events}
        return record

    # ─── conversations ──────────────────────────────────────────────────────────────────────

    async def touch_conversation(self, bot: str, user: str, *, flow: str | None = None, channel: str = "whatsapp",
                                 at: float | datetime | None = None) -> int:
        """Open a conversation, or note activity on the open one; returns its id."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO conversations (bot, user_id, channel, flow, started_at, last_message_at)"
                " VALUES (%s, %s, %s, %s, coalesce(%s::timestamptz, now()), coalesce(%s::timestamptz, now()))"
                " ON CONFLICT (bot, user_id) WHERE ended_at IS NULL DO UPDATE"
                " SET last_message_at = greatest(conversations.last_message_at, excluded.last_message_at),"
                "     flow = coalesce(excluded.flow, conversations.flow)"
                " RETURNING id",
                _clean((bot, user, channel, flow, _when(at), _when(at))))
            found = await cur.fetchone()
        assert found is not None
        return int(found[0])

    async def hand_to_human(self, bot: str, user: str, human: str = "") -> None:
        async with self.pool.connection() as conn:
            await conn.execute("UPDATE conversations SET handed_to_human_at = now(), human = %s, released_at = NULL"
                               " WHERE bot = %s AND user_id = %s AND ended_at IS NULL", _clean((human, bot, user)))

    async def release(self, bot: str, user: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("UPDATE conversations SET released_at = now()"
                               " WHERE bot = %s AND user_id = %s AND ended_at IS NULL", _clean((bot, user)))

    async def end_conversation(self, bot: str, user: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("UPDATE conversations SET ended_at = now()"
                               " WHERE bot = %s AND user_id = %s AND ended_at IS NULL", _clean((bot, user)))

    async def open_conversation(self, bot: str, user: str) -> dict[str, Any] | None:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT * FROM conversations WHERE bot = %s AND user_id = %s AND ended_at IS NULL",
                              _clean((bot, user)))
            return await cur.fetchone()

    # ─── consent ────────────────────────────────────────────────────────────────────────────

    async def opt_out(self, bot: str, user: str, *, channel: str = "whatsapp", source: str = "keyword",
                      detail: str = "", at: float | datetime | None = None) -> None:
        await self._consent(bot, user, channel, "opted_out", source, detail, at)

    async def opt_in(self, bot: str, user: str, *, channel: str = "whatsapp", source: str = "keyword",
                     detail: str = "", at: float | datetime | None = None) -> None:
        await self._consent(bot, user, channel, "opted_in", source, detail, at)

    async def _consent(self, bot: str, user: str, channel: str, state: str, source: str, detail: str,
                       at: float | datetime | None) -> None:
        if source not in CONSENT_SOURCES:
            raise ValueError(f"consent source is one of {', '.join(CONSENT_SOURCES)}, not {source!r}")
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO consent_events (bot, user_id, channel, state, source, detail, at)"
                " VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s::timestamptz, now()))",
                _clean((bot, user, channel, state, source, detail, _when(at))))

    async def consent(self, bot: str, user: str, channel: str = "whatsapp") -> dict[str, Any] | None:
        """The current consent (state, source, detail, at), or None if the user never said."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT state, source, detail, at FROM consent"
                              " WHERE bot = %s AND user_id = %s AND channel = %s", _clean((bot, user, channel)))
            return await cur.fetchone()

    async def is_opted_out(self, bot: str, user: str, channel: str = "whatsapp") -> bool:
        """Whether the user's latest word is STOP: their current consent, or, when their data was
        deleted after a STOP, the suppression kept for them (whichever is newer)."""
        return _clean(user) in await self.opted_out_among(bot, [user], channel)

    async def opted_out_among(self, bot: str, users: Iterable[str], channel: str = "whatsapp") -> set[str]:
        """Of `users`, those opted out (see `is_opted_out`): for a batch, in one query."""
        bot = _clean(bot)
        wanted = {_clean(u): user_pseudonym(bot, _clean(u)) for u in users}
        if not wanted:
            return set()
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT user_id, state, at FROM consent WHERE bot = %s AND channel = %s AND user_id = ANY(%s)"
                " UNION ALL SELECT subject, 'suppressed', since FROM consent_suppressions"
                " WHERE channel = %s AND subject = ANY(%s)",
                (bot, channel, list(wanted), channel, list(wanted.values())))
            rows = await cur.fetchall()
        current = {str(who): (state, at) for who, state, at in rows if state != "suppressed"}
        suppressed = {str(who): at for who, state, at in rows if state == "suppressed"}
        out = set()
        for user, subject in wanted.items():
            state, at = current.get(user, (None, None))
            since = suppressed.get(subject)
            if state == "opted_out" or (since is not None and (at is None or since >= at)):
                out.add(user)
        return out

    async def consent_history(self, bot: str, user: str, channel: str = "whatsapp") -> list[dict[str, Any]]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT state, source, detail, at, recorded_at FROM consent_events"
                              " WHERE bot = %s AND user_id = %s AND channel = %s ORDER BY at, id",
                              _clean((bot, user, channel)))
            return await cur.fetchall()

    # ─── channel settings ───────────────────────────────────────────────────────────────────

    async def put_channel_settings(self, bot: str, channel: str, account: str, settings: Mapping[str, Any]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO channel_settings (bot, channel, account, settings) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (bot, channel, account) DO UPDATE SET settings = excluded.settings, updated_at = now()",
                _clean((bot, channel, account, Jsonb(dict(settings)))))

    async def channel_settings(self, bot: str, channel: str, account: str = "") -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT settings FROM channel_settings WHERE bot = %s AND channel = %s AND account = %s",
                                     _clean((bot, channel, account)))
            found = await cur.fetchone()
        return dict(found[0]) if found else None

    # ─── audit ──────────────────────────────────────────────────────────────────────────────

    async def audit(self, actor: str, action: str, subject: str = "", details: Mapping[str, Any] | None = None) -> int:
        async with self.pool.connection() as conn:
            return await _audit(conn, actor, action, subject, details)

    async def audit_entries(self, *, subject: str | None = None, action: str | None = None,
                            limit: int = 100) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT id, at, actor, action, subject, details FROM audit_log"
                              " WHERE (%s::text IS NULL OR subject = %s) AND (%s::text IS NULL OR action = %s)"
                              " ORDER BY id DESC LIMIT %s", _clean((subject, subject, action, action, limit)))
            return await cur.fetchall()

    # ─── "delete my data" ───────────────────────────────────────────────────────────────────

    async def forget_user(self, bot: str, user: str, *, actor: str = "system", reason: str = "") -> dict[str, int]:
        """Delete everything kept about one user of one bot: messages and their statuses, consent,
        conversations, in one transaction. An opt-out is kept, under the pseudonym only
        (`consent_suppressions`), so the bot stays quiet towards a user who said STOP. Writes an
        audit entry naming the user only by `user_pseudonym`. Returns how many rows went from
        each table."""
        bot, user = _clean((bot, user))
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT set_config('flowbot.erasure', 'on', true)")
            # a STOP outlives the erasure, under the pseudonym (migration 0006)
            kept = await conn.execute(
                "INSERT INTO consent_suppressions (subject, bot, channel, since)"
                " SELECT %s, bot, channel, at FROM consent WHERE bot = %s AND user_id = %s AND state = 'opted_out'"
                " ON CONFLICT (subject, channel) DO UPDATE SET since = greatest(consent_suppressions.since, EXCLUDED.since)",
                (user_pseudonym(bot, user), bot, user))
            statuses = await conn.execute(
                "DELETE FROM message_statuses AS s USING messages AS m"
                " WHERE m.bot = %s AND m.user_id = %s AND s.provider_message_id = m.provider_message_id"
                "   AND s.channel = m.channel", (bot, user))
            counts = {"message_statuses": statuses.rowcount}
            for table in ("messages", "consent_events", "conversations"):
                cur = await conn.execute(_DELETE_USER_ROWS[table], (bot, user))
                counts[table] = cur.rowcount
            await _audit(conn, actor, "forget_user", user_pseudonym(bot, user),
                         {"bot": bot, "deleted": counts, "opt_outs_kept": kept.rowcount, "reason": reason})
        return counts


_DELETE_USER_ROWS: dict[str, LiteralString] = {
    "messages": "DELETE FROM messages WHERE bot = %s AND user_id = %s",
    "consent_events": "DELETE FROM consent_events WHERE bot = %s AND user_id = %s",
    "conversations": "DELETE FROM conversations WHERE bot = %s AND user_id = %s",
}


def user_pseudonym(bot: str, user: str) -> str:
    """How the audit log names a forgotten user: a SHA-256 of bot and user id, which lets whoever
    already knows the number check that it was erased. Phone numbers are few enough to guess,
    so this is a pseudonym, not anonymity."""
    return "user:" + hashlib.sha256(f"{bot}\x00{user}".encode()).hexdigest()[:32]


async def _audit(conn: AsyncConnection[Any], actor: str, action: str, subject: str,
                 details: Mapping[str, Any] | None) -> int:
    cur = await conn.execute(
        "INSERT INTO audit_log (actor, action, subject, details) VALUES (%s, %s, %s, %s) RETURNING id",
        _clean((actor, action, subject, Jsonb(dict(details or {})))))
    found = await cur.fetchone()
    assert found is not None
    return int(found[0])
