"""The JSON Schemas `ai.extract` fills: the built-in ones (product, harvest, quote, order, each a
file here) or a flow's inline schema, plus the two transformations extraction needs.

A schema is written the ordinary way: `required` lists what the business needs. For the
model, `strict()` rewrites it into OpenAI's strict structured-output form: every property
listed in `required` *and nullable* (strict mode forces a value for every required key, so a
property the business requires must still be nullable, or the model would have to invent a
quantity the user never said), `additionalProperties: false` everywhere, keywords strict mode
refuses dropped. The answer, nulls removed, is then checked against the ordinary schema by
`check()`: what `required` still lacks is *missing*, what breaks another rule is *invalid* and
dropped, so a flow can ask for exactly those.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

BUILTIN = ("product", "harvest", "quote", "order")
_HERE = Path(__file__).resolve().parent
_NOT_IN_STRICT = frozenset({"$schema", "$id", "minLength", "maxLength", "default", "examples", "minProperties",
                            "maxProperties", "patternProperties", "unevaluatedProperties"})


class SchemaProblem(ValueError):
    """An unknown schema name or an inline schema extraction cannot use."""


@cache
def _builtin(name: str) -> str:
    return (_HERE / f"{name}.json").read_text(encoding="utf-8")


def load(schema: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(a name for the model, the schema) of a built-in schema's name or an inline schema."""
    if isinstance(schema, str):
        if schema not in BUILTIN:
            raise SchemaProblem(f"no built-in schema {schema!r}: use one of {', '.join(BUILTIN)} or an inline JSON Schema")
        return schema, json.loads(_builtin(schema))
    if not isinstance(schema, Mapping):
        raise SchemaProblem(f"a schema is a name or a JSON Schema object, not {type(schema).__name__}")
    inline = copy.deepcopy(dict(schema))
    try:
        Draft202012Validator.check_schema(inline)
    except Exception as exc:  # jsonschema.SchemaError
        raise SchemaProblem(f"the inline schema is not a valid JSON Schema: {getattr(exc, 'message', exc)}") from exc
    if inline.get("type") != "object" or not isinstance(inline.get("properties"), Mapping):
        raise SchemaProblem("an extraction schema is an object with `properties`")
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(inline.get("title") or "extraction")).strip("_")[:64] or "extraction"
    return name, inline


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.get("type")
    if kind in ("object", "array") or kind is None:
        return {"anyOf": [node, {"type": "null"}]}
    node["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    if "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    return node


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema in OpenAI's strict structured-output form, every property nullable."""
    node = {k: copy.deepcopy(v) for k, v in schema.items() if k not in _NOT_IN_STRICT}
    if isinstance(node.get("properties"), Mapping):
        node["properties"] = {name: _nullable(strict(prop)) for name, prop in node["properties"].items()}
        node["required"] = list(node["properties"])
        node["additionalProperties"] = False
    if isinstance(node.get("items"), Mapping):
        node["items"] = strict(node["items"])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(node.get(key), list):
            node[key] = [strict(n) for n in node[key]]
    if "oneOf" in node:  # strict mode knows anyOf only
        node["anyOf"] = node.pop("oneOf")
    return node


@dataclass
class Checked:
    value: dict[str, Any]
    missing: list[str] = field(default_factory=list)  # dotted paths: price.amount, items[0].quantity
    invalid: list[dict[str, str]] = field(default_factory=list)  # {path, message}, values dropped

    @property
    def complete(self) -> bool:
        return not self.missing and not self.invalid


def _dotted(path: list[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _prune(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """Without nulls, empty strings, and keys the schema does not allow."""
    schema = schema or {}
    if isinstance(value, Mapping):
        props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else None
        closed = props is not None and schema.get("additionalProperties") is False
        out = {}
        for k, v in value.items():
            if v is None or v == "" or (closed and k not in props):
                continue
            out[k] = _prune(v, (props or {}).get(k))
        return out
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else None
        return [_prune(v, items) for v in value if v is not None and v != ""]
    return value


def _delete(value: Any, path: list[Any]) -> None:
    for part in path[:-1]:
        value = value[part]
    del value[path[-1]]


def check(schema: Mapping[str, Any], data: Any) -> Checked:
    """`data` against `schema`: what is valid, what is missing, what was invalid (and dropped)."""
    value = _prune(data if isinstance(data, Mapping) else {}, schema)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    invalid: list[dict[str, str]] = []
    for _ in range(50):  # each round drops at least one value
        errors = [e for e in validator.iter_errors(value) if e.validator != "required" and e.absolute_path]
        if not errors:
            break
        deepest = max(errors, key=lambda e: (len(e.absolute_path), [(isinstance(p, str), p) for p in e.absolute_path]))
        path = list(deepest.absolute_path)
        invalid.append({"path": _dotted(path), "message": deepest.message})
        _delete(value, path)
    invalid += [{"path": "", "message": e.message} for e in validator.iter_errors(value)
                if e.validator != "required" and not e.absolute_path]
    missing = sorted({
        _dotted([*e.absolute_path, name])
        for e in validator.iter_errors(value) if e.validator == "required"
        for name in e.validator_value if isinstance(e.instance, Mapping) and name not in e.instance
    })
    return Checked(value, missing, invalid)
