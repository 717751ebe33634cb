"""Schema-checked YAML data to model values (engine.flow.model).

Runs only on data that passed the JSON Schema, so shapes are known; semantic problems
(references, limits, translations) are engine.flow.checks' job.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from engine.flow.durations import parse_duration
from engine.flow.model import (
    Bot, Branch, Choice, DynamicChoices, Expiry, Flow, Interrupt, Reminder, SessionSettings,
    SlotDef, Step, Target, TemplateRef, Wait,
)

STEP_KINDS = ("ask", "action", "if", "call", "goto", "handoff", "end")


def target(value: Any) -> Target:
    if isinstance(value, dict):
        return Target(step=value.get("step"), flow=value.get("flow"))
    return Target(step=str(value))


def branch(value: dict[str, Any] | None) -> Branch | None:
    if value is None:
        return None
    return Branch(next=target(value.get("next", "end")), say=value.get("say"))


def step_kind(data: dict[str, Any]) -> str:
    for kind in STEP_KINDS:
        if kind in data and not (kind == "end" and data[kind] is not True):
            return kind
    return "say"


def choices(value: Any) -> tuple[Choice, ...] | DynamicChoices | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return DynamicChoices(
            source=value["from"], id=value.get("id", "id"), title=value.get("title", "title"),
            description=value.get("description"),
        )
    out = []
    for item in value:
        if isinstance(item, dict):
            out.append(Choice(id=str(item["id"]), title=item.get("title", str(item["id"])),
                              description=item.get("description")))
        else:
            out.append(Choice(id=str(item), title=str(item)))
    return tuple(out)


def wait(value: dict[str, Any] | None) -> Wait | None:
    if value is None:
        return None
    reminders = tuple(
        Reminder(after=parse_duration(r["after"]), say=r["say"], template=r.get("template"))
        for r in value.get("remind", [])
    )
    expire = None
    if "expire" in value:
        e = value["expire"]
        expire = Expiry(after=parse_duration(e["after"]), next=target(e.get("next", "end")),
                        say=e.get("say"), template=e.get("template"))
    return Wait(reminders=reminders, expire=expire)


def step(name: str, data: dict[str, Any]) -> Step:
    kind = step_kind(data)
    conditions = tuple((c["when"], target(c["next"])) for c in data.get("if", []))
    return Step(
        name=name, kind=kind, say=data.get("say"), template=data.get("template"),
        next=target(data["next"]) if "next" in data else None,
        ask=data.get("ask"), into=data.get("into"), validate=data.get("validate"),
        invalid=data.get("invalid"), retries=int(data.get("retries", 3)),
        fallback=branch(data.get("fallback")), choices=choices(data.get("choices")),
        button=data.get("button"), wait=wait(data.get("wait")),
        on={str(k): target(v) for k, v in (data.get("on") or {}).items()},
        action=data.get("action"), args=dict(data.get("with") or {}),
        timeout=parse_duration(data.get("timeout", "10s")),
        action_retries=int(data.get("retries", 0)) if kind == "action" else 0,
        on_error=branch(data.get("on_error")), conditions=conditions,
        call=data.get("call"), goto=target(data["goto"]) if "goto" in data else None,
        handoff=data.get("handoff") if kind == "handoff" else None,
    )


def flow(data: dict[str, Any], file: Path, raw: bytes) -> Flow:
    slots = {
        name: SlotDef(name=name, type=spec.get("type", "text"), default=spec.get("default"),
                      scope=spec.get("scope", "flow"))
        for name, spec in (data.get("slots") or {}).items()
    }
    return Flow(
        name=data["flow"], start=data.get("start") or next(iter(data["steps"])),
        steps={name: step(name, s) for name, s in data["steps"].items()},
        slots=slots, file=file, version=hashlib.sha256(raw).hexdigest()[:10],
        description=data.get("description", ""),
    )


def interrupts(data: dict[str, Any]) -> dict[str, Interrupt]:
    out = {}
    for name, spec in data.items():
        words = spec.get("words", [])
        by_lang = {k: tuple(v) for k, v in words.items()} if isinstance(words, dict) else {"*": tuple(words)}
        out[name] = Interrupt(name=name, words=by_lang, say=spec.get("say"), flow=spec.get("flow"))
    return out


def templates(data: dict[str, Any]) -> dict[str, TemplateRef]:
    return {
        key: TemplateRef(key=key, name=spec.get("name", key), languages=dict(spec.get("language") or {}),
                         params=tuple(spec.get("params") or ()))
        for key, spec in data.items()
    }


def session_settings(data: dict[str, Any]) -> SessionSettings:
    defaults = SessionSettings()
    return SessionSettings(
        restart_after=parse_duration(data["restart_after"]) if "restart_after" in data else defaults.restart_after,
        expired=data.get("expired", "flowbot.session.expired"),
        undo_depth=int(data.get("undo_depth", defaults.undo_depth)),
        ttl=parse_duration(data["ttl"]) if "ttl" in data else defaults.ttl,
    )


def bot(data: dict[str, Any], root: Path, flows: dict[str, Flow]) -> Bot:
    languages = tuple(data.get("languages") or ["en"])
    return Bot(
        name=data["bot"], root=root, start=data.get("start") or next(iter(flows), ""),
        languages=languages, fallback=dict(data.get("fallback") or {}), flows=flows,
        interrupts=interrupts(data.get("interrupts") or {}),
        templates=templates(data.get("templates") or {}),
        settings=dict(data.get("settings") or {}),
        session=session_settings(data.get("session") or {}),
        action_modules=tuple(data.get("actions") or ()), manifest=data,
        proactive=tuple(data.get("proactive") or ()),
        title=data.get("name", data["bot"]),
    )
