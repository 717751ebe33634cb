"""`flowbot test BOT`: run a bot's transcripts with pytest, then say what none of them reaches."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.flow.loader import load_bot
from engine.testing import pytest_plugin
from engine.testing.coverage import Coverage


def transcripts_dir(bot_dir: Path, name: str) -> Path:
    for parent in [bot_dir.resolve(), *bot_dir.resolve().parents]:
        candidate = parent / "tests" / "transcripts" / name
        if candidate.is_dir():
            return candidate
    return bot_dir.resolve().parents[1] / "tests" / "transcripts" / name


def run_bot_transcripts(bot_dir: Path, update: bool = False) -> int:
    loaded = load_bot(bot_dir)
    folder = transcripts_dir(bot_dir, loaded.bot.name)
    if not folder.is_dir():
        print(f"flowbot: no transcripts for {loaded.bot.name} (expected {folder})")
        return 1
    coverage = Coverage()
    pytest_plugin.COVERAGE = coverage
    try:
        # syrupy is already imported (by this module's plugin import), so pytest cannot rewrite
        # its asserts; that warning must not fail the run under filterwarnings=error.
        args = [str(folder), "-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
        args += ["--snapshot-update"] if update else []
        code = int(pytest.main(args))
    finally:
        pytest_plugin.COVERAGE = None
    print()
    print(f"coverage of {loaded.bot.name} by its transcripts:")
    total_steps = total_missing = 0
    for flow, (steps, edges) in sorted(coverage.missing(loaded.bot).items()):
        count = len(loaded.bot.flows[flow].steps)
        total_steps += count
        total_missing += len(steps)
        print(f"  {flow}: {count - len(steps)}/{count} steps reached")
        for step in steps:
            print(f"    step never reached: {step}")
        for edge in edges:
            print(f"    transition never taken: {edge}")
    print(f"  total: {total_steps - total_missing}/{total_steps} steps")
    return code
