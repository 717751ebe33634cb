"""Static checks beyond the schema (placeholder: filled in by the lint work)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.flow.problems import Problem

if TYPE_CHECKING:
    from engine.flow.loader import LoadedBot


def run(loaded: LoadedBot) -> list[Problem]:
    return []
