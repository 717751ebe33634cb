"""The Dockerfile, read (no Docker daemon is needed): the base image, a non-root user, `flowbot`
as the entry, a health check on /healthz; every path it copies exists and is not excluded by
.dockerignore; and the tree it copies, on its own, is enough to load and lint the bots (the
engine finds schemas/, flows/ and locales/ in /app, where it is installed in place)."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def ignored(path: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    parts = Path(path).parts
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(parts[0], p) for p in patterns)


def copied() -> list[str]:
    sources = []
    for word, rest in instructions():
        if word == "COPY":
            sources += shlex.split(rest)[:-1]
    return sources


def test_the_image_is_slim_non_root_and_serves_with_a_health_check() -> None:
    found = instructions()
    words = [w for w, _ in found]
    assert found[0] == ("FROM", "python:3.11-slim")
    user = [rest for w, rest in found if w == "USER"]
    assert user and user[-1] not in ("root", "0") and words.index("USER") > words.index("RUN")
    assert json.loads(dict(found)["ENTRYPOINT"]) == ["flowbot"]
    assert json.loads(dict(found)["CMD"])[0] == "serve"
    health = dict(found)["HEALTHCHECK"]
    assert "/healthz" in health and "8000" in health and "EXPOSE" in words
    assert not any("REDIS_URL=" in rest or "DATABASE_URL=" in rest for w, rest in found if w == "ENV")  # from the run's environment


def test_every_copied_path_exists_and_reaches_the_build() -> None:
    for source in copied():
        assert (ROOT / source).exists(), source
        assert not ignored(source), f"{source} is copied but .dockerignore leaves it out"
    for junk in (".git", ".flowbot", "tests", "engine/__pycache__", "flowbot.egg-info"):
        assert ignored(junk), junk


def test_the_copied_tree_alone_loads_and_lints_the_bots(tmp_path: Path) -> None:
    app = tmp_path / "app"
    for source in copied():
        target = app / source
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / source, target)
    env = {**os.environ, "PYTHONPATH": str(app)}
    for bot in sorted(p.name for p in (app / "flows").iterdir() if (p / "bot.yaml").is_file()):
        done = subprocess.run([sys.executable, "-m", "engine.cli", "lint", f"flows/{bot}"], cwd=app, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    probe = subprocess.run([sys.executable, "-c", "import engine, engine.flow.schema as s; print(engine.__file__, s.SCHEMA_DIR)"],
                           cwd=app, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert probe.stdout.split() == [str(app / "engine" / "__init__.py"), str(app / "schemas")]
