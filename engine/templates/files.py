"""Template files: read strictly, checked (`file:line:col` problems), and turned into Graph bodies.

Checks beyond the schema: the file is named after the template; placeholders are exactly
{{1}}..{{n}} with no gap; each has a sample (Graph refuses a template with placeholders and no
samples); every language has the same placeholders (a manifest gives one `params` list for
all); a header has at most {{1}}; a url button at most a trailing {{1}}; at most 2 url and 1
phone_number buttons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.flow import schema
from engine.flow._yaml import Document, YamlProblem, load
from engine.flow.problems import Problem, json_path

SCHEMA = "template"
_BRACES = re.compile(r"\{\{(.*?)\}\}")
_VERSIONED = re.compile(r"^(?P<base>[a-z][a-z0-9_]*?)_v(?P<version>[1-9][0-9]*)$")
CATEGORIES = ("utility", "marketing", "authentication")


@dataclass(frozen=True, slots=True)
class Button:
    type: str  # quick_reply | url | phone_number
    text: str
    url: str | None = None
    example: str | None = None
    phone_number: str | None = None


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # WhatsApp's language code: en, en_US, sw
    body: str
    examples: tuple[str, ...] = ()
    header: str | None = None
    header_example: str | None = None
    footer: str | None = None
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateFile:
    path: Path
    name: str
    category: str  # lowercase, as written
    languages: dict[str, Language]
    version: int = 1

    def graph_name(self, version: int | None = None) -> str:
        return versioned(self.name, self.version if version is None else version)

    @property
    def placeholders(self) -> int:
        """How many values the body takes ({{1}}..{{n}}): the same in every language."""
        first = next(iter(self.languages.values()))
        return len(placeholders(first.body))


def versioned(base: str, version: int) -> str:
    return f"{base}_v{version}"


def split_version(graph_name: str) -> tuple[str, int] | None:
    """`haraka_parcel_update_v2` as ("haraka_parcel_update", 2); None for an unversioned name."""
    match = _VERSIONED.match(graph_name)
    return (match["base"], int(match["version"])) if match else None


def placeholders(text: str) -> list[str]:
    """The contents of every {{...}} in `text`, in order."""
    return _BRACES.findall(text)


# ── reading ─────────────────────────────────────────────────────────────────────────────────
def load_dir(directory: Path) -> tuple[list[TemplateFile], list[Problem]]:
    """Every *.yaml in `directory`, sorted by name, and the problems of all of them."""
    files: list[TemplateFile] = []
    problems: list[Problem] = []
    if not directory.is_dir():
        return [], [Problem(str(directory), 1, 1, "$", "no such folder of templates", "template.folder")]
    for path in sorted(directory.glob("*.yaml")):
        template, found = load_file(path)
        problems.extend(found)
        if template is not None:
            files.append(template)
    return files, sorted(problems)


def load_file(path: Path) -> tuple[TemplateFile | None, list[Problem]]:
    """One file: the template, or None when it has errors, and its problems."""
    file = str(path)
    try:
        doc = load(path.read_bytes())
    except YamlProblem as exc:
        return None, [Problem(file, exc.line, exc.col, "$", exc.message, exc.code)]
    except OSError as exc:
        return None, [Problem(file, 1, 1, "$", f"cannot read the file: {exc.strerror}", "template.read")]
    if doc.data is None:
        return None, [Problem(file, 1, 1, "$", "the file is empty: a template needs name, category and languages",
                              "template.empty")]
    problems = schema.check(doc, SCHEMA, file)
    if problems:
        return None, problems
    problems = _Checker(doc, file, path.stem).run()
    if problems:
        return None, sorted(problems)
    return _build(path, doc.data), []


def _build(path: Path, data: dict[str, Any]) -> TemplateFile:
    languages = {}
    for code, spec in data["languages"].items():
        buttons = tuple(Button(b["type"], b["text"], b.get("url"), b.get("example"), b.get("phone_number"))
                        for b in spec.get("buttons") or ())
        languages[code] = Language(code, spec["body"], tuple(spec.get("examples") or ()), spec.get("header"),
                                   spec.get("header_example"), spec.get("footer"), buttons)
    return TemplateFile(path, data["name"], data["category"], languages, data.get("version", 1))


class _Checker:
    def __init__(self, doc: Document, file: str, stem: str) -> None:
        self.doc, self.file, self.stem = doc, file, stem
        self.problems: list[Problem] = []

    def at(self, path: tuple[Any, ...], message: str, code: str, key: bool = False) -> None:
        line, col = self.doc.where(path, key=key)
        self.problems.append(Problem(self.file, line, col, json_path(path), message, code))

    def run(self) -> list[Problem]:
        data = self.doc.data
        if data["name"] != self.stem:
            self.at(("name",), f"the template {data['name']!r} is in {self.stem}.yaml: name the file "
                    f"{data['name']}.yaml (one file per template, named after it)", "template.file_name")
        counts: dict[str, int] = {}
        for code, spec in data["languages"].items():
            counts[code] = self._language(("languages", code), spec)
        first = next(iter(counts))
        for code, count in counts.items():
            if count >= 0 and counts[first] >= 0 and count != counts[first]:
                self.at(("languages", code, "body"), f"the {code} body has {_count(count)} but the {first} body "
                        f"has {_count(counts[first])}: every language takes the same values",
                        "template.languages")
        return self.problems

    def _language(self, where: tuple[Any, ...], spec: dict[str, Any]) -> int:
        """Checks one language; returns its number of body placeholders (-1 when they are wrong)."""
        count = self._numbered(where + ("body",), spec["body"], "body")
        examples = spec.get("examples")
        if count > 0 and examples is None:
            self.at(where + ("body",), f"the body has {_count(count)} but no `examples`: WhatsApp reviews "
                    "a template with a sample value for each", "template.examples")
        elif count >= 0 and examples is not None and len(examples) != count:
            self.at(where + ("examples",), f"{len(examples)} example(s) for a body with {_count(count)}: "
                    "give one sample value per placeholder, in order", "template.examples")
        header = spec.get("header")
        if header is not None:
            found = self._numbered(where + ("header",), header, "header")
            if found > 1:
                self.at(where + ("header",), "a header takes at most one placeholder, {{1}}", "template.header")
            elif found == 1 and "header_example" not in spec:
                self.at(where + ("header",), "the header has {{1}} but no `header_example`", "template.examples")
            elif found == 0 and "header_example" in spec:
                self.at(where + ("header_example",), "the header has no {{1}} to give an example for",
                        "template.examples")
        elif "header_example" in spec:
            self.at(where + ("header_example",), "there is no header to give an example for", "template.examples")
        if spec.get("footer") is not None and placeholders(spec["footer"]):
            self.at(where + ("footer",), "a footer takes no placeholders", "template.footer")
        self._buttons(where + ("buttons",), spec.get("buttons") or [])
        return count

    def _numbered(self, path: tuple[Any, ...], text: str, what: str) -> int:
        """Placeholders must be {{1}}..{{n}}, each used, none skipped. Returns n, or -1."""
        found = placeholders(text)
        wrong = [p for p in found if not re.fullmatch(r"[1-9][0-9]*", p)]
        if wrong:
            self.at(path, f"{{{{{wrong[0]}}}}} is not a WhatsApp placeholder: write {{{{1}}}}, {{{{2}}}}, ... "
                    f"(the bot's manifest fills them from `params`)", "template.placeholders")
            return -1
        numbers = sorted({int(p) for p in found})
        if numbers != list(range(1, len(numbers) + 1)):
            missing = next(n for n in range(1, numbers[-1] + 1) if n not in numbers)
            self.at(path, f"the {what} skips {{{{{missing}}}}}: placeholders are numbered {{{{1}}}}, {{{{2}}}}, "
                    "... with no gap", "template.placeholders")
            return -1
        return len(numbers)

    def _buttons(self, where: tuple[Any, ...], buttons: list[dict[str, Any]]) -> None:
        by_type: dict[str, list[int]] = {}
        for i, button in enumerate(buttons):
            by_type.setdefault(button["type"], []).append(i)
            if placeholders(button["text"]):
                self.at(where + (i, "text"), "a button's text takes no placeholders", "template.buttons")
            url = button.get("url")
            if url is None:
                continue
            found = placeholders(url)
            if found and (found != ["1"] or not url.endswith("{{1}}")):
                self.at(where + (i, "url"), "a link takes at most one placeholder, {{1}}, at its end",
                        "template.buttons")
            elif found and "example" not in button:
                self.at(where + (i, "url"), "the link ends with {{1}} but the button has no `example` link",
                        "template.examples")
            elif not found and "example" in button:
                self.at(where + (i, "example"), "the link has no {{1}} to give an example for", "template.examples")
        for kind, most in (("url", 2), ("phone_number", 1)):
            if len(by_type.get(kind, [])) > most:
                self.at(where + (by_type[kind][most],), f"at most {most} {kind} button(s) in a template",
                        "template.buttons")


def _count(n: int) -> str:
    return "no placeholders" if n == 0 else "1 placeholder" if n == 1 else f"{n} placeholders"


# ── Graph bodies ────────────────────────────────────────────────────────────────────────────
def components(lang: Language) -> list[dict[str, Any]]:
    """The template's `components` as `POST /{WABA_ID}/message_templates` takes them."""
    out: list[dict[str, Any]] = []
    if lang.header is not None:
        header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": lang.header}
        if lang.header_example is not None:
            header["example"] = {"header_text": [lang.header_example]}
        out.append(header)
    body: dict[str, Any] = {"type": "BODY", "text": lang.body}
    if lang.examples:
        body["example"] = {"body_text": [list(lang.examples)]}
    out.append(body)
    if lang.footer is not None:
        out.append({"type": "FOOTER", "text": lang.footer})
    if lang.buttons:
        out.append({"type": "BUTTONS", "buttons": [_button(b) for b in lang.buttons]})
    return out


def _button(button: Button) -> dict[str, Any]:
    out: dict[str, Any] = {"type": button.type.upper(), "text": button.text}
    if button.type == "url":
        out["url"] = button.url
        if button.example is not None:
            out["example"] = [button.example]
    elif button.type == "phone_number":
        out["phone_number"] = button.phone_number
    return out


def create_body(template: TemplateFile, code: str, version: int | None = None) -> dict[str, Any]:
    """The body of `POST /{version}/{WABA_ID}/message_templates` for one language."""
    return {
        "name": template.graph_name(version),
        "language": code,
        "category": template.category.upper(),
        "components": components(template.languages[code]),
    }


def content(components_: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
    """What a template shows, to compare ours with Graph's: types, formats, texts, buttons.
    Samples (`example`) are left out: Graph may give them back in another shape, and a new
    sample alone is no reason to spend one of the few edits WhatsApp allows."""
    out: list[tuple[Any, ...]] = []
    for component in components_ or []:
        kind = str(component.get("type", "")).upper()
        if kind == "BUTTONS":
            buttons = tuple((str(b.get("type", "")).upper(), b.get("text"), b.get("url"), b.get("phone_number"))
                            for b in component.get("buttons") or [])
            out.append((kind, buttons))
        else:
            fmt = str(component.get("format", "TEXT" if kind == "HEADER" else "")).upper()
            out.append((kind, fmt, component.get("text")))
    return out
