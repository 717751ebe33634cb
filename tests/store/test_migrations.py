"""The migration runner on a real PostgreSQL: applies in order, once, transactionally, under a
lock, and refuses a migration that was edited after it was applied."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.store.migrate import LOCK_KEY, MIGRATIONS, MigrationError, discover, migrate

pytestmark = pytest.mark.postgres

TABLES = {"schema_migrations", "messages", "message_statuses", "conversations", "consent_events",
          "channel_settings", "audit_log"}


def tables(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def applied(conninfo: str) -> list[tuple[int, str]]:
    with psycopg.connect(conninfo) as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")]


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """A folder holding only the real first migration, which a test may change and extend with
    its own numbered files (so shipping a new migration does not renumber these tests)."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    shutil.copy(MIGRATIONS / "0001_initial.sql", folder)
    return folder


def test_the_migrations_apply_to_an_empty_database_and_a_second_run_does_nothing(postgres_db: str) -> None:
    assert tables(postgres_db) == set()
    first = migrate(postgres_db)
    names = [m.name for m in discover()]
    assert first.applied == names and names[0] == "0001_initial.sql"
    assert TABLES <= tables(postgres_db)
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT count(*) FROM consent").fetchone() == (0,)  # the current-consent view
    second = migrate(postgres_db)
    assert second.applied == [] and second.current == names and second.version == first.version
    assert applied(postgres_db) == [(m.version, m.name) for m in discover()]


def test_an_applied_migration_that_was_edited_is_refused(postgres_db: str, migrations: Path) -> None:
    migrate(postgres_db, migrations)
    initial = migrations / "0001_initial.sql"
    initial.write_text(initial.read_text() + "\nCREATE TABLE sneaky (id int);\n")
    (migrations / "0002_next.sql").write_text("CREATE TABLE next_one (id int);\n")
    with pytest.raises(MigrationError, match=r"0001_initial\.sql: this migration was applied .* has been edited"):
        migrate(postgres_db, migrations)
    assert applied(postgres_db) == [(1, "0001_initial.sql")]  # nothing after the refusal ran
    assert not {"sneaky", "next_one"} & tables(postgres_db)


def test_windows_line_endings_are_not_an_edit(postgres_db: str, migrations: Path) -> None:
    migrate(postgres_db, migrations)
    initial = migrations / "0001_initial.sql"
    initial.write_bytes(initial.read_bytes().replace(b"\n", b"\r\n"))
    assert migrate(postgres_db, migrations).applied == []


def test_a_failing_migration_leaves_nothing_behind_and_the_next_run_retries_it(postgres_db: str, migrations: Path) -> None:
    (migrations / "0002_broken.sql").write_text("CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n")
    with pytest.raises(MigrationError, match=r"0002_broken\.sql: DivisionByZero"):
        migrate(postgres_db, migrations)
    assert applied(postgres_db) == [(1, "0001_initial.sql")]
    assert "half_done" not in tables(postgres_db)
    (migrations / "0002_broken.sql").write_text("CREATE TABLE half_done (id int);\n")
    assert migrate(postgres_db, migrations).applied == ["0002_broken.sql"]


def test_new_migrations_apply_in_number_order(postgres_db: str, migrations: Path) -> None:
    migrate(postgres_db, migrations)
    (migrations / "0003_third.sql").write_text("ALTER TABLE second_one ADD COLUMN note text;\n")
    (migrations / "0002_second.sql").write_text("CREATE TABLE second_one (id int);\n")
    assert migrate(postgres_db, migrations).applied == ["0002_second.sql", "0003_third.sql"]


def test_a_file_numbered_below_an_applied_one_is_refused(postgres_db: str, migrations: Path) -> None:
    (migrations / "0005_later.sql").write_text("SELECT 1;\n")
    migrate(postgres_db, migrations)
    (migrations / "0002_forgotten.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="0002_forgotten.sql: version 0002 is older than 0005"):
        migrate(postgres_db, migrations)


@pytest.mark.parametrize("name", ["1_short.sql", "0002-dash.sql", "0002_Upper.sql"])
def test_badly_named_files_are_refused(migrations: Path, name: str) -> None:
    (migrations / name).write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="NNNN_what.sql"):
        discover(migrations)


def test_two_processes_migrating_at_once_apply_each_file_once(postgres_db: str) -> None:
    """Both start while a third holder has the lock, so both are waiting at the same moment;
    when it is released one applies everything and the other finds nothing to do."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("DATABASE_URL", None)
    with psycopg.connect(postgres_db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        procs = [subprocess.Popen([sys.executable, "-m", "engine.cli", "migrate", "--database-url", postgres_db],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(2)]
        try:
            give_up = time.monotonic() + 60
            while True:
                waiting = holder.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()
                if waiting == (2,):
                    break
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                assert time.monotonic() < give_up, "the two migrate processes never both waited for the lock"
                time.sleep(0.05)
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    stdout = sorted(out for out, _ in outputs)
    assert stdout[0].startswith("applied 0001_initial.sql\n")
    assert stdout[1].startswith("nothing to apply\n")
    assert applied(postgres_db) == [(m.version, m.name) for m in discover()]


def test_flowbot_migrate_prints_what_it_applied(postgres_db: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["migrate", "--database-url", postgres_db])
    assert first.exit_code == 0, first.output
    assert "applied 0001_initial.sql" in first.output and "schema at" in first.output
    second = runner.invoke(app, ["migrate"], env={"DATABASE_URL": postgres_db})
    assert second.exit_code == 0, second.output
    assert "nothing to apply" in second.output


def test_flowbot_migrate_says_clearly_when_the_server_does_not_answer() -> None:
    result = CliRunner().invoke(app, ["migrate", "--database-url", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"])
    assert result.exit_code == 1
    assert "flowbot: cannot migrate DATABASE_URL: OperationalError" in result.output
