"""Every template a bot's manifest names must be a file in templates/whatsapp/, agreeing with it.

For each `templates:` entry of a bot.yaml: its `name` is `<base>_v<N>`; templates/whatsapp has
a file for `<base>` at version N; the file has the WhatsApp language each bot language maps to;
the categories agree; `params` gives as many values as the body has placeholders. Problems
point into bot.yaml (`file:line:col`), like `flowbot lint`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.flow._yaml import YamlProblem, load
from engine.flow.problems import Problem, json_path
from engine.templates.files import TemplateFile, split_version, versioned


def bot_dirs(flows: Path = Path("flows")) -> list[Path]:
    """Every bot under `flows/` (a folder with bot.yaml)."""
    return sorted(p.parent for p in flows.glob("*/bot.yaml"))


def check_bots(bots: list[Path], templates: list[TemplateFile], templates_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    for bot in bots:
        problems.extend(check_bot(bot, templates, templates_dir))
    return sorted(problems)


def check_bot(bot: Path, templates: list[TemplateFile], templates_dir: Path) -> list[Problem]:
    """The problems of one bot's `templates:` against the template files."""
    manifest = bot / "bot.yaml"
    file = str(manifest)
    try:
        doc = load(manifest.read_bytes())
    except YamlProblem as exc:
        return [Problem(file, exc.line, exc.col, "$", exc.message, exc.code)]
    except OSError as exc:
        return [Problem(file, 1, 1, "$", f"cannot read the manifest: {exc.strerror}", "bot.read")]
    data = doc.data if isinstance(doc.data, dict) else {}
    entries = data.get("templates") or {}
    if not isinstance(entries, dict):
        return []  # the schema's business (flowbot lint)
    languages = [lang for lang in data.get("languages") or [] if isinstance(lang, str)]
    by_name = {t.name: t for t in templates}
    problems: list[Problem] = []

    def at(path: tuple[Any, ...], message: str, code: str, key: bool = False) -> None:
        line, col = doc.where(path, key=key)
        problems.append(Problem(file, line, col, json_path(path), message, code))

    for key, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        where = ("templates", key)
        name = entry["name"]
        split = split_version(name)
        if split is None:
            at(where + ("name",), f"{name!r} has no version: templates are named <name>_v<N>, as "
               f"`flowbot templates apply` creates them from {templates_dir}/<name>.yaml", "templates.name")
            continue
        base, version = split
        template = by_name.get(base)
        if template is None:
            at(where + ("name",), f"no template {base!r} in {templates_dir}/ (expected {templates_dir}/{base}.yaml)",
               "templates.missing")
            continue
        if template.version != version:
            at(where + ("name",), f"{template.path} is at version {template.version}: name "
               f"{versioned(base, template.version)!r}, or set `version: {version}` there", "templates.version")
        category = entry.get("category")
        if isinstance(category, str) and category != template.category:
            at(where + ("category",), f"{template.path} says the category is {template.category}, not {category}",
               "templates.category")
        codes = entry.get("language") if isinstance(entry.get("language"), dict) else {}
        for lang in languages:
            code = codes.get(lang, lang)
            if code not in template.languages:
                path = where + ("language", lang) if lang in codes else where + ("name",)
                at(path, f"{template.path} has no {code!r} text for the bot's {lang!r} users (it has: "
                   f"{', '.join(template.languages)})", "templates.language")
        params = entry.get("params") or []
        if isinstance(params, list) and len(params) != template.placeholders:
            path = where + ("params",) if "params" in entry else where
            at(path, f"{versioned(base, version)} takes {template.placeholders} value(s) ({{{{1}}}}..) but "
               f"`params` gives {len(params)}", "templates.params", key="params" not in entry)
    return problems


def references_to(name: str, bots: list[Path]) -> list[str]:
    """Where manifests name the WhatsApp template `name`: `flows/demo/bot.yaml:40:11: templates.parcel_update`."""
    found = []
    for bot in bots:
        manifest = bot / "bot.yaml"
        try:
            doc = load(manifest.read_bytes())
        except (YamlProblem, OSError):
            continue
        entries = doc.data.get("templates") if isinstance(doc.data, dict) else None
        for key, entry in (entries or {}).items() if isinstance(entries, dict) else ():
            if isinstance(entry, dict) and entry.get("name") == name:
                line, col = doc.where(("templates", key, "name"))
                found.append(f"{manifest}:{line}:{col}: templates.{key}.name")
    return found
