"""YAML read strictly, with the position of every key and value kept for error messages.

PyYAML alone silently keeps the last of two duplicate keys and reads `yes`, `no`, `on`, `off`
as booleans, `012` as 10 and `1:30` as 90. Flow authors mean none of that, so this loader
composes the node tree with the C parser and builds the data itself with YAML 1.2 core rules:
only true/false are booleans, only plain decimal digits are integers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

Path = tuple[Any, ...]

_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")  # 012 stays text: an id, not octal
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|(0|[1-9][0-9]*)(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}


class YamlProblem(Exception):
    def __init__(self, message: str, line: int, col: int, code: str = "yaml.syntax") -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.code = message, line, col, code


@dataclass
class Document:
    """Parsed data plus where each piece came from (1-based line and column)."""

    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path, key: bool = False) -> tuple[int, int]:
        """The closest known position of `path`: the key itself when asked, else its value."""
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return (1, 1)
            path = path[:-1]


def load(text: str | bytes) -> Document:
    """Parse one YAML document. Raises YamlProblem with a position for anything malformed."""
    if isinstance(text, bytes):
        if b"\x00" in text:
            raise YamlProblem("this is a binary file, not YAML", 1, 1, "yaml.binary")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlProblem(f"not UTF-8 text ({exc.reason} at byte {exc.start})", 1, 1, "yaml.encoding") from exc
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(f"invalid YAML: {exc.problem or exc.context}", line, col) from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}", 1, 1) from exc
    doc = Document(data=None)
    if node is not None:
        doc.data = _build(node, (), doc)
    return doc


def _pos(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _build(node: yaml.Node, path: Path, doc: Document) -> Any:
    doc.values[path] = _pos(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem("merge keys (<<) are not supported; write the keys out", *_pos(key_node), "yaml.merge")
            key = _build(key_node, path + ("<key>",), doc)
            if isinstance(key, (dict, list)):
                raise YamlProblem("a key must be a plain value", *_pos(key_node), "yaml.key")
            if key in out:
                raise YamlProblem(f"duplicate key {key!r} (the first is at line {doc.keys[path + (key,)][0]})",
                                  *_pos(key_node), "yaml.duplicate_key")
            doc.keys[path + (key,)] = _pos(key_node)
            out[key] = _build(value_node, path + (key,), doc)
        doc.values.pop(path + ("<key>",), None)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), doc) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    """YAML 1.2 core types from a scalar the 1.1 resolver has tagged: the tag is only a hint."""
    value, tag = node.value, node.tag
    if node.style or tag == "tag:yaml.org,2002:str":  # quoted, block, or plainly text
        return value
    if tag == "tag:yaml.org,2002:null" and value in _NULL:
        return None
    if tag == "tag:yaml.org,2002:bool":
        return True if value in _TRUE else False if value in _FALSE else value
    if tag == "tag:yaml.org,2002:int":
        return int(value) if _INT.match(value) else value
    if tag == "tag:yaml.org,2002:float":
        return float(value) if _FLOAT.match(value) else value
    return value
