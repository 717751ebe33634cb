"""Transcripts: a conversation written as YAML, played through the real runtime.

Time is a fake clock (`wait: 23h` moves it and fires due reminders), actions can be stubbed per
transcript or per turn, and the whole conversation is rendered as readable lines:

    > user: 2
    < bot: How many? [1 | 2 | 3]
    · demo.reserve_slot → ok

which is what the snapshot keeps and what QA reviews.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.clock import FakeClock
from engine.flow import schema
from engine.flow._yaml import YamlProblem, load
from engine.flow.durations import parse_duration, parse_size
from engine.flow.loader import LoadedBot, load_bot
from engine.messages import Inbound, Location, Media, Outbound
from engine.runtime import MemoryStore, Runtime
from engine.runtime.steps import stub_result
from engine.testing.coverage import Coverage

DEFAULT_USER = "15550000001"
DEFAULT_START = "2026-01-05T09:00:00+00:00"


class TranscriptError(Exception):
    """A transcript file that cannot be played (bad YAML, unknown bot, schema errors)."""


@dataclass
class Played:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render_outbound(out: Outbound) -> list[str]:
    """A message as the snapshot shows it."""
    if out.kind == "text":
        head, *rest = out.text.split("\n") or [""]
        return [f"< bot: {head}"] + [f"<      {line}" for line in rest]
    if out.kind == "buttons":
        lines = render_outbound(Outbound(to=out.to, text=out.text))
        lines[-1] += " [" + " | ".join(b.title for b in out.buttons) + "]"
        return lines
    if out.kind == "list":
        lines = render_outbound(Outbound(to=out.to, text=out.text))
        lines[-1] += f" {{{out.list_button}}}"
        for i, row in enumerate(out.rows, 1):
            lines.append(f"<   {i}. {row.title}" + (f" — {row.description}" if row.description else ""))
        return lines
    if out.kind == "template" and out.template is not None:
        params = ", ".join(out.template.params)
        return [f"< bot: template {out.template.name} ({out.template.language}) [{params}]"]
    if out.kind == "media" and out.media is not None:
        return [f"< bot: {out.media.kind} {out.media.link or out.media.id} {out.media.caption}".rstrip()]
    return [f"< bot: ({out.kind})"]


@lru_cache(maxsize=32)
def cached_bot(bot_dir: str) -> LoadedBot:
    return load_bot(bot_dir)


def find_bot_dir(transcript: Path, name: str) -> Path:
    for parent in transcript.resolve().parents:
        candidate = parent / "flows" / name
        if (candidate / "bot.yaml").is_file():
            return candidate
    raise TranscriptError(f"bot {name!r} not found in a flows/ folder above {transcript}")


def read(path: Path) -> dict[str, Any]:
    try:
        doc = load(path.read_bytes())
    except YamlProblem as exc:
        raise TranscriptError(f"{path}:{exc.line}:{exc.col}: {exc.message}") from exc
    problems = schema.check(doc, "transcript", str(path))
    if problems:
        raise TranscriptError("\n".join(str(p) for p in problems))
    return dict(doc.data)


def inbound_for(turn: dict[str, Any], user: str, n: int, base: Path) -> Inbound | None:
    mid = f"wamid.transcript.{n}"
    if "user" in turn:
        return Inbound(user=user, kind="text", text=str(turn["user"]), message_id=mid)
    if "button" in turn or "list" in turn:
        kind = "button" if "button" in turn else "list"
        return Inbound(user=user, kind=kind, reply_id=str(turn[kind]), text=str(turn.get("title", turn[kind])), message_id=mid)
    for kind in ("image", "document", "audio", "video"):
        if kind in turn:
            name = str(turn[kind])
            file = base / name
            size = turn.get("size", file.stat().st_size if file.is_file() else 1024)
            mime = turn.get("mime") or mimetypes.guess_type(name)[0] or "application/octet-stream"
            media = Media(kind=kind, id=f"media.{n}", mime=mime, size=parse_size(size), caption=str(turn.get("caption", "")), filename=name)
            return Inbound(user=user, kind=kind, media=media, text=media.caption, message_id=mid)
    if "location" in turn:
        loc = turn["location"]
        if isinstance(loc, list):
            location = Location(lat=float(loc[0]), lon=float(loc[1]))
        else:
            location = Location(lat=float(loc["lat"]), lon=float(loc["lon"]), name=loc.get("name", ""), address=loc.get("address", ""))
        return Inbound(user=user, kind="location", location=location, message_id=mid)
    return None


def describe_turn(turn: dict[str, Any]) -> str:
    for key, label in (("user", "user"), ("button", "tap"), ("list", "pick")):
        if key in turn:
            return f"> {label}: {turn[key]}"
    for kind in ("image", "document", "audio", "video"):
        if kind in turn:
            caption = f" ({turn['caption']})" if turn.get("caption") else ""
            return f"> {kind}: {turn[kind]}{caption}"
    if "location" in turn:
        return f"> location: {turn['location']}"
    if "wait" in turn:
        return f"~ wait {turn['wait']}"
    if "release" in turn:
        return "~ an agent releases the chat"
    if "start" in turn:
        params = turn["start"].get("params") or {}
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        return f"~ another system starts flow {turn['start']['flow']}" + (f" ({shown})" if shown else "")
    return "> ?"


def check(expectations: list[dict[str, Any]], sent: list[Outbound], where: str,
          templates: dict[str, str] | None = None) -> list[str]:
    """`templates` maps bot.yaml template keys to their WhatsApp names (`expect: {template: key}`)."""
    failures = []
    if len(expectations) != len(sent):
        failures.append(f"{where}: expected {len(expectations)} message(s), the bot sent {len(sent)}")
    for i, (want, got) in enumerate(zip(expectations, sent), 1):
        label = f"{where}, message {i}"
        text = got.text
        if "text" in want and text != want["text"]:
            failures.append(f"{label}: expected text {want['text']!r}, got {text!r}")
        if "contains" in want and str(want["contains"]) not in text:
            failures.append(f"{label}: expected it to contain {want['contains']!r}, got {text!r}")
        if "regex" in want and not re.search(str(want["regex"]), text):
            failures.append(f"{label}: expected it to match /{want['regex']}/, got {text!r}")
        if "buttons" in want and [b.title for b in got.buttons] != list(want["buttons"]):
            failures.append(f"{label}: expected buttons {want['buttons']}, got {[b.title for b in got.buttons]}")
        if "rows" in want and [r.title for r in got.rows] != list(want["rows"]):
            failures.append(f"{label}: expected rows {want['rows']}, got {[r.title for r in got.rows]}")
        wanted = (templates or {}).get(str(want.get("template")), want.get("template"))
        if "template" in want and (got.template is None or got.template.name != wanted):
            failures.append(f"{label}: expected template {want['template']!r}, got {got.template.name if got.template else None!r}")
    return failures


def stub_problems(loaded: LoadedBot, stubs: Mapping[str, Any], where: str) -> list[str]:
    """Stubs whose result the real action could not give (an outcome it does not declare, a
    declared field of the wrong type): a transcript must not stay green on a shape the plugin
    has since changed. Stubs of actions the bot does not load, and errors or timeouts, pass."""
    problems = []
    for name, stub in stubs.items():
        action = loaded.plugins.actions.get(name) if loaded.plugins is not None else None
        if action is None or not isinstance(stub, Mapping) or "error" in stub or stub.get("timeout"):
            continue
        wrong = action.wrong_shape(stub_result(dict(stub)), None)
        if wrong is not None:
            problems.append(f"{where}: the stub of {name} {wrong}")
    return problems


async def play(path: Path, coverage: Coverage | None = None, services: Mapping[str, Any] | None = None) -> Played:
    """Play a transcript file and return its rendered conversation and failed expectations.
    `services` are the clients the runtime gives actions (`ActionContext.services`)."""
    data = read(path)
    loaded = cached_bot(str(find_bot_dir(path, data["bot"])))
    start = datetime.fromisoformat(str(data.get("start", DEFAULT_START))).timestamp()
    clock = FakeClock(start)
    runtime = Runtime(loaded, MemoryStore(), clock, services=services)
    runtime.coverage = coverage
    user = str(data.get("user", DEFAULT_USER))
    stubs = dict(data.get("stubs") or {})
    played = Played([f"# {data.get('transcript', path.stem)} · bot {data['bot']} · user {user}"])
    if data.get("lang"):
        session = runtime.new_session()
        session.lang = str(data["lang"])
        await runtime.store.save(loaded.bot.name, user, session.to_bytes(), 3600)
    played.failures += stub_problems(loaded, stubs, "stubs")
    for n, turn in enumerate(data["turns"], 1):
        played.failures += stub_problems(loaded, turn.get("stub") or {}, f"turn {n} stub")
        if turn.get("note"):
            played.lines.append(f"# {turn['note']}")
        played.lines.append(describe_turn(turn))
        turn_stubs = {**stubs, **(turn.get("stub") or {})}
        sent: list[Outbound] = []
        events: list[str] = []
        if "wait" in turn:
            clock.advance(parse_duration(turn["wait"]))
            for _, result in await runtime.tick(turn_stubs):
                sent += result.outbound
                events += result.events
        elif "start" in turn:
            clock.advance(1.0)
            result = await runtime.start_flow(user, str(turn["start"]["flow"]), dict(turn["start"].get("params") or {}))
            sent, events = result.outbound, result.events
        elif turn.get("release"):
            result = await runtime.release(user, turn_stubs)
            sent, events = result.outbound, result.events
        else:
            inbound = inbound_for(turn, user, n, path.parent)
            assert inbound is not None  # the schema requires one of the kinds
            clock.advance(1.0)
            result = await runtime.handle(inbound, turn_stubs)
            sent, events = list(result.outbound), list(result.events)
            if result.forget:  # what the host's deletion job does, played in line
                lang = (await runtime.session(user) or runtime.new_session()).lang
                await runtime.forget(user)
                events.append("the user's data was deleted")
                done = runtime.new_session()
                done.lang = lang
                await runtime.store.save(loaded.bot.name, user, done.to_bytes(), 3600)
                sent += (await runtime.compute_say(user, "flowbot.forget.done", lang)).outbound
        played.lines += [f"· {e}" for e in events]
        for out in sent:
            played.lines += render_outbound(out)
        if "expect" in turn:
            templates = {key: ref.name for key, ref in loaded.bot.templates.items()}
            played.failures += check(list(turn["expect"]), sent, f"turn {n} ({describe_turn(turn)})", templates)
    return played
