"""PostgreSQL storage: the messaging log, delivery records, conversations, consent, channel
settings and the audit log.

- migrations/NNNN_*.sql: the schema, plain SQL; migrate.py applies it (`flowbot migrate`).
- postgres.py: `PostgresStore`, the async store on psycopg 3 and a connection pool.
- embedded.py: the private PostgreSQL of the embedded default (no DATABASE_URL).

`database_url()` is the one entry point for "which database": DATABASE_URL if set, else the
embedded server, started and migrated on the spot.
"""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_ENV = "DATABASE_URL"


def database_url(directory: Path | None = None) -> str:
    """DATABASE_URL if set (migrations there are `flowbot migrate`'s job); else start the embedded
    server in `directory` (default .flowbot/postgres), apply the migrations, return its URL."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    from engine.store import embedded
    from engine.store.migrate import migrate

    url = embedded.start(directory or embedded.DEFAULT_DIRECTORY)
    migrate(url)
    return url
