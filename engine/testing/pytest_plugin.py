"""pytest plugin: every `tests/transcripts/**/*.yaml` is a test.

Each transcript is played through the real runtime; its explicit expectations are checked, and
the whole rendered conversation is compared with a syrupy snapshot
(`__snapshots__/<transcript>/transcript.txt` beside it). Review changes with a normal diff and
accept them with `pytest --snapshot-update`.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.testing.coverage import Coverage
from engine.testing.transcript import Played, TranscriptError, play

COVERAGE: Coverage | None = None  # set by `flowbot test` to learn which steps transcripts reach

try:
    from syrupy.assertion import SnapshotAssertion
    from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
    from syrupy.location import PyTestLocation
except ImportError:  # pragma: no cover - syrupy is a test dependency
    SnapshotAssertion = None  # type: ignore[assignment,misc]


if SnapshotAssertion is not None:

    class TranscriptSnapshot(SingleFileSnapshotExtension):
        """Plain UTF-8 text files, one per transcript, that read like the conversation."""

        _write_mode = WriteMode.TEXT
        file_extension = "txt"


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "transcripts" in file_path.parts and "__snapshots__" not in file_path.parts:
        return TranscriptFile.from_parent(parent, path=file_path)
    return None


class TranscriptFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield TranscriptItem.from_parent(self, name="transcript")


def _transcript() -> None:
    """Stand-in for syrupy, which names snapshots after a test function."""


class TranscriptFailure(Exception):
    def __init__(self, played: Played, failures: list[str], diff: str = "") -> None:
        super().__init__("\n".join(failures))
        self.played, self.failures, self.diff = played, failures, diff


class TranscriptItem(pytest.Item):
    obj = staticmethod(_transcript)

    def runtest(self) -> None:
        played = asyncio.run(play(self.path, COVERAGE))
        failures = list(played.failures)
        diff = ""
        if SnapshotAssertion is not None:
            snapshot = SnapshotAssertion(
                update_snapshots=self.config.option.update_snapshots,
                update_new_snapshots_only=getattr(self.config.option, "update_new_snapshots_only", False),
                extension_class=TranscriptSnapshot,
                test_location=PyTestLocation(self),
                session=self.config._syrupy,  # type: ignore[attr-defined]
            )
            stored = _stored(snapshot)
            if not snapshot == played.text:
                failures.append("the conversation differs from its snapshot (run pytest --snapshot-update to accept)")
                if stored is not None:
                    diff = "".join(difflib.unified_diff(stored.splitlines(True), played.text.splitlines(True), "snapshot", "now"))
                else:
                    diff = played.text
        if failures:
            raise TranscriptFailure(played, failures, diff)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        exc = excinfo.value
        if isinstance(exc, TranscriptFailure):
            parts = ["transcript failed:"] + [f"  - {f}" for f in exc.failures]
            if exc.diff:
                parts += ["", "conversation diff (- snapshot, + now):", exc.diff]
            else:
                parts += ["", "conversation:", exc.played.text]
            return "\n".join(parts)
        if isinstance(exc, TranscriptError):
            return f"transcript cannot be played: {exc}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"transcript {self.path.name}"


def _stored(snapshot: Any) -> str | None:
    try:
        data = snapshot._recall_data(snapshot.index)[0]
    except Exception:  # noqa: BLE001 - only used to print a nicer diff
        return None
    return data if isinstance(data, str) else None
