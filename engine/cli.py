"""The `flowbot` command line: chat, lint, graph, test."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="flowbot: WhatsApp bots as YAML flows.")


def resolve_bot(bot: str) -> Path:
    """A bot given as a folder (flows/demo) or by name (demo)."""
    path = Path(bot)
    if (path / "bot.yaml").is_file():
        return path
    named = Path("flows") / bot
    if (named / "bot.yaml").is_file():
        return named
    typer.echo(f"flowbot: no bot at {bot!r} (expected a folder with bot.yaml, or a name under flows/)", err=True)
    raise typer.Exit(2)


@app.command()
def chat(
    bot: str = typer.Argument(..., help="The bot: a folder with bot.yaml, or its name under flows/."),
    script: Optional[Path] = typer.Option(None, "--script", help="Read user messages from FILE, one per line."),
    as_json: bool = typer.Option(False, "--json", help="Print each bot message as a WhatsApp Cloud API body, one JSON line."),
    user: str = typer.Option("15550000001", "--user", help="The user's WhatsApp id."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Start in this language."),
) -> None:
    """Chat with a bot in the terminal, or play a script of messages."""
    from engine.chat import run_interactive, run_script
    from engine.flow.problems import BotError

    bot_dir = resolve_bot(bot)
    try:
        if script is not None:
            code = asyncio.run(run_script(bot_dir, script, as_json=as_json, user=user, lang=lang))
        else:
            code = asyncio.run(run_interactive(bot_dir, user=user, lang=lang))
    except BotError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


@app.command()
def lint(
    paths: list[Path] = typer.Argument(..., help="Bot folders, a folder of bots (flows/), or flow files."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
) -> None:
    """Check bots: schema, references, translations, templates, WhatsApp limits, the 24-hour window."""
    from engine.flow.lint import lint_paths

    problems = lint_paths(paths)
    for problem in problems:
        typer.echo(str(problem))
    errors = sum(1 for p in problems if p.severity.value == "error")
    warnings = len(problems) - errors
    if problems:
        typer.echo(f"{errors} error(s), {warnings} warning(s)", err=True)
    raise typer.Exit(1 if errors or (strict and warnings) else 0)


@app.command()
def graph(
    bot: str = typer.Argument(..., help="The bot: a folder with bot.yaml, or its name under flows/."),
    fmt: str = typer.Option("mermaid", "--format", help="mermaid or svg."),
    flow: Optional[str] = typer.Option(None, "--flow", help="Only this flow."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write one file per flow into this folder."),
) -> None:
    """Draw each flow of a bot as a diagram."""
    from engine.flow.graph import render
    from engine.flow.loader import load_bot
    from engine.flow.problems import BotError

    if fmt not in ("mermaid", "svg"):
        typer.echo("flowbot: --format is mermaid or svg", err=True)
        raise typer.Exit(2)
    try:
        loaded = load_bot(resolve_bot(bot))
    except BotError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    flows = [f for f in loaded.bot.flows.values() if flow is None or f.name == flow]
    if not flows:
        typer.echo(f"flowbot: no flow named {flow!r}", err=True)
        raise typer.Exit(2)
    for f in flows:
        text = render(f, fmt)
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
            target = output / f"{f.name}.{'mmd' if fmt == 'mermaid' else 'svg'}"
            target.write_text(text, encoding="utf-8")
            typer.echo(str(target))
        else:
            typer.echo(text)


@app.command("test")
def test_bot(
    bot: str = typer.Argument(..., help="The bot whose transcripts (tests/transcripts/BOT/) to run."),
    update: bool = typer.Option(False, "--update", help="Accept changed snapshots."),
) -> None:
    """Run a bot's transcripts and print the steps and transitions none of them reaches."""
    from engine.testing.report import run_bot_transcripts

    raise typer.Exit(run_bot_transcripts(resolve_bot(bot), update=update))


@app.command()
def serve(
    bots: list[str] = typer.Argument(..., help="The bots to serve: folders with bot.yaml, or names under flows/."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    prefix: str = typer.Option("fb", "--prefix", help="Redis key prefix (several deployments on one Redis)."),
    with_worker: Optional[bool] = typer.Option(None, "--with-worker/--no-worker",
                                               help="Run the workers in this process too (default: only on the embedded Redis)."),
) -> None:
    """Take webhooks from WhatsApp, Twilio, Interakt and Chatwoot (REDIS_URL, or an embedded Redis)."""
    from engine.serve import serve_main

    serve_main([resolve_bot(b) for b in bots], host, port, prefix, with_worker)


@app.command()
def worker(
    bots: list[str] = typer.Argument(..., help="The bots to work for: folders with bot.yaml, or names under flows/."),
    prefix: str = typer.Option("fb", "--prefix", help="Redis key prefix."),
) -> None:
    """Run turns, send replies and fire reminders (run as many as you need against one Redis)."""
    from engine.serve import worker_main

    worker_main([resolve_bot(b) for b in bots], prefix)


@app.command()
def dlq(
    action: str = typer.Argument(..., help="list, retry or drop."),
    entry: Optional[str] = typer.Argument(None, help="The entry id (retry, drop); `all` for every entry."),
    prefix: str = typer.Option("fb", "--prefix", help="Redis key prefix."),
) -> None:
    """Look at, send again or drop messages the sender gave up on (REDIS_URL, or the embedded Redis)."""
    from engine.delivery.dlq_cli import run_dlq

    raise typer.Exit(asyncio.run(run_dlq(action, entry, prefix)))


@app.command()
def migrate(
    database_url: Optional[str] = typer.Option(None, "--database-url", envvar="DATABASE_URL",
                                               help="The server to migrate (default: DATABASE_URL, else the embedded one)."),
) -> None:
    """Apply the pending SQL migrations (engine/store/migrations/) and print what was applied."""
    import psycopg

    from engine.store import embedded
    from engine.store.migrate import MigrationError, migrate as apply

    where = "DATABASE_URL" if database_url else f"the embedded PostgreSQL in {embedded.DEFAULT_DIRECTORY}"
    try:
        result = apply(database_url or embedded.start())
    except (MigrationError, embedded.EmbeddedPostgresError) as exc:
        typer.echo(f"flowbot: {exc}", err=True)
        raise typer.Exit(1) from None
    except psycopg.Error as exc:  # a server that does not answer, bad credentials, ...
        typer.echo(f"flowbot: cannot migrate {where}: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    for name in result.applied:
        typer.echo(f"applied {name}")
    for version in result.unknown:
        typer.echo(f"note: the database has migration {version}, which this flowbot does not know (a newer version ran)")
    if not result.applied:
        typer.echo("nothing to apply")
    typer.echo(f"schema at {result.version:04d} on {where}")


@app.command()
def templates(
    action: str = typer.Argument(..., help="list, apply or delete."),
    name: Optional[str] = typer.Argument(None, help="delete: the template's WhatsApp name (haraka_parcel_update_v1)."),
    language: Optional[str] = typer.Argument(None, help="delete: only this language (default: every language)."),
    directory: Path = typer.Option(Path("templates/whatsapp"), "--dir", help="The template files (one YAML per template)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what apply or delete would change; change nothing."),
    check: bool = typer.Option(False, "--check", help="apply: only check the files and that every template the bots' "
                                                      "manifests name is among them; no Graph call."),
    bots: Optional[list[str]] = typer.Option(None, "--bot", help="--check: the bots to check (default: every bot under flows/)."),
) -> None:
    """WhatsApp message templates: list them, apply templates/whatsapp/ to WHATSAPP_WABA_ID, delete one."""
    from engine.templates.command import run

    dirs = [resolve_bot(b) for b in bots] if bots else None
    raise typer.Exit(run(action, name, language, directory, dry_run=dry_run, check=check, bots=dirs))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
