"""Reading a bot folder: manifest, flow files and catalogs, checked, into a `LoadedBot`.

Everything is checked here, at load time, never when a message arrives: a bot with an error
does not load (BotError lists every problem); warnings ride along for `flowbot lint`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.flow import parse, schema
from engine.flow._yaml import Document, YamlProblem, load
from engine.flow.model import Bot
from engine.flow.problems import BotError, Problem, Severity
from engine.i18n.catalog import Catalog, Catalogs, builtin_catalogs, read_catalog

if TYPE_CHECKING:
    from engine.runtime.actions import Plugins

MANIFEST = "bot.yaml"


@dataclass
class LoadedBot:
    bot: Bot
    catalogs: Catalogs
    documents: dict[str, Document] = field(default_factory=dict)  # display path -> document
    problems: list[Problem] = field(default_factory=list)
    # flow files that could not be read (YAML or schema errors): what they name is unknown, so
    # checks hold back what would be guesses (unknown flows, unused flows, unreachable steps)
    unloaded: list[str] = field(default_factory=list)
    # the action plugins the bot was checked against: loaded from its manifest's `actions`, or
    # given by the host (tests, embedding applications) to `load_bot(..., plugins=...)`
    plugins: Plugins | None = None


def display_path(file: Path) -> str:
    try:
        return str(file.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(file)


def locale_dir(bot_dir: Path, name: str) -> Path:
    own = bot_dir / "locales"
    return own if own.is_dir() else bot_dir.parent.parent / "locales" / name


def _read(file: Path, kind: str, problems: list[Problem]) -> Document | None:
    label = display_path(file)
    try:
        doc = load(file.read_bytes())
    except YamlProblem as exc:
        problems.append(Problem(label, exc.line, exc.col, "$", exc.message, exc.code))
        return None
    except OSError as exc:
        problems.append(Problem(label, 1, 1, "$", f"cannot read the file: {exc.strerror}", "file.read"))
        return None
    found = schema.check(doc, kind, label)
    problems.extend(found)
    return None if found else doc


def inspect_bot(bot_dir: Path, plugins: Plugins | None = None) -> tuple[LoadedBot | None, list[Problem]]:
    """Load and check a bot; return it (None when it has errors) with every problem found."""
    from engine.flow import checks  # checks need the model; imported late to keep loading light

    problems: list[Problem] = []
    bot_dir = Path(bot_dir)
    manifest_file = bot_dir / MANIFEST
    if not manifest_file.is_file():
        return None, [Problem(display_path(bot_dir), 1, 1, "$", f"no {MANIFEST} in this folder", "bot.manifest")]
    manifest = _read(manifest_file, "bot", problems)
    documents: dict[str, Document] = {}
    unloaded: list[str] = []
    flows = {}
    for file in sorted(bot_dir.glob("*.yaml")) + sorted(bot_dir.glob("*.yml")):
        if file.name == MANIFEST:
            continue
        doc = _read(file, "flow", problems)
        if doc is None:
            unloaded.append(display_path(file))
            continue
        label = display_path(file)
        documents[label] = doc
        flow = parse.flow(doc.data, file, file.read_bytes())
        if flow.name in flows:
            line, col = doc.where(("flow",))
            problems.append(Problem(label, line, col, "$.flow", f"flow {flow.name!r} is also defined in {display_path(flows[flow.name].file)}", "flow.duplicate"))
            continue
        flows[flow.name] = flow
    if manifest is None:
        return None, sorted(problems)
    documents[display_path(manifest_file)] = manifest
    bot = parse.bot(manifest.data, bot_dir, flows)
    catalogs = Catalogs(_bot_catalogs(bot, manifest, problems), builtin_catalogs(), bot.primary_language)
    loaded = LoadedBot(bot=bot, catalogs=catalogs, documents=documents, unloaded=unloaded, plugins=plugins)
    problems.extend(checks.run(loaded))
    loaded.problems = sorted(set(problems))
    has_errors = any(p.severity is Severity.ERROR for p in loaded.problems)
    return (None if has_errors else loaded), loaded.problems


def _bot_catalogs(bot: Bot, manifest: Document, problems: list[Problem]) -> dict[str, Catalog]:
    folder = locale_dir(bot.root, bot.name)
    out = {}
    for i, lang in enumerate(bot.languages):
        file = folder / f"{lang}.yaml"
        if not file.is_file():
            problems.append(Problem(display_path(bot.root / MANIFEST), *manifest.where(("languages", i)), f"$.languages[{i}]",
                                    f"no catalog for language {lang!r} (expected {display_path(file)})", "locale.missing_catalog",
                                    Severity.ERROR if lang == bot.primary_language else Severity.WARNING))
            continue
        try:
            out[lang] = read_catalog(file, lang)
        except YamlProblem as exc:
            problems.append(Problem(display_path(file), exc.line, exc.col, "$", exc.message, exc.code))
    return out


def load_bot(bot_dir: Path | str, plugins: Plugins | None = None) -> LoadedBot:
    """Load a bot for running; raise BotError when it has any error. `plugins`, when given,
    replaces the action modules the manifest names (a host supplying its own actions)."""
    loaded, problems = inspect_bot(Path(bot_dir), plugins)
    if loaded is None:
        raise BotError(problems)
    return loaded
