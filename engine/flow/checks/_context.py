"""What every check needs: the loaded bot, where each file's pieces are, and a way to report.

Checks point at the exact key or value at fault, so they report through `Context.at` with a
JSON path into the file's document; the document turns it into a line and a column.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from jinja2.sandbox import SandboxedEnvironment

from engine.flow._yaml import Document
from engine.flow.loader import MANIFEST, display_path
from engine.flow.model import Bot, Flow
from engine.flow.problems import Problem, Severity, json_path
from engine.i18n.catalog import Catalog
from engine.i18n.render import make_environment
from engine.runtime.actions import Plugins

if TYPE_CHECKING:
    from engine.flow.loader import LoadedBot

ERROR, WARNING = Severity.ERROR, Severity.WARNING
JsonPath = tuple[Any, ...]  # ("steps", "menu", "choices", 0): where a value is in a YAML document


@dataclass
class Context:
    loaded: LoadedBot
    problems: list[Problem] = field(default_factory=list)
    plugins: Plugins = field(default_factory=Plugins)
    plugins_complete: bool = True  # False when an action module failed to import
    # set by the reference checks: reachability is a guess where a name did not resolve
    unresolved_steps: set[str] = field(default_factory=set)  # flows with a step name that is missing
    unresolved_flows: bool = False  # some flow name is missing

    @property
    def bot(self) -> Bot:
        return self.loaded.bot

    @property
    def flows(self) -> list[Flow]:
        return list(self.bot.flows.values())

    @property
    def all_flows_known(self) -> bool:
        """Every flow file was read, so a name missing from `bot.flows` is really missing."""
        return not self.loaded.unloaded

    @cached_property
    def env(self) -> SandboxedEnvironment:
        return make_environment()

    @cached_property
    def manifest_file(self) -> str:
        return display_path(self.bot.root / MANIFEST)

    def file_of(self, flow: Flow) -> str:
        return display_path(flow.file)

    def document(self, file: str) -> Document:
        return self.loaded.documents.get(file) or Document(data={})

    def step_data(self, flow: Flow, step: str) -> dict[str, Any]:
        """The step as written in YAML (keys exactly as typed, for exact positions)."""
        data = self.document(self.file_of(flow)).data
        found = ((data or {}).get("steps") or {}).get(step) if isinstance(data, dict) else None
        return found if isinstance(found, dict) else {}

    def at(self, file: str, path: JsonPath, message: str, code: str,
           severity: Severity = ERROR, key: bool = False) -> None:
        """Report a problem at `path` in `file`: the value there, or its key when `key`."""
        line, col = self.document(file).where(path, key=key)
        self.problems.append(Problem(file, line, col, json_path(path), message, code, severity))

    def at_catalog(self, catalog: Catalog, key: str, message: str, code: str,
                   severity: Severity = ERROR) -> None:
        """Report a problem at a catalog entry (its value)."""
        file = display_path(catalog.file) if catalog.file else f"{catalog.lang}.yaml"
        line, col = catalog.positions.get(key, (1, 1))
        self.problems.append(Problem(file, line, col, f"$.{key}", message, code, severity))


def suggest(name: str, candidates: Iterable[str]) -> str:
    """`; did you mean 'x'?` when a candidate is close to `name`, else nothing."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def listing(names: Iterable[str], empty: str = "none") -> str:
    names = sorted(names)
    return ", ".join(names) if names else empty
