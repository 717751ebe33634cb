"""Applies the numbered SQL files in engine/store/migrations/ to a PostgreSQL database.

Files are named `NNNN_what.sql` and applied in number order, each in its own transaction
together with its row in `schema_migrations` (version, name, checksum, applied_at), so a file
is applied entirely or not at all. The whole run holds a PostgreSQL advisory lock: when several
processes start at once, one migrates and the others wait, then find nothing left to do.

An applied file must never change: its SHA-256 (of the text with `\\r\\n` read as `\\n`, so a
Windows checkout does not count as an edit) is recorded, and a run that finds a different
checksum refuses to go on. A schema change is always a new numbered file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import errors

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# pg_advisory_lock key: the first 8 bytes of sha256("flowbot.migrate"), as a signed bigint.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"flowbot.migrate").digest()[:8], "big", signed=True)

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The migrations cannot be applied as they are; the message says why and what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the file name, e.g. 0001_initial.sql
    sql: str
    checksum: str


@dataclass
class MigrateResult:
    applied: list[str] = field(default_factory=list)  # files applied by this run, in order
    current: list[str] = field(default_factory=list)  # files that were already applied
    unknown: list[str] = field(default_factory=list)  # applied versions no file here knows (a newer flowbot)

    @property
    def version(self) -> int:
        names = self.applied + self.current
        return max((int(n[:4]) for n in names), default=0)


def checksum(text: str) -> str:
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def discover(directory: Path = MIGRATIONS) -> list[Migration]:
    """The migration files in `directory`, in order. Any other .sql file there is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: a migration is named NNNN_what.sql (four digits, lower-case words)")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version:04d} is also {found[version].name}")
        text = path.read_text(encoding="utf-8")
        found[version] = Migration(version, path.name, text, checksum(text))
    return [found[v] for v in sorted(found)]


def migrate(conninfo: str, directory: Path = MIGRATIONS, *, lock_wait: float = 120.0) -> MigrateResult:
    """Apply the pending migrations in `directory` to the database at `conninfo`."""
    migrations = discover(directory)
    result = MigrateResult()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        _lock(conn, lock_wait)
        try:
            conn.execute(_CREATE_TABLE)
            applied = {row[0]: (row[1], row[2]) for row in
                       conn.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY version")}
            known = {m.version for m in migrations}
            result.unknown = [f"{v:04d} ({name})" for v, (name, _) in sorted(applied.items()) if v not in known]
            for m in migrations:
                if m.version in applied:
                    name, recorded = applied[m.version]
                    if recorded != m.checksum:
                        raise MigrationError(
                            f"{directory / m.name}: this migration was applied (as {name}) and has been edited "
                            f"since (checksum {recorded[:12]}… then, {m.checksum[:12]}… now). An applied "
                            "migration must not change: restore the file and put the change in a new numbered file.")
                    result.current.append(m.name)
                    continue
                if applied and m.version < max(applied):
                    raise MigrationError(
                        f"{directory / m.name}: version {m.version:04d} is older than {max(applied):04d}, which is "
                        "already applied; give the new file the next number")
                try:
                    with conn.transaction():
                        conn.execute(m.sql.encode("utf-8"))  # several statements: no parameters
                        conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                                     (m.version, m.name, m.checksum))
                except psycopg.Error as exc:
                    raise MigrationError(f"{directory / m.name}: {type(exc).__name__}: {exc}".rstrip()) from exc
                result.applied.append(m.name)
        finally:
            if not conn.closed:  # a lost connection has released the lock already
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return result


def _lock(conn: psycopg.Connection, wait: float) -> None:
    """Take the session-level migration lock, waiting at most `wait` seconds for another run."""
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(wait * 1000)}ms",))
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    except errors.LockNotAvailable as exc:
        raise MigrationError(f"another process held the migration lock for {wait:g} s; is a migration stuck?") from exc
    finally:
        conn.execute("SELECT set_config('lock_timeout', '0', false)")
