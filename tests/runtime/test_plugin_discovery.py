"""Plugins come from installed packages (entry points), this repository's actions/, or a path."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from engine.runtime.actions import PluginError, Plugins


def test_an_entry_point_name_wins_over_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "flowbot_extra"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "acts.py").write_text(
        "from engine.runtime.actions import Action\n"
        "async def hello(ctx):\n    return {'hi': 1}\n"
        "ACTIONS = [Action(name='extra.hello', fn=hello)]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = importlib.metadata.entry_points

    def fake_entry_points(**kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("group") == "flowbot.actions":
            return [importlib.metadata.EntryPoint(name="extra", value="flowbot_extra.acts", group="flowbot.actions")]
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    plugins = Plugins.load(["extra", "http"])
    assert set(plugins.actions) == {"extra.hello", "http.post"}


def test_a_missing_module_is_a_clear_error() -> None:
    with pytest.raises(PluginError, match="cannot import action module 'actions.nope'"):
        Plugins.load(["nope"])
    sys.modules.pop("actions.nope", None)
