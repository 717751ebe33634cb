"""`flowbot templates list|apply|delete`: argument checks, the environment, printing, exit codes.

Exit codes: 0 done; 1 a Graph error (printed as `error <code>/<subcode>: <message> (fbtrace_id
…)`), broken template files, problems found by `apply --check`, or a template apply could not
version; 2 a usage error or a missing WHATSAPP_TOKEN / WHATSAPP_WABA_ID.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from engine.templates import sync
from engine.templates.files import load_dir
from engine.templates.graph import ConfigError, GraphError, TemplatesAPI
from engine.templates.references import bot_dirs, check_bots

ACTIONS = ("list", "apply", "delete")


def out(line: str) -> None:
    print(line, flush=True)


def err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(action: str, name: str | None, language: str | None, directory: Path, *, dry_run: bool = False,
        check: bool = False, bots: list[Path] | None = None) -> int:
    if action not in ACTIONS:
        err(f"flowbot: templates {action!r}: the action is list, apply or delete")
        return 2
    if action == "delete" and not name:
        err("flowbot: templates delete NAME [LANGUAGE]: which template (its WhatsApp name, like haraka_parcel_update_v1)?")
        return 2
    if action != "delete" and (name or language):
        err(f"flowbot: templates {action} takes no NAME or LANGUAGE")
        return 2
    if check and action != "apply":
        err("flowbot: --check goes with apply")
        return 2
    templates = []
    if action == "apply":
        templates, problems = load_dir(directory)
        for problem in problems:
            out(str(problem))
        if problems:
            err(f"{len(problems)} problem(s) in {directory}: nothing applied")
            return 1
        if check:
            return _check(templates, directory, bots)
    try:
        api = TemplatesAPI.from_env()
    except ConfigError as exc:
        err(f"flowbot: {exc}")
        return 2
    return asyncio.run(_graph(api, action, name, language, templates, dry_run))


def _check(templates: list, directory: Path, bots: list[Path] | None) -> int:
    dirs = bots if bots is not None else bot_dirs()
    problems = check_bots(dirs, templates, directory)
    for problem in problems:
        out(str(problem))
    checked = f"{len(templates)} template(s) in {directory}, {len(dirs)} bot(s)"
    if problems:
        err(f"{len(problems)} problem(s): {checked}")
        return 1
    out(f"ok: {checked}")
    return 0


async def _graph(api: TemplatesAPI, action: str, name: str | None, language: str | None, templates: list,
                 dry_run: bool) -> int:
    async with api:
        try:
            if action == "list":
                await sync.list_templates(api, out)
            elif action == "delete":
                assert name is not None
                await sync.delete(api, name, language, out, dry_run=dry_run)
            else:
                summary = await sync.apply(api, templates, out, dry_run=dry_run, bots=bot_dirs())
                out(("dry run: " if dry_run else "") + str(summary))
                if summary.refused:
                    return 1
        except GraphError as exc:
            err(str(exc))
            return 1
        except sync.SyncError as exc:
            err(f"flowbot: {exc}")
            return 1
    return 0
