"""Fixtures for the lint tests: the action modules the corpus of broken bots names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent / "plugins"  # the `lintcase.*` modules the corpus names


@pytest.fixture
def plugins_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(PLUGINS))
    yield
