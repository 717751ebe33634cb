"""Template files: the schema, the demo's files, and broken files refused at file:line:col."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from engine.flow._yaml import load as read_yaml
from engine.templates.files import load_dir, load_file, split_version

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "template.schema.json").read_text(encoding="utf-8"))
DEMO = ROOT / "templates" / "whatsapp"


def test_schema_is_draft_07_and_its_examples_are_valid() -> None:
    Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert SCHEMA["$id"].endswith("/template.schema.json")
    validator = Draft7Validator(SCHEMA)
    examples = list(_examples(SCHEMA))
    assert examples
    assert [(sub, ex) for sub, ex in examples if list(validator.evolve(schema=sub).iter_errors(ex))] == []


def _examples(node: Any) -> Any:
    if isinstance(node, dict):
        for example in node.get("examples", []):
            yield node, example
        for key, value in node.items():
            if key != "examples":
                yield from _examples(value)
    elif isinstance(node, list):
        for value in node:
            yield from _examples(value)


def _undescribed(node: Any, where: str = "#") -> list[str]:
    """Every property, definition, map value and list item schema needs a description."""
    if not isinstance(node, dict):
        return []
    out: list[str] = []

    def declared(sub: Any, at: str) -> None:
        if isinstance(sub, dict) and not sub.get("description"):
            out.append(at)
        out.extend(_undescribed(sub, at))

    for key in ("properties", "patternProperties", "definitions"):
        for name, sub in node.get(key, {}).items():
            declared(sub, f"{where}/{key}/{name}")
    for key in ("additionalProperties", "items"):
        declared(node.get(key), f"{where}/{key}")
    for key in ("then", "else", "allOf", "anyOf", "oneOf"):
        subs = node.get(key)
        for i, sub in enumerate(subs if isinstance(subs, list) else [subs]):
            out.extend(_undescribed(sub, f"{where}/{key}/{i}"))
    return out


def test_every_property_has_a_description() -> None:
    assert _undescribed(SCHEMA) == []
    broken = json.loads(json.dumps(SCHEMA))
    del broken["definitions"]["button"]["properties"]["text"]["description"]
    assert _undescribed(broken) == ["#/definitions/button/properties/text"]


def test_the_demo_templates_load_and_point_at_the_schema() -> None:
    templates, problems = load_dir(DEMO)
    assert problems == []
    assert [(t.name, t.version, t.category, list(t.languages), t.placeholders) for t in templates] == [
        ("haraka_booking_reminder", 1, "utility", ["en", "sw"], 2),
        ("haraka_parcel_update", 1, "utility", ["en", "sw"], 2),
        ("jirani_order_update", 1, "utility", ["en", "sw"], 2),
        ("jirani_payment_received", 1, "utility", ["en", "sw"], 2),
    ]
    for template in templates:
        first = template.path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../../schemas/template.schema.json"
        assert Draft7Validator(SCHEMA).is_valid(read_yaml(template.path.read_bytes()).data)


def test_a_full_template_reads_every_part(tmp_path: Path) -> None:
    path = tmp_path / "full.yaml"
    path.write_text(textwrap.dedent("""\
        name: full
        version: 3
        category: marketing
        description: every part
        languages:
          en_US:
            header: "Order {{1}}"
            header_example: "A-1"
            body: "Hi {{1}}"
            examples: [Amina]
            footer: Haraka
            buttons:
              - {type: url, text: Open, url: "https://haraka.example/o/{{1}}", example: "https://haraka.example/o/A-1"}
              - {type: phone_number, text: Call us, phone_number: "+254700000000"}
              - {type: quick_reply, text: Stop}
        """), encoding="utf-8")
    template, problems = load_file(path)
    assert problems == [] and template is not None
    assert template.graph_name() == "full_v3"
    lang = template.languages["en_US"]
    assert (lang.header, lang.header_example, lang.footer, lang.examples) == ("Order {{1}}", "A-1", "Haraka", ("Amina",))
    assert [b.type for b in lang.buttons] == ["url", "phone_number", "quick_reply"]


BROKEN = [
    ("unknown key", """\
        name: t
        category: utility
        languages:
          en:
            body: "Hi"
            fotter: "x"
        """, "t.yaml:6:5: $.languages.en.fotter: unknown key 'fotter'; expected one of: body, buttons, examples, "
             "footer, header, header_example [schema.unknown_key]"),
    ("category", """\
        name: t
        category: transactional
        languages:
          en: {body: "Hi"}
        """, "t.yaml:2:11: $.category: 'transactional' is not one of: utility, marketing, authentication [schema.enum]"),
    ("missing category", """\
        name: t
        languages:
          en: {body: "Hi"}
        """, "t.yaml:1:1: $: missing required key 'category' [schema.required]"),
    ("placeholder gap", """\
        name: t
        category: utility
        languages:
          en:
            body: "Parcel {{1}} is {{3}}"
            examples: [a, b]
        """, "t.yaml:5:11: $.languages.en.body: the body skips {{2}}: placeholders are numbered {{1}}, {{2}}, ... "
             "with no gap [template.placeholders]"),
    ("jinja placeholder", """\
        name: t
        category: utility
        languages:
          en:
            body: "Hi {{ name }}"
        """, "t.yaml:5:11: $.languages.en.body: {{ name }} is not a WhatsApp placeholder: write {{1}}, {{2}}, ... "
             "(the bot's manifest fills them from `params`) [template.placeholders]"),
    ("too few examples", """\
        name: t
        category: utility
        languages:
          en:
            body: "Parcel {{1}} is {{2}}"
            examples: [a]
        """, "t.yaml:6:15: $.languages.en.examples: 1 example(s) for a body with 2 placeholders: give one sample "
             "value per placeholder, in order [template.examples]"),
    ("no examples", """\
        name: t
        category: utility
        languages:
          en:
            body: "Parcel {{1}}"
        """, "t.yaml:5:11: $.languages.en.body: the body has 1 placeholder but no `examples`: WhatsApp reviews a "
             "template with a sample value for each [template.examples]"),
    ("languages disagree", """\
        name: t
        category: utility
        languages:
          en: {body: "Parcel {{1}} is {{2}}", examples: [a, b]}
          sw: {body: "Kifurushi {{1}}", examples: [a]}
        """, "t.yaml:5:14: $.languages.sw.body: the sw body has 1 placeholder but the en body has 2 placeholders: "
             "every language takes the same values [template.languages]"),
    ("file named otherwise", """\
        name: other
        category: utility
        languages:
          en: {body: "Hi"}
        """, "t.yaml:1:7: $.name: the template 'other' is in t.yaml: name the file other.yaml (one file per "
             "template, named after it) [template.file_name]"),
    ("version in the name", """\
        name: t_v1
        category: utility
        languages:
          en: {body: "Hi"}
        """, "t.yaml:1:1: $.name: write the name without its version (_v1): flowbot adds _v<version> itself; set "
             "`version:` to choose it [schema.not]"),
    ("url button without url", """\
        name: t
        category: utility
        languages:
          en:
            body: "Hi"
            buttons:
              - {type: quick_reply, text: Track}
              - {type: url, text: Open}
        """, "t.yaml:8:9: $.languages.en.buttons[1]: a url button needs `url` [schema.required]"),
    ("url on a quick reply", """\
        name: t
        category: utility
        languages:
          en:
            body: "Hi"
            buttons:
              - {type: quick_reply, text: Track, url: "https://x.example"}
        """, "t.yaml:7:42: $.languages.en.buttons[0].url: only url buttons have `url` [schema.not]"),
    ("button text too long", """\
        name: t
        category: utility
        languages:
          en:
            body: "Hi"
            buttons: [{type: quick_reply, text: "This label is far too long for WhatsApp"}]
        """, "t.yaml:6:41: $.languages.en.buttons[0].text: 'This label is far too long for WhatsApp' is too long "
             "[schema.maxLength]"),
    ("header placeholder without example", """\
        name: t
        category: utility
        languages:
          en:
            body: "Hi"
            header: "Parcel {{1}}"
        """, "t.yaml:6:13: $.languages.en.header: the header has {{1}} but no `header_example` [template.examples]"),
    ("duplicate key", """\
        name: t
        category: utility
        name: u
        """, "t.yaml:3:1: $: duplicate key 'name' (the first is at line 1) [yaml.duplicate_key]"),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in BROKEN], ids=[i for i, _, _ in BROKEN])
def test_a_broken_file_is_refused_at_line_and_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     text: str, expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("t.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    template, problems = load_file(Path("t.yaml"))
    assert template is None
    assert [str(p) for p in problems] == [expected]


def test_a_folder_reports_every_file_and_keeps_the_good_ones(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text('name: good\ncategory: utility\nlanguages: {en: {body: "Hi"}}\n')
    (tmp_path / "bad.yaml").write_text("name: bad\ncategory: utility\nlanguages: {}\n")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    templates, problems = load_dir(tmp_path)
    assert [t.name for t in templates] == ["good"]
    assert [(Path(p.file).name, p.line, p.col, p.code) for p in problems] == [
        ("bad.yaml", 3, 12, "schema.minProperties"),
        ("empty.yaml", 1, 1, "template.empty"),
    ]


def test_graph_names_carry_the_version() -> None:
    assert split_version("haraka_parcel_update_v12") == ("haraka_parcel_update", 12)
    assert split_version("haraka_v1_notice_v2") == ("haraka_v1_notice", 2)
    assert split_version("haraka_parcel_update") is None
    assert split_version("x_v0") is None
