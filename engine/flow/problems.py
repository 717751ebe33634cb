"""Problems found in a bot's files, in one format everywhere:

    flows/shop/cart.yaml:12:7: $.steps.menu.choices: at most 3 buttons, found 4 [whatsapp.buttons]
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    file: str
    line: int
    col: int
    path: str
    message: str
    code: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        tag = "" if self.severity is Severity.ERROR else "warning: "
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {tag}{self.message} [{self.code}]"


class BotError(Exception):
    """A bot that cannot load: carries every problem found, sorted."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        errors = [p for p in self.problems if p.severity is Severity.ERROR]
        head = "\n".join(str(p) for p in errors[:20])
        more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"the bot has {len(errors)} error(s):\n{head}{more}")


def json_path(parts: tuple[object, ...]) -> str:
    """`("steps", "menu", "choices", 0)` as `$.steps.menu.choices[0]`."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
