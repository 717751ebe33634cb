"""The lint corpus: one bot per folder under broken/, each with one fault, and the exact
problems it must give in its expected.txt, one a line: `file:line:col code`, then `warning`
for a warning (files relative to the case folder; `#` starts a comment).

Some faults are refused by the JSON Schema before the checks see them. Those cases also have
an expected.noschema.txt: what the check behind the schema finds with the schema switched off,
so each check keeps an exact case even where the schema covers it today.

To add a case: make a folder with bot.yaml, a flow or two and locales/, run
`flowbot lint tests/lint/broken/<case>` (with PYTHONPATH=tests/lint/plugins), check each line
points at the fault, and write expected.txt.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.flow import schema
from engine.flow.loader import inspect_bot
from engine.flow.problems import Problem, Severity

BROKEN = Path(__file__).resolve().parent / "broken"
CASES = sorted(p.name for p in BROKEN.iterdir() if (p / "bot.yaml").is_file())

# Cases whose expected.txt says what should happen, where the project does not do it yet.
# strict xfail: when it starts to pass, this entry must go.
KNOWN_GAPS = {
}

# Every code a check reports, each with at least one case (test_every_code_has_a_case).
CODES = {
    "flow.unknown_step", "flow.unknown_flow", "flow.unknown_start", "flow.reserved_step", "bot.unknown_flow",
    "flow.unreachable", "flow.unused", "flow.dead_end", "flow.choice_dead_end",
    "action.outcome_unhandled", "action.no_error_branch", "plugin.import", "action.unknown", "action.args",
    "validator.unknown", "validator.option", "slot.undeclared",
    "locale.missing_key", "locale.missing_translation", "locale.extra_key",
    "template.syntax", "template.unknown_variable", "template.unknown_slot", "template.expression",
    "whatsapp.button_title", "whatsapp.row_title", "whatsapp.row_description", "whatsapp.button_description",
    "whatsapp.list_button", "whatsapp.interactive_body", "whatsapp.text_body", "whatsapp.choice_id",
    "flow.duplicate_choice", "window.template", "window.unknown_template", "window.after_expiry",
    "bot.fallback", "bot.duplicate_word", "action.outcome_unknown",
    "db.unknown_query", "db.query_kind", "db.params", "db.query_file",
}

LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+) (?P<code>[A-Za-z_]+\.[A-Za-z_]+)(?P<warning> warning)?$")


def read_expected(file: Path) -> set[str]:
    out = set()
    for raw in file.read_text(encoding="utf-8").splitlines():
        text = raw.split("#", 1)[0].strip()
        if text:
            assert LINE.match(text), f"{file}: cannot read {raw!r}"
            out.add(text)
    return out


def as_lines(case_dir: Path, problems: list[Problem]) -> set[str]:
    out = set()
    for p in problems:
        file = Path(p.file)
        file = (file if file.is_absolute() else Path.cwd() / file).resolve().relative_to(case_dir.resolve())
        warning = " warning" if p.severity is Severity.WARNING else ""
        out.add(f"{file.as_posix()}:{p.line}:{p.col} {p.code}{warning}")
    return out


def _params(name: str) -> list[object]:
    out: list[object] = []
    for case in CASES:
        if not (BROKEN / case / name).is_file():
            continue
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[case])] if case in KNOWN_GAPS and name == "expected.txt" else []
        out.append(pytest.param(case, marks=marks, id=case))
    return out


@pytest.mark.parametrize("case", _params("expected.txt"))
def test_case_gives_exactly_its_problems(case: str, plugins_on_path: None) -> None:
    case_dir = BROKEN / case
    _, problems = inspect_bot(case_dir)
    assert as_lines(case_dir, problems) == read_expected(case_dir / "expected.txt"), "\n".join(map(str, problems))
    for problem in problems:  # the sentence is for people: a JSON path, words, no Python repr of objects
        assert problem.path.startswith("$") and len(problem.message) > 10 and "object at 0x" not in problem.message


@pytest.mark.parametrize("case", _params("expected.noschema.txt"))
def test_check_behind_the_schema(case: str, plugins_on_path: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "check", lambda doc, kind, label: [])
    case_dir = BROKEN / case
    _, problems = inspect_bot(case_dir)
    assert as_lines(case_dir, problems) == read_expected(case_dir / "expected.noschema.txt"), "\n".join(map(str, problems))


def test_clean_bot_loads(plugins_on_path: None) -> None:
    loaded, problems = inspect_bot(BROKEN / "_clean")
    assert problems == [] and loaded is not None


def test_every_code_has_a_case() -> None:
    found = set()
    for case in CASES:
        for file in (BROKEN / case).glob("expected*.txt"):
            found |= {line.split()[1] for line in read_expected(file)}
    assert CODES - found == set()


def test_corpus_is_one_fault_per_case() -> None:
    """A case shows one mistake: all its expected lines share one code (a few positions at most)."""
    for case in CASES:
        codes = {line.split()[1] for line in read_expected(BROKEN / case / "expected.txt")}
        assert len(codes) <= 1, f"{case}: {sorted(codes)}"
