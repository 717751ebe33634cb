"""Built-in plugin `db`: named, parameterized SQL declared next to the bot, never built from strings.

A bot keeps its queries in `flows/<bot>/queries.sql` and/or `flows/<bot>/queries/*.sql`:

    -- name: find_product
    -- Find a product by its SKU.
    SELECT sku, name, price FROM products WHERE sku = :sku;

    -- name: add_to_cart!
    INSERT INTO cart_items (bot, user_id, sku, qty) VALUES (:bot, :user, :sku, :qty)
    ON CONFLICT (bot, user_id, sku) DO UPDATE SET qty = cart_items.qty + EXCLUDED.qty;

and a flow calls them by name:

    steps:
      find:
        action: db.query
        with: {name: find_product, params: {sku: "{{ slots.sku }}"}}
        into: product
        on: {ok: show, empty: not_found}
        on_error: {say: errors.try_later, next: menu}

`db.query` answers `ok` with {rows, row (the first or null), count}, or `empty` when there are
no rows; `db.execute` runs a statement whose name ends in `!` and answers {count} (the rows it
changed). `:bot`, `:user` and `:idempotency_key` are filled from the conversation (a flow
cannot pass them, so a user never reaches another user's rows); every other `:name` must be
given in `params`, and nothing else may be. Values only ever travel as query parameters.

The connection comes from `services["db"]` (a psycopg AsyncConnectionPool, or the host's
PostgresStore); each call runs in its own transaction. The files are read when first used and
again when they change; a malformed file is an error naming `file:line`.
"""

from __future__ import annotations

import base64
import difflib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, LiteralString, cast

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from engine.runtime.actions import (
    Action,
    ActionContext,
    ActionError,
    ActionResult,
    CallCheck,
    CallProblem,
)

QUERY_FILE = "queries.sql"
QUERY_FOLDER = "queries"
AUTO_PARAMS = ("bot", "user", "idempotency_key")  # filled from the context, never from the flow
DEFAULT_MAX_ROWS = 100  # rows travel into the session: a query must not return a table

_NAME_LINE = re.compile(r"^\s*--\s*name\s*:(.*)$", re.IGNORECASE)
_VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*!?$")
_IDENT_START = re.compile(r"[A-Za-z_]")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_]")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


# ─── the query files ────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Query:
    name: str  # without the `!`
    sql: str  # as written
    statement: bool  # the name ended in `!`: it changes data, answers a row count
    converted: str  # psycopg's form: `%(name)s` placeholders, `%` doubled
    params: tuple[str, ...]  # the `:name`s it uses, in order of first use
    doc: str = ""
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class QueryFileError(ActionError):
    """A query file that cannot be used; `problems` says where (file:line) and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Queries:
    by_name: dict[str, Query] = field(default_factory=dict)

    def get(self, name: str) -> Query:
        query = self.by_name.get(name.rstrip("!"))
        if query is None:
            known = sorted(self.by_name)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            listed = ", ".join(q + ("!" if self.by_name[q].statement else "") for q in known) or "none"
            raise ActionError(f"there is no query named {name!r}{hint} (the bot's queries: {listed})")
        return query


def convert(sql: str, file: str = "<sql>", first_line: int = 1) -> tuple[str, tuple[str, ...], list[Problem]]:
    """`sql` with each `:name` placeholder as psycopg's `%(name)s` and every `%` doubled, the
    names it uses, and what makes it unusable as one query (with the line, counted from
    `first_line`): an unterminated literal or comment, more SQL after a `;`, no SQL at all.

    A small PostgreSQL lexer: nothing inside '...', E'...', "...", $tag$...$tag$, -- or /* */
    comments is a placeholder, and neither is a `::type` cast."""
    out: list[str] = []
    params: list[str] = []
    problems: list[Problem] = []
    i, n, line = 0, len(sql), first_line
    has_code = False
    ended_at = 0  # the line of a `;` that ended the statement (-1 once more SQL was reported)

    def closing(end: str, start: int, opened_at: int, what: str, backslash: bool = False) -> int:
        """The index just past the `end` closing what opened before `start` (n if it never does)."""
        j = start
        while j < n:
            if backslash and sql[j] == "\\":
                j += 2
            elif sql.startswith(end, j):
                if end in ("'", '"') and sql.startswith(end, j + 1):  # '' and "" stand for one quote
                    j += 2
                else:
                    return j + len(end)
            else:
                j += 1
        problems.append(Problem(file, opened_at, f"{what} opened here is not closed"))
        return n

    while i < n:
        c = sql[i]
        prev = sql[i - 1] if i else ""
        code = True
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            j, code = (n if j < 0 else j), False
        elif sql.startswith("/*", i):
            depth, j, code = 1, i + 2, False
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                problems.append(Problem(file, line, "a /* comment opened here is not closed"))
        elif c == "'":
            backslash = prev in ("e", "E") and (i < 2 or not _IDENT_CHAR.match(sql[i - 2]))
            j = closing("'", i + 1, line, "a string literal", backslash)
        elif c == '"':
            j = closing('"', i + 1, line, "a quoted identifier")
        elif c == "$" and not _IDENT_CHAR.match(prev) and (tag := _DOLLAR_TAG.match(sql, i)):
            j = closing(tag.group(0), tag.end(), line, f"a {tag.group(0)} quoted string")
        elif sql.startswith("::", i):
            j = i + 2
        elif c == ":" and prev != ":" and not _IDENT_CHAR.match(prev) and _IDENT_START.match(sql[i + 1:i + 2]):
            j = i + 2
            while j < n and _IDENT_CHAR.match(sql[j]):
                j += 1
            name = sql[i + 1:j]
            if name not in params:
                params.append(name)
            out.append(f"%({name})s")
            has_code = True
            i = j
            continue
        elif c == ";":
            ended_at = ended_at or line
            j, code = i + 1, False
        else:
            j = i + 1
            code = not c.isspace()
        if code:
            if ended_at > 0:
                problems.append(Problem(file, ended_at, "one statement per query: this `;` is followed by more "
                                        "SQL (give the next statement its own `-- name:`)"))
                ended_at = -1
            has_code = True
        chunk = sql[i:j]
        out.append(chunk.replace("%", "%%"))
        line += chunk.count("\n")
        i = j
    if not has_code and not problems:
        problems.append(Problem(file, first_line, "no SQL, only comments"))
    return "".join(out), tuple(params), problems


def parse(text: str, file: str = QUERY_FILE) -> list[Query]:
    """The queries of one file, in order; QueryFileError (every problem at its file:line) when
    the file is malformed. A query is a `-- name: <name>` line, optional `--` comment lines (its
    description), and its SQL up to the next `-- name:` line."""
    problems: list[Problem] = []
    blocks: list[tuple[str, int, list[str], list[str], int]] = []  # name, line, doc, sql lines, first sql line
    orphan = False
    for number, raw in enumerate(text.splitlines(keepends=True), 1):
        named = _NAME_LINE.match(raw)
        if named:
            orphan = False
            name = named.group(1).strip()
            if not _VALID_NAME.match(name):
                problems.append(Problem(file, number, f"{name!r} is not a query name: letters, digits and _, not "
                                        "starting with a digit, and `!` at the end for a statement that changes data"))
            blocks.append((name, number, [], [], 0))
            continue
        stripped = raw.strip()
        if not blocks:
            if stripped and not stripped.startswith("--") and not orphan:
                problems.append(Problem(file, number, "SQL before the first `-- name:` line: every query starts "
                                        "with `-- name: <name>`"))
                orphan = True
            continue
        name, at, doc, body, first = blocks[-1]
        if not body and stripped.startswith("--"):
            doc.append(stripped[2:].strip())
        elif body or stripped:
            body.append(raw)
            if not first:
                blocks[-1] = (name, at, doc, body, number)
    queries: list[Query] = []
    seen: dict[str, Query] = {}
    for name, at, doc, body, first in blocks:
        sql = "".join(body).strip()
        if not sql:
            problems.append(Problem(file, at, f"query {name!r} has no SQL"))
            continue
        converted, params, found = convert(sql, file, first)
        problems += found
        query = Query(name=name.rstrip("!"), sql=sql, statement=name.endswith("!"), converted=converted,
                      params=params, doc=" ".join(d for d in doc if d), file=file, line=at)
        if query.name in seen:
            problems.append(Problem(file, at, f"query {query.name!r} is declared twice (first at line {seen[query.name].line})"))
        seen.setdefault(query.name, query)
        queries.append(query)
    if problems:
        raise QueryFileError(sorted(problems, key=lambda p: p.line))
    return queries


def query_files(root: Path) -> list[Path]:
    """`queries.sql` and `queries/*.sql` of a bot folder, in the order they are read."""
    files = [root / QUERY_FILE] if (root / QUERY_FILE).is_file() else []
    return files + sorted(p for p in (root / QUERY_FOLDER).glob("*.sql") if p.is_file())


_LOADED: dict[str, tuple[tuple[tuple[str, int, int], ...], Queries]] = {}


def load_queries(root: str | Path) -> Queries:
    """Every query of the bot in folder `root`; read again when a file changed. Raises
    QueryFileError for malformed files and for a name declared in two files."""
    from engine.flow.loader import display_path

    root = Path(root)
    files = query_files(root)
    if not files:
        raise ActionError(f"the bot has no queries: write them in {display_path(root / QUERY_FILE)} "
                          f"or {display_path(root / QUERY_FOLDER)}/*.sql")
    stamp = tuple((str(f), (s := f.stat()).st_mtime_ns, s.st_size) for f in files)
    cached = _LOADED.get(str(root))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    problems: list[Problem] = []
    queries = Queries()
    for path in files:
        label = display_path(path)
        try:
            found = parse(path.read_text(encoding="utf-8"), label)
        except QueryFileError as exc:
            problems += exc.problems
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(label, 1, f"cannot read the file: {exc}"))
            continue
        for query in found:
            first = queries.by_name.get(query.name)
            if first is not None:
                problems.append(Problem(label, query.line, f"query {query.name!r} is declared twice (first at "
                                        f"{first.file}:{first.line})"))
                continue
            queries.by_name[query.name] = query
    if problems:
        raise QueryFileError(problems)
    _LOADED[str(root)] = (stamp, queries)
    return queries


# ─── running them ───────────────────────────────────────────────────────────────────────────


def _queries(ctx: ActionContext) -> Queries:
    if not ctx.bot_root:
        raise ActionError("the db plugin needs the bot's folder (ActionContext.bot_root) to find its queries.sql")
    return load_queries(ctx.bot_root)


def _pool(ctx: ActionContext) -> Any:
    db = ctx.services.get("db")
    if db is None:
        raise ActionError("the db plugin needs a database: the host injects it as services['db'] (flowbot "
                          "serve and worker do when DATABASE_URL is set)")
    pool = getattr(db, "pool", db)  # a PostgresStore carries its pool
    if not callable(getattr(pool, "connection", None)):
        raise ActionError(f"services['db'] is a {type(db).__name__}, not an AsyncConnectionPool or a PostgresStore")
    return pool


def _param(value: Any) -> Any:
    """A flow's value as a query parameter: objects (and lists of objects) go as jsonb, lists of
    plain values as arrays, the rest as themselves."""
    if isinstance(value, Mapping) or (isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value)):
        return Jsonb(value)
    return value


def _values(ctx: ActionContext, query: Query, params: Any) -> dict[str, Any]:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ActionError(f"params of query {query.name!r} must be an object, not {type(params).__name__}")
    for key in AUTO_PARAMS:
        if key in params:
            raise ActionError(f"`{key}` is filled from the conversation: do not pass it in params")
    declared = ", ".join(p for p in query.params if p not in AUTO_PARAMS) or "none"
    unknown = [str(k) for k in params if k not in query.params]
    if unknown:
        raise ActionError(f"query {query.name!r} has no parameter {', '.join(map(repr, unknown))} "
                          f"(its parameters: {declared})")
    missing = [p for p in query.params if p not in params and p not in AUTO_PARAMS]
    if missing:
        raise ActionError(f"query {query.name!r} needs the parameter {', '.join(map(repr, missing))} "
                          f"(its parameters: {declared})")
    auto = {"bot": ctx.bot, "user": ctx.user, "idempotency_key": ctx.idempotency_key}
    return {p: _param(params[p]) if p in params else auto[p] for p in query.params}


def plain(value: Any) -> Any:
    """A database value as JSON (the result goes into the session): numeric as a number (an
    int when whole), dates and times as ISO 8601 text, intervals as seconds, bytea as base64,
    UUIDs and other types as text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return float(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


async def _run(ctx: ActionContext, query: Query, params: Any) -> tuple[int, list[dict[str, Any]] | None]:
    values = _values(ctx, query, params)
    settings = ctx.settings.get("db") if isinstance(ctx.settings.get("db"), Mapping) else {}
    max_rows = int(settings.get("max_rows", DEFAULT_MAX_ROWS))
    # the SQL is the bot's own declared text, never built from values: those travel as parameters
    sql = cast(LiteralString, query.converted)
    async with _pool(ctx).connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, values)
        if query.statement:
            return max(cur.rowcount, 0), None
        if cur.description is None:
            raise ActionError(f"query {query.name!r} returns no rows: if it changes data, name it "
                              f"{query.name}! and call it with db.execute")
        rows = await cur.fetchmany(max_rows + 1)
        if len(rows) > max_rows:
            raise ActionError(f"query {query.name!r} returned more than {max_rows} rows (settings.db.max_rows): "
                              "add a LIMIT")
        return len(rows), [plain(row) for row in rows]


async def query(ctx: ActionContext, name: str, params: Mapping[str, Any] | None = None) -> ActionResult:
    found = _queries(ctx).get(name)
    if found.statement:
        raise ActionError(f"query {found.name}! changes data: call it with db.execute")
    count, rows = await _run(ctx, found, params)
    rows = rows or []
    return ActionResult(outcome="ok" if rows else "empty", data={"rows": rows, "row": rows[0] if rows else None, "count": count})


async def execute(ctx: ActionContext, name: str, params: Mapping[str, Any] | None = None) -> ActionResult:
    found = _queries(ctx).get(name)
    if not found.statement:
        raise ActionError(f"query {found.name!r} reads data: call it with db.query (or, if it changes data, "
                          f"name it {found.name}!)")
    count, _ = await _run(ctx, found, params)
    return ActionResult(outcome="ok", data={"count": count})


# ─── lint: the calls in flows ───────────────────────────────────────────────────────────────


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _lint(statement: bool) -> CallCheck:
    """`Action.check` of db.query (statement False) or db.execute: the name is declared in the
    bot's query files, of the right kind, and `params` gives exactly its parameters."""

    def check(args: Mapping[str, Any], root: Path) -> list[CallProblem]:
        name = args.get("name")
        if not isinstance(name, str) or _templated(name):
            return []
        try:
            queries = load_queries(root)
        except QueryFileError as exc:
            return [CallProblem(p.message, "db.query_file", file=p.file, line=p.line) for p in exc.problems]
        except ActionError as exc:  # no query files at all
            return [CallProblem(str(exc), "db.unknown_query", ("name",))]
        try:
            found = queries.get(name)
        except ActionError as exc:
            return [CallProblem(str(exc), "db.unknown_query", ("name",))]
        declared = found.name + ("!" if found.statement else "")
        if found.statement != statement:
            other = "db.execute" if found.statement else "db.query"
            what = "changes data (its name ends in `!`)" if found.statement else "reads data (no `!` in its name)"
            return [CallProblem(f"query {declared!r} {what}: call it with {other}"
                                + ("" if found.statement else f", or if it changes data name it {found.name}! in "
                                   f"{found.file}"), "db.query_kind", ("name",))]
        if name.endswith("!") and not found.statement:
            return [CallProblem(f"query {found.name!r} is declared without `!` (it reads data): write "
                                f"`name: {found.name}`", "db.query_kind", ("name",))]
        return _lint_params(args.get("params"), found)

    return check


def _lint_params(params: Any, query: Query) -> list[CallProblem]:
    if _templated(params) or not isinstance(params, (Mapping, type(None))):
        return []  # a template is only known at run time; another type is the args schema's to report
    given = params or {}
    wanted = [p for p in query.params if p not in AUTO_PARAMS]
    listed = ", ".join(wanted) or "none"
    problems = []
    for key in given:
        if key in AUTO_PARAMS:
            problems.append(CallProblem(f"`{key}` is filled from the conversation: do not pass it in params",
                                        "db.params", ("params", key), key=True))
        elif key not in query.params:
            problems.append(CallProblem(f"query {query.name!r} has no parameter {key!r}"
                                        + _close(str(key), wanted) + f" (its parameters: {listed})",
                                        "db.params", ("params", key), key=True))
    missing = [p for p in wanted if p not in given]
    if missing:
        problems.append(CallProblem(f"query {query.name!r} needs the parameter{'s' if len(missing) > 1 else ''} "
                                    f"{', '.join(map(repr, missing))} (its parameters: {listed})", "db.params",
                                    ("params",) if params is not None else ("name",), key=params is not None))
    return problems


def _close(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _args(what: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": f"The name of the {what} in the bot's queries.sql."},
            "params": {"type": "object", "description": "Values of its :name parameters (not bot, user, "
                       "idempotency_key: those come from the conversation)."},
        },
        "required": ["name"],
        "additionalProperties": False,
    }


ACTIONS = [
    Action(
        name="db.query",
        fn=query,
        args=_args("query"),
        result={"rows": {"type": "array"}, "row": {"type": ["object", "null"]}, "count": {"type": "integer"}},
        outcomes=("ok", "empty"),
        check=_lint(statement=False),
        description="Run one of the bot's named SELECT queries: rows, first row, count (empty: no rows)",
    ),
    Action(
        name="db.execute",
        fn=execute,
        args=_args("statement (its name ends in `!`)"),
        result={"count": {"type": "integer"}},
        outcomes=("ok",),
        check=_lint(statement=True),
        description="Run one of the bot's named statements that change data (name ending in `!`): the row count",
    ),
]
