"""`flowbot test BOT` runs the bot's transcripts and reports what none of them reaches."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_transcripts_reach_every_step_and_transition() -> None:
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "test", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = proc.stdout[proc.stdout.index("coverage of demo"):]
    assert "never reached" not in report and "never taken" not in report, report
    total = [line for line in report.splitlines() if "total:" in line][0]
    reached, steps = total.split()[-2].split("/")
    assert reached == steps and int(steps) > 30


def test_an_unreached_step_is_reported(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "flows" / "demo", work / "flows" / "demo")
    shutil.copytree(ROOT / "locales" / "demo", work / "locales" / "demo")
    (work / "tests" / "transcripts" / "demo").mkdir(parents=True)
    only = ROOT / "tests" / "transcripts" / "demo" / "14_track_a_parcel.yaml"
    shutil.copy(only, work / "tests" / "transcripts" / "demo" / only.name)
    shutil.copytree(only.parent / "__snapshots__" / only.stem, work / "tests" / "transcripts" / "demo" / "__snapshots__" / only.stem)
    (work / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "test", "demo"], cwd=work, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "step never reached: ask_weight" in proc.stdout
    assert "booking: " in proc.stdout and "transition never taken" in proc.stdout
