"""JSON Schema checks with errors placed at the line and column of the offending YAML."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from engine.flow._yaml import Document
from engine.flow.problems import Problem, json_path

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@cache
def validator(name: str) -> Draft7Validator:
    """The validator for `schemas/<name>.schema.json`."""
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    return Draft7Validator(schema)


def check(doc: Document, schema: str, file: str) -> list[Problem]:
    problems = []
    for error in validator(schema).iter_errors(doc.data):
        problems.extend(_problems(_specific(error), doc, file))
    return sorted(set(problems))


def _specific(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf failures, the branch error that best says what is wrong."""
    while error.context and not _is_rule(error):
        deeper = best_match(error.context)
        if deeper is None:
            break
        error = deeper
    return error


def _is_rule(error: ValidationError) -> bool:
    """Rule subschemas (see the schemas' $comment) carry their error sentence as description."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if not schema.get("description"):
        return False
    if error.validator in ("not", "anyOf", "oneOf"):
        return True
    return error.validator == "required" and "properties" not in schema


def _problems(error: ValidationError, doc: Document, file: str) -> list[Problem]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        patterns = error.schema.get("patternProperties", {})
        extras = [k for k in error.instance if k not in allowed and not any(re.search(p, str(k)) for p in patterns)]
        out = []
        for key in extras:
            line, col = doc.where(path + (key,), key=True)
            hint = f"; expected one of: {', '.join(sorted(allowed))}" if allowed and len(allowed) <= 20 else ""
            out.append(Problem(file, line, col, json_path(path + (key,)), f"unknown key {key!r}{hint}", "schema.unknown_key"))
        if out:
            return out
    line, col = doc.where(path, key=error.validator == "not")  # a key not allowed here: point at the key
    return [Problem(file, line, col, json_path(path), _message(error), f"schema.{error.validator}")]


def _message(error: ValidationError) -> str:
    if _is_rule(error):
        return str(error.schema["description"])  # type: ignore[index]
    kind = error.validator
    value = error.instance
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {_article(expected)}, found {_describe(value)}"
    if kind == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        return f"missing required key {missing[0]!r}" if missing else error.message
    if kind == "enum":
        return f"{value!r} is not one of: {', '.join(map(str, error.validator_value))}"
    if kind == "pattern":
        described = error.schema.get("description", "").split(".")[0]
        return f"{value!r} is not in the expected form" + (f" ({described})" if described else "")
    if kind in ("maxLength", "minLength", "maxItems", "minItems", "maximum", "minimum"):
        return error.message
    return error.message


def _article(name: str) -> str:
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list", dict: "a mapping"}
    return f"{names.get(type(value), type(value).__name__)} ({value!r})" if not isinstance(value, (list, dict)) else names[type(value)]
