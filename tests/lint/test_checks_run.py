"""`checks.run` itself: a bug in one check is reported as a problem, and the others still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.flow import checks
from engine.flow.checks._context import Context
from engine.flow.loader import inspect_bot

BROKEN = Path(__file__).resolve().parent / "broken"


def test_a_crashing_check_is_a_problem_not_a_traceback(monkeypatch: pytest.MonkeyPatch, plugins_on_path: None) -> None:
    def broken_check(ctx: Context) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(checks, "CHECKS", (broken_check,) + checks.CHECKS)
    loaded, problems = inspect_bot(BROKEN / "unknown_step_next")
    assert loaded is None
    assert sorted(p.code for p in problems) == ["flow.unknown_step", "lint.internal"]
    assert "RuntimeError: boom" in next(p.message for p in problems if p.code == "lint.internal")
