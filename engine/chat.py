"""`flowbot chat`: talk to a bot in the terminal, or play a script of messages.

Runs on the embedded default: sessions in memory, no server. In a terminal, buttons and list
rows are numbered (type the number, the title, or the id); `/image PATH`, `/location LAT LON`,
`/wait 2h`, `/release` and `/quit` stand for what a phone would send. With `--script FILE
--json`, every bot message is printed as the exact body the WhatsApp Cloud API expects.
"""

from __future__ import annotations

import json
import mimetypes
import shlex
import sys
from pathlib import Path
from typing import Any

from engine.clock import Clock, FakeClock
from engine.flow.durations import parse_duration
from engine.flow.loader import load_bot
from engine.messages import Inbound, Location, Media, Outbound
from engine.runtime import MemoryStore, Runtime, TurnResult


class ScriptError(ValueError):
    pass


def parse_line(line: str, user: str, n: int) -> Inbound | tuple[str, Any]:
    """One script line: plain text, or a JSON object naming a tap, a file or a location.

    Returns an Inbound, or a control tuple: ("wait", seconds) or ("release", None).
    """
    mid = f"wamid.chat.{n}"
    stripped = line.strip()
    if not stripped.startswith("{"):
        return Inbound(user=user, text=line.rstrip("\n"), message_id=mid)
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ScriptError(f"line {n}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or len(data) != 1:
        raise ScriptError(f"line {n}: expected one key: button, list, image, document, audio, video, location, wait, release")
    (key, value), = data.items()
    if key in ("button", "list"):
        return Inbound(user=user, kind=key, reply_id=str(value), text=str(value), message_id=mid)
    if key in ("image", "document", "audio", "video"):
        path = Path(str(value))
        size = path.stat().st_size if path.is_file() else 0
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Inbound(user=user, kind=key, media=Media(kind=key, id=f"local:{path}", mime=mime, size=size, filename=path.name), message_id=mid)
    if key == "location":
        if not isinstance(value, list) or len(value) != 2:
            raise ScriptError(f"line {n}: location is [lat, lon]")
        return Inbound(user=user, kind="location", location=Location(lat=float(value[0]), lon=float(value[1])), message_id=mid)
    if key == "wait":
        return ("wait", parse_duration(value))
    if key == "release":
        return ("release", None)
    raise ScriptError(f"line {n}: unknown key {key!r}")


async def _step(runtime: Runtime, clock: Clock, item: Inbound | tuple[str, Any], user: str) -> list[Outbound]:
    if isinstance(item, Inbound):
        if isinstance(clock, FakeClock):
            clock.advance(1.0)
        return (await runtime.handle(item)).outbound
    kind, value = item
    if kind == "wait":
        if isinstance(clock, FakeClock):
            clock.advance(value)
        results: list[TurnResult] = [r for _, r in await runtime.tick()]
        return [o for r in results for o in r.outbound]
    return (await runtime.release(user)).outbound


async def _session(runtime: Runtime, user: str, lang: str | None) -> None:
    if lang:
        session = runtime.new_session()
        session.lang = lang
        await runtime.store.save(runtime.bot.name, user, session.to_bytes(), runtime.bot.session.ttl)


async def run_script(bot_dir: Path, script: Path, as_json: bool, user: str, lang: str | None) -> int:
    loaded = load_bot(bot_dir)
    clock = FakeClock(Clock().now())
    runtime = Runtime(loaded, MemoryStore(), clock)
    await _session(runtime, user, lang)
    lines = sys.stdin.readlines() if str(script) == "-" else script.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = parse_line(line, user, n)
        except ScriptError as exc:
            print(f"flowbot: {script}:{exc}", file=sys.stderr)
            return 2
        for out in await _step(runtime, clock, item, user):
            if as_json:
                print(json.dumps(out.whatsapp_body(), ensure_ascii=False))
            else:
                print("\n".join(_display(out)))
    return 0


def _display(out: Outbound) -> list[str]:
    if out.kind == "buttons":
        return [out.text, "  " + "   ".join(f"[{i}] {b.title}" for i, b in enumerate(out.buttons, 1))]
    if out.kind == "list":
        lines = [out.text, f"  ≡ {out.list_button}"]
        for i, row in enumerate(out.rows, 1):
            lines.append(f"  {i:>2}. {row.title}" + (f" — {row.description}" if row.description else ""))
        return lines
    if out.kind == "template" and out.template is not None:
        return [f"(template {out.template.name}, {out.template.language}: {', '.join(out.template.params)})"]
    if out.kind == "media" and out.media is not None:
        return [f"({out.media.kind} {out.media.link or out.media.id}) {out.media.caption}"]
    return [out.text]


def _command(text: str, user: str, n: int) -> Inbound | tuple[str, Any] | None:
    try:
        parts = shlex.split(text[1:])
    except ValueError:
        parts = text[1:].split()
    if not parts:
        return None
    name, args = parts[0], parts[1:]
    if name in ("image", "document", "audio", "video") and args:
        return parse_line(json.dumps({name: args[0]}), user, n)
    if name == "location" and len(args) == 2:
        return parse_line(json.dumps({"location": [float(args[0]), float(args[1])]}), user, n)
    if name == "wait" and args:
        return ("wait", parse_duration(args[0]))
    if name == "release":
        return ("release", None)
    return None


async def run_interactive(bot_dir: Path, user: str, lang: str | None) -> int:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    loaded = load_bot(bot_dir)
    clock = FakeClock(Clock().now())
    runtime = Runtime(loaded, MemoryStore(), clock)
    await _session(runtime, user, lang)
    console.print(f"[bold]{loaded.bot.title}[/bold] — say hi. /image PATH, /location LAT LON, /wait 2h, /release, /quit")
    n = 0
    while True:
        try:
            text = console.input("[green]you>[/green] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return 0
        if text.strip() in ("/quit", "/exit"):
            return 0
        n += 1
        try:
            item = _command(text.strip(), user, n) if text.startswith("/") else Inbound(user=user, text=text, message_id=f"wamid.chat.{n}")
        except (ScriptError, ValueError) as exc:
            console.print(f"[red]{exc}[/red]")
            continue
        if item is None:
            console.print("[red]commands: /image PATH, /location LAT LON, /wait 2h, /release, /quit[/red]")
            continue
        for out in await _step(runtime, clock, item, user):
            for line in _display(out):
                console.print("[cyan]bot>[/cyan] " + escape(line))
