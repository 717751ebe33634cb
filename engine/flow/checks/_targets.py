"""Where a step can go, read from the YAML as written so each target keeps its exact path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.flow.model import Target
from engine.flow.parse import target

Located = tuple[tuple[Any, ...], Target]  # (path inside the step, target)


def step_targets(data: dict[str, Any], *, fallback: bool = True) -> Iterator[Located]:
    """Every target of a step: next, on, if, fallback, on_error, wait.expire, goto, call.

    `fallback=False` leaves out the fallback, which only runs after the user answered.
    """
    if "next" in data:
        yield ("next",), target(data["next"])
    for key, value in _mapping(data.get("on")).items():
        yield ("on", key), target(value)
    for i, condition in enumerate(data.get("if") or []):
        if isinstance(condition, dict) and "next" in condition:
            yield ("if", i, "next"), target(condition["next"])
    branches = ("fallback", "on_error") if fallback else ("on_error",)
    for branch in branches:
        if "next" in _mapping(data.get(branch)):
            yield (branch, "next"), target(data[branch]["next"])
    expire = _mapping(_mapping(data.get("wait")).get("expire"))
    if "next" in expire:
        yield ("wait", "expire", "next"), target(expire["next"])
    if "goto" in data:
        yield ("goto",), target(data["goto"])
    if isinstance(data.get("call"), str):
        yield ("call",), Target(flow=data["call"])


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}
