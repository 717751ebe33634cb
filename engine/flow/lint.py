"""`flowbot lint`: every problem in every path given, sorted, never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

from engine.flow import schema
from engine.flow._yaml import YamlProblem, load
from engine.flow.loader import MANIFEST, display_path, inspect_bot
from engine.flow.problems import Problem

log = logging.getLogger("flowbot.lint")


def bot_dirs(path: Path) -> list[Path] | None:
    """The bot folders a path stands for: itself, its subfolders with a manifest, or None."""
    if (path / MANIFEST).is_file():
        return [path]
    if path.is_dir():
        found = sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
        return found or None
    if path.is_file() and (path.parent / MANIFEST).is_file():
        return [path.parent]
    return None


def lint_file(path: Path) -> list[Problem]:
    """A lone flow file (no bot around it): YAML and schema only."""
    label = display_path(path)
    try:
        doc = load(path.read_bytes())
    except YamlProblem as exc:
        return [Problem(label, exc.line, exc.col, "$", exc.message, exc.code)]
    except OSError as exc:
        return [Problem(label, 1, 1, "$", f"cannot read the file: {exc.strerror}", "file.read")]
    kind = "bot" if path.name == MANIFEST else "flow"
    return schema.check(doc, kind, label)


def lint_paths(paths: list[Path]) -> list[Problem]:
    problems: set[Problem] = set()
    seen: set[Path] = set()
    for path in paths:
        try:
            if not path.exists():
                problems.add(Problem(str(path), 1, 1, "$", "no such file or folder", "file.missing"))
                continue
            dirs = bot_dirs(path)
            if dirs is None:
                if path.is_file():
                    problems.update(lint_file(path))
                else:
                    problems.add(Problem(str(path), 1, 1, "$", f"no bot here (no {MANIFEST})", "bot.manifest"))
                continue
            for bot_dir in dirs:
                if bot_dir.resolve() in seen:
                    continue
                seen.add(bot_dir.resolve())
                problems.update(inspect_bot(bot_dir)[1])
        except Exception as exc:  # lint never shows a traceback; the bug is ours, say so plainly
            log.debug("lint crashed", exc_info=True)
            problems.add(Problem(str(path), 1, 1, "$", f"flowbot could not check this ({type(exc).__name__}: {exc}); please report it", "lint.internal"))
    return sorted(problems)
