"""The JSON Schemas in schemas/: valid draft-07, documented, and agreeing with the docs.

Every ```yaml block of docs/flow-language.md must validate, and broken files must be refused
with the error's path pointing at the offending key (that path is what `flowbot lint` shows).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, ValidationError

from engine.flow._yaml import load as read_yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ("flow", "bot", "transcript")
DOC = ROOT / "docs" / "flow-language.md"


# --- files are read as flowbot reads them: only true/false are booleans, dates stay text


def load(text: str) -> Any:
    return read_yaml(textwrap.dedent(text)).data


def test_yaml_is_read_as_the_schemas_expect() -> None:
    """The schemas rely on it: `on:` is a key, `[yes, no]` are ids, a datetime is text."""
    assert load("on: {yes: a, no: b}\nstart: 2026-11-23T09:00:00+03:00\nn: 2") == {
        "on": {"yes": "a", "no": "b"},
        "start": "2026-11-23T09:00:00+03:00",
        "n": 2,
    }


# --- the schemas themselves


def schema(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))


VALIDATORS = {name: Draft7Validator(schema(name)) for name in SCHEMAS}


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_draft_07(name: str) -> None:
    doc = schema(name)
    Draft7Validator.check_schema(doc)
    assert doc["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert doc["$id"].endswith(f"/{name}.schema.json")
    assert doc["description"]


# Keywords whose value maps names to schemas: each of those schemas is a declaration.
_NAMED = ("properties", "patternProperties", "definitions")
# Keywords holding one schema that declares what a value holds.
_DECLARING = ("additionalProperties", "additionalItems", "items")
# Keywords holding schemas that only add rules: walked, their own description optional.
_RULES = ("then", "else", "allOf", "anyOf", "oneOf")
# `if`, `not`, `propertyNames`, `contains` only test a value: nothing in them is shown to
# an author, so they are not walked.


def missing_descriptions(node: Any, where: str = "#") -> list[str]:
    """JSON pointers of every declared schema (property, definition, map value, list item)
    that has no description. Boolean schemas (`true`/`false`) declare nothing and pass."""
    if not isinstance(node, dict):
        return []
    missing: list[str] = []

    def declared(sub: Any, at: str) -> None:
        if isinstance(sub, dict) and not sub.get("description"):
            missing.append(at)
        missing.extend(missing_descriptions(sub, at))

    for key in _NAMED:
        for name, sub in node.get(key, {}).items():
            declared(sub, f"{where}/{key}/{name}")
    for key in _DECLARING:
        sub = node.get(key)
        if isinstance(sub, list):
            for i, item in enumerate(sub):
                declared(item, f"{where}/{key}/{i}")
        else:
            declared(sub, f"{where}/{key}")
    for name, sub in node.get("dependencies", {}).items():
        declared(sub, f"{where}/dependencies/{name}")  # a list of names is not a schema: passes
    for key in _RULES:
        subs = node.get(key)
        if isinstance(subs, list):
            for i, sub in enumerate(subs):
                missing.extend(missing_descriptions(sub, f"{where}/{key}/{i}"))
        else:
            missing.extend(missing_descriptions(subs, f"{where}/{key}"))
    return missing


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_property_and_definition_has_a_description(name: str) -> None:
    assert missing_descriptions(schema(name)) == []


def test_the_description_check_finds_a_missing_one() -> None:
    broken = schema("flow")
    del broken["definitions"]["validate_media"]["properties"]["kinds"]["items"]["description"]
    del broken["definitions"]["step"]["dependencies"]["ask"]["properties"]["retries"]["description"]
    del broken["definitions"]["step"]["allOf"][0]["then"]["properties"]["wait"]["description"]
    del broken["definitions"]["target"]["properties"]["step"]["description"]
    assert missing_descriptions(broken) == [
        "#/definitions/target/properties/step",
        "#/definitions/validate_media/properties/kinds/items",
        "#/definitions/step/dependencies/ask/properties/retries",
        "#/definitions/step/allOf/0/then/properties/wait",
    ]


_ANNOTATIONS = {
    "$ref", "description", "markdownDescription", "title", "examples", "default", "$comment",
}


def refs_with_siblings(node: Any, where: str = "#") -> list[str]:
    """Draft-07 ignores every keyword next to `$ref`: only annotations may stand there."""
    found: list[str] = []
    if isinstance(node, dict):
        if "$ref" in node and set(node) - _ANNOTATIONS:
            found.append(where)
        for key, value in node.items():
            found.extend(refs_with_siblings(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(refs_with_siblings(value, f"{where}/{i}"))
    return found


@pytest.mark.parametrize("name", SCHEMAS)
def test_no_rule_sits_next_to_a_ref(name: str) -> None:
    assert refs_with_siblings(schema(name)) == []


def schema_examples(node: Any, where: str = "#") -> list[tuple[str, dict[str, Any], Any]]:
    """Every `examples` value in a schema, with the subschema it illustrates."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    if isinstance(node, dict):
        for example in node.get("examples", []):
            found.append((where, node, example))
        for key, value in node.items():
            if key != "examples":
                found.extend(schema_examples(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(schema_examples(value, f"{where}/{i}"))
    return found


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_schemas_own_examples_are_valid(name: str) -> None:
    root = VALIDATORS[name]
    examples = schema_examples(root.schema)
    assert examples
    wrong = [
        f"{where}: {example!r}: {error.message}"
        for where, sub, example in examples
        for error in root.evolve(schema=sub).iter_errors(example)
    ]
    assert wrong == []


# --- the docs' examples


def doc_blocks(doc: Path = DOC) -> list[tuple[int, str]]:
    text = doc.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 2, match.group(1))
        for match in re.finditer(r"^```yaml\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    ]


OTHER_DOCS = sorted(p for p in (ROOT / "docs").rglob("*.md") if p != DOC) + [ROOT / "README.md"]


@pytest.mark.parametrize(
    "where,block", [(f"{p.relative_to(ROOT)}:{n}", b) for p in OTHER_DOCS for n, b in doc_blocks(p)],
    ids=[f"{p.relative_to(ROOT)}:{n}" for p in OTHER_DOCS for n, _ in doc_blocks(p)],
)
def test_every_yaml_example_in_the_docs_validates(where: str, block: str) -> None:
    """A doc example is a test: transcripts, manifests, flows and step snippets anywhere in docs/."""
    data = load(block)
    if "turns" in data:
        assert messages("transcript", data) == [], where
        return
    name, doc = classify(data)
    assert messages(name, doc) == [], where


def classify(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Which schema a doc block is checked against, and the document to check."""
    if "bot" in data:
        return "bot", data
    if "flow" in data:
        return "flow", data
    assert set(data) <= {"steps", "slots"}, f"not a bot, a flow, steps or slots: {set(data)}"
    steps = data.get("steps") or {"example": {"end": True}}
    return "flow", {"flow": "example", "start": next(iter(steps)), **data, "steps": steps}


def messages(name: str, doc: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in VALIDATORS[name].iter_errors(doc)]


def test_the_doc_has_examples_of_every_kind() -> None:
    kinds = [classify(load(block))[0] for _, block in doc_blocks()]
    assert kinds.count("bot") == 1 and kinds.count("flow") >= 12


@pytest.mark.parametrize(
    "block", [block for _, block in doc_blocks()], ids=[f"line{n}" for n, _ in doc_blocks()]
)
def test_doc_example_validates(block: str) -> None:
    name, doc = classify(load(block))
    assert messages(name, doc) == []


GOOD = [
    pytest.param(
        "bot",
        """
        bot: demo
        start: main
        languages: [en, sw, pt_BR]
        interrupts:
          help: {words: {en: [help], sw: [msaada]}, say: {en: "Type menu", sw: "Andika menu"}}
        templates:
          slot_reminder:
            name: slot_reminder_v1
            language: {en: en_US, sw: sw}
            params: ["{{ slots.name }}"]
            category: utility
        channels: {whatsapp: {phone_number_id: "123"}}
        burst: {window: 2s}
        settings: {currency: KES, timezone: Africa/Nairobi, region: KE, brand: Acme}
        """,
        id="bot-words-per-language-templates-channels",
    ),
    pytest.param(
        "flow",
        """
        flow: shop
        start: pick
        slots:
          products: {description: what demo.products returned}
          id_number: {type: demo.national_id}
          photo: {type: media}
        steps:
          pick:
            ask: shop.pick
            choices: {from: "slots.products", id: sku, title: name, description: price}
            button: {en: Products, sw: Bidhaa}
            into: sku
            next: id
          id:
            ask: shop.id
            into: id_number
            validate: {type: demo.national_id, country: KE, anything: [goes]}
            next: photo
          photo:
            ask: shop.photo
            into: photo
            validate: {type: media, kinds: [image, document], mime: [image/jpeg], max_size: 5MB}
            retries: 10
            next: paid
          paid:
            ask: shop.amount
            into: amount
            validate: {type: money, currency: KES, min: 10, max: 150000, confirm: false}
            next: when
          when:
            ask: shop.when
            into: day
            validate: {type: date, not_past: true, within: 30d, confirm: true}
            next: lookup
          lookup:
            action: demo.lookup
            retries: 0
            next: {flow: main, step: menu}
          quiet:
            description: a step may only say, as long as it goes on
            say: "Thanks {{ slots.name }}!"
            next: end
        """,
        id="flow-choices-from-data-plugin-validator-every-option",
    ),
    pytest.param(
        "transcript",
        """
        transcript: Booking for tomorrow
        bot: demo
        user: "15550000002"
        lang: sw
        start: 2026-11-23T09:00:00+03:00
        stubs:
          demo.reserve_slot: {outcome: ok, data: {ref: B-1042}}
          demo.products: {data: [{sku: a1, name: Rice}]}
        turns:
          - user: hi
            note: the greeting
            expect:
              - contains: name
          - user: 2
            expect: []
          - button: tomorrow
            stub: {demo.reserve_slot: {outcome: full}}
            expect:
              - {text: "Full.", rows: [Today, Later]}
          - list: later
            stub: {demo.reserve_slot: {error: boom}, demo.pay: {timeout: true}}
            expect: [{regex: "B-\\\\d+", buttons: [Ndiyo, Hapana]}]
          - image: receipt.jpg
            caption: my receipt
            mime: image/jpeg
            size: 6MB
          - location: [-1.2921, 36.8219]
          - location: {lat: -1.2921, lon: 36.8219, name: Office, address: Moi Avenue}
          - wait: 25h
            expect:
              - template: slot_reminder
          - release: true
        """,
        id="transcript-every-turn-kind",
    ),
]


@pytest.mark.parametrize(("name", "text"), GOOD)
def test_good_example_validates(name: str, text: str) -> None:
    assert messages(name, load(text)) == []


# --- broken files: refused, with the path of the offending key


def step(yaml_text: str) -> str:
    """A flow whose only step `s` is the given YAML, one key a line."""
    return "flow: f\nstart: s\nsteps:\n  s:\n" + textwrap.indent(yaml_text, "    ")


def slot(flow_style: str) -> str:
    return f"flow: f\nstart: s\nslots:\n  x: {flow_style}\nsteps:\n  s: {{end: true}}\n"


def bot(extra: str = "", languages: str = "[en]") -> str:
    return f"bot: demo\nstart: main\nlanguages: {languages}\n{extra}"


def turn(flow_style: str) -> str:
    return f"transcript: t\nbot: demo\nturns:\n  - {flow_style}\n"


def transcript(extra: str) -> str:
    return f"transcript: t\nbot: demo\n{extra}"


ASK = "ask: q\ninto: x\n"
NOT_DURATION = "does not match '^(\\\\d+d)?"

# (schema, file, the one path every error points at, a piece of the message or rule sentence)
BAD = [
    # flow: step kinds, keys in the wrong place
    ("flow", step(ASK + "action: demo.x"), "$.steps.s.action", "cannot also have"),
    ("flow", step("call: address\ngoto: {flow: main}"), "$.steps.s.goto", "has `call`"),
    ("flow", step("say: hi\nend: true\nnext: s"), "$.steps.s.next", "ends the flow"),
    ("flow", step("goto: {flow: main}\nnext: s"), "$.steps.s.next", "leaves this flow"),
    ("flow", step("say: hi\nvalidate: {type: text}\nnext: s"), "$.steps.s.validate", "`ask` step"),
    ("flow", step("say: hi\ninto: x\nnext: s"), "$.steps.s.into", "`ask` or an `action`"),
    ("flow", step("action: demo.x\nfallback: {next: s}"), "$.steps.s.fallback", "`ask` step"),
    ("flow", step(ASK + "with: {a: 1}"), "$.steps.s.with", "`action` step"),
    ("flow", step(ASK + "button: Pick"), "$.steps.s.button", "needs `choices`"),
    ("flow", step("say: hi"), "$.steps.s", "needs `next`"),
    ("flow", step("ask: q\nnext: s"), "$.steps.s", "needs `into`"),
    ("flow", step("say: hi\nnext: s\ncolour: red"), "$.steps.s", "'colour' was unexpected"),
    # flow: values
    ("flow", step(ASK + "retries: 0"), "$.steps.s.retries", "minimum of 1"),
    ("flow", step(ASK + "retries: 11"), "$.steps.s.retries", "maximum of 10"),
    ("flow", step("action: demo.x\nretries: 6"), "$.steps.s.retries", "maximum of 5"),
    ("flow", step("action: demo.x\ntimeout: 2 hours"), "$.steps.s.timeout", NOT_DURATION),
    ("flow", step("action: demo.x\ntimeout: 5"), "$.steps.s.timeout", "not of type 'string'"),
    ("flow", step("action: x"), "$.steps.s.action", "does not match"),
    (
        "flow",
        step("ask: q\nchoices: [{id: a, title: a}]\nwait: {remind: [{after: 2 hours, say: n}]}"),
        "$.steps.s.wait.remind[0].after",
        NOT_DURATION,
    ),
    (
        "flow",
        step("ask: q\nchoices: [{id: a, title: {label: Yes}}]"),
        "$.steps.s.choices[0].title",
        "'label' does not match",
    ),
    (
        "flow",
        step("ask: q\nchoices: [{id: a, title: [common.a, common.b]}]"),
        "$.steps.s.choices[0].title",
        "is not of type 'string', 'object'",
    ),
    (
        "flow",
        step("ask: q\nchoices: [{id: a, title: {en: {short: A}}}]"),
        "$.steps.s.choices[0].title.en",
        "not of type 'string'",
    ),
    ("flow", step("ask: q\nchoices: [{id: 1, title: One}]"), "$.steps.s.choices[0].id", "type"),
    ("flow", step("ask: q\nchoices: [{id: a}]"), "$.steps.s.choices[0]", "'title' is a required"),
    ("flow", step("ask: q\nchoices: []"), "$.steps.s.choices", "should be non-empty"),
    ("flow", step("ask: q\nchoices: {from: slots.x, id: sku}"), "$.steps.s.choices", "'title'"),
    ("flow", step(ASK + "validate: {type: integer, places: 2}"), "$.steps.s.validate", "'places'"),
    ("flow", step(ASK + "validate: {min: 1}"), "$.steps.s.validate", "'type' is a required"),
    ("flow", step(ASK + "validate: {type: number}"), "$.steps.s.validate.type", "any of"),
    (
        "flow",
        step(ASK + "validate: {type: text, min_length: -1}"),
        "$.steps.s.validate.min_length",
        "minimum of 0",
    ),
    (
        "flow",
        step(ASK + "validate: {type: media, kinds: [photo]}"),
        "$.steps.s.validate.kinds[0]",
        "is not one of",
    ),
    (
        "flow",
        step(ASK + "validate: {type: date, within: 1 month}"),
        "$.steps.s.validate.within",
        NOT_DURATION,
    ),
    ("flow", step("say: [hi, 3]\nnext: s"), "$.steps.s.say[1]", "not of type"),
    ("flow", step("say: {english: Hi}\nnext: s"), "$.steps.s.say", "'english' does not match"),
    ("flow", step("say: hi\nnext: {step: x}"), "$.steps.s.next", "'flow' is a required"),
    ("flow", step("say: hi\nnext: Bye"), "$.steps.s.next", "does not match"),
    ("flow", step("goto: main"), "$.steps.s.goto", "not of type 'object'"),
    ("flow", step("end: false"), "$.steps.s.end", "True was expected"),
    ("flow", step("if: []\nnext: s"), "$.steps.s.if", "should be non-empty"),
    ("flow", step("if: [{when: 'x > 1'}]"), "$.steps.s.if[0]", "'next' is a required"),
    ("flow", step("handoff: {reason: x, queue: y}"), "$.steps.s.handoff", "'queue' was unexpected"),
    ("flow", step("action: demo.x\non_error: {say: oops}"), "$.steps.s.on_error", "'next' is a"),
    ("flow", slot("{type: number}"), "$.slots.x.type", "any of"),
    ("flow", slot("{type: text, scope: global}"), "$.slots.x.scope", "is not one of"),
    ("flow", slot("{type: text, min_length: 2}"), "$.slots.x", "'min_length' was unexpected"),
    # flow: the file
    ("flow", "flow: Greet\nstart: s\nsteps: {s: {end: true}}", "$.flow", "does not match"),
    ("flow", "flow: f\nstart: s\nsteps: {Ask-Name: {end: true}}", "$.steps", "does not match"),
    ("flow", "flow: f\nstart: end\nsteps: {end: {end: true}}", "$.steps", "end is reserved"),
    ("flow", "flow: f\nstart: s\nsteps: {s: {end: true}}\nversion: 2", "$", "'version' was"),
    ("flow", "flow: f\nstart: s", "$", "'steps' is a required"),
    # bot
    ("bot", bot(languages="[en, english]"), "$.languages[1]", "does not match"),
    ("bot", bot(languages="[]"), "$.languages", "should be non-empty"),
    ("bot", bot("interrupts: {hello: {words: [hi]}}"), "$.interrupts", "'hello' was unexpected"),
    ("bot", bot("interrupts: {help: {say: help.text}}"), "$.interrupts.help", "'words' is a"),
    (
        "bot",
        bot("interrupts: {help: {words: {english: [help]}}}"),
        "$.interrupts.help.words",
        "Keys are language codes",
    ),
    ("bot", bot("session: {restart_after: 30 days}"), "$.session.restart_after", NOT_DURATION),
    ("bot", bot("session: {undo: 3}"), "$.session", "'undo' was unexpected"),
    (
        "bot",
        bot("templates: {r: {name: r1, category: promo}}"),
        "$.templates.r.category",
        "is not one of",
    ),
    (
        "bot",
        bot("templates: {r: {name: r1, language: {en: english}}}"),
        "$.templates.r.language.en",
        "does not match",
    ),
    ("bot", bot("templates: {r: {params: [a]}}"), "$.templates.r", "'name' is a required"),
    ("bot", bot("settings: {currency: shilling}"), "$.settings.currency", "does not match"),
    ("bot", bot("burst: {window: soon}"), "$.burst.window", NOT_DURATION),
    ("bot", bot("actions: [actions/demo.py]"), "$.actions[0]", "does not match"),
    ("bot", bot("flows: [main]"), "$", "'flows' was unexpected"),
    # transcript
    ("transcript", turn("{user: hi, button: ok}"), "$.turns[0].button", "cannot also have"),
    ("transcript", turn("{wait: 1h, release: true}"), "$.turns[0].release", "has `wait`"),
    ("transcript", turn("{expect: []}"), "$.turns[0]", "A turn needs one of"),
    ("transcript", turn("{user: hi, caption: x}"), "$.turns[0].caption", "image, document"),
    ("transcript", turn("{user: hi, colour: red}"), "$.turns[0]", "'colour' was unexpected"),
    ("transcript", turn("{wait: 2 hours}"), "$.turns[0].wait", NOT_DURATION),
    ("transcript", turn("{release: false}"), "$.turns[0].release", "True was expected"),
    ("transcript", turn("{location: [91, 0]}"), "$.turns[0].location[0]", "maximum of 90"),
    ("transcript", turn("{location: [1, 2, 3]}"), "$.turns[0].location", "Additional items"),
    ("transcript", turn("{location: {lat: 1}}"), "$.turns[0].location", "'lon' is a required"),
    ("transcript", turn("{user: hi, expect: [{say: hi}]}"), "$.turns[0].expect[0]", "'say' was"),
    ("transcript", turn("{user: hi, expect: [{}]}"), "$.turns[0].expect[0]", "non-empty"),
    ("transcript", turn("{user: true}"), "$.turns[0].user", "not of type"),
    (
        "transcript",
        turn("{user: hi, stub: {demo.x: {error: boom, outcome: ok}}}"),
        "$.turns[0].stub['demo.x'].outcome",
        "not both",
    ),
    (
        "transcript",
        turn("{user: hi, stub: {demo.x: {timeout: false}}}"),
        "$.turns[0].stub['demo.x'].timeout",
        "True was expected",
    ),
    (
        "transcript",
        turn("{user: hi, stub: {demo.x: {}}}"),
        "$.turns[0].stub['demo.x']",
        "should be non-empty",
    ),
    (
        "transcript",
        turn("{user: hi, stub: {reserve: {outcome: ok}}}"),
        "$.turns[0].stub",
        "Keys are action names",
    ),
    ("transcript", transcript("turns: []"), "$.turns", "should be non-empty"),
    (
        "transcript",
        transcript("start: 2026-11-23T09:00:00\nturns: [{user: hi}]"),
        "$.start",
        "does not match",
    ),
    ("transcript", transcript("user: 15550000001\nturns: [{user: hi}]"), "$.user", "not of type"),
    ("transcript", "transcript: t\nturns: [{user: hi}]", "$", "'bot' is a required"),
]


def path_of(error: ValidationError) -> str:
    """The JSON path of an error, with keys that are not plain names quoted: $.stub['demo.x']."""
    out = "$"
    for part in error.absolute_path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


def readable(error: ValidationError) -> str:
    """jsonschema's message, and the rule's own sentence when the failing schema has one."""
    rule = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
    return f"{error.message} | {rule}"


@pytest.mark.parametrize(
    ("name", "text", "path", "says"),
    BAD,
    ids=[f"{name}:{path}:{says}" for name, _, path, says in BAD],
)
def test_bad_example_is_refused_at_the_offending_key(
    name: str, text: str, path: str, says: str
) -> None:
    errors = list(VALIDATORS[name].iter_errors(load(text)))
    assert errors, "accepted"
    assert [path_of(e) for e in errors] == [path] * len(errors), [readable(e) for e in errors]
    assert any(says in readable(e) for e in errors), [readable(e) for e in errors]


def test_a_rule_error_carries_its_sentence() -> None:
    """Kind clashes and misplaced keys are `not` errors whose schema says what is wrong."""
    doc = load(step(ASK + "action: demo.x\nwith: {a: 1}\ntimeout: 5s"))
    (error,) = VALIDATORS["flow"].iter_errors(doc)
    assert error.validator == "not"
    assert error.schema["description"] == (
        "A step does one thing: this step has `ask`, so it cannot also have `action`, `if`, "
        "`call`, `goto`, `handoff` or `end`. Split it into two steps."
    )

