"""`flowbot chat BOT --script FILE --json` prints WhatsApp Cloud API bodies, one per line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BOT = """\
bot: shop
start: main
languages: [en]
"""

MAIN = """\
flow: main
start: menu
steps:
  menu:
    ask: What would you like?
    choices: [{id: fruit, title: Fruit}, {id: veg, title: Vegetables}]
    on: {veg: veg}
    next: fruit
  fruit:
    ask: Pick a fruit
    choices:
      - {id: mango, title: Mango, description: Sweet}
      - {id: banana, title: Banana}
      - {id: apple, title: Apple}
      - {id: orange, title: Orange}
    into: fruit
    next: where
  veg:
    say: No vegetables today.
    end: true
  where:
    ask: Where should we deliver?
    into: place
    validate: {type: location}
    next: photo
  photo:
    ask: Send a photo of your gate
    into: gate
    validate: {type: media, kinds: [image]}
    next: done
  done:
    say: "Thanks! {{ slots.fruit }} is on its way."
    end: true
"""


def run_chat(tmp_path: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    bot = tmp_path / "flows" / "shop"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text(BOT)
    (bot / "main.yaml").write_text(MAIN)
    (tmp_path / "locales" / "shop").mkdir(parents=True)
    (tmp_path / "locales" / "shop" / "en.yaml").write_text("{}\n")
    script = tmp_path / "script.txt"
    script.write_text("\n".join(lines) + "\n")
    return subprocess.run([sys.executable, "-m", "engine.cli", "chat", str(bot), "--script", str(script), "--json", "--user", "254712345678"],
                          capture_output=True, text=True, timeout=60)


def test_script_prints_cloud_api_bodies(tmp_path: Path) -> None:
    gate = tmp_path / "gate.jpg"
    gate.write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    proc = run_chat(tmp_path, ["hello", '{"button": "fruit"}', '{"list": "banana"}', '{"location": [-1.28, 36.82]}', json.dumps({"image": str(gate)})])
    assert proc.returncode == 0, proc.stderr
    bodies = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(b["messaging_product"] == "whatsapp" and b["to"] == "254712345678" for b in bodies)
    menu, fruit, where, photo, done = bodies
    assert menu["type"] == "interactive" and menu["interactive"]["type"] == "button"
    assert menu["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "fruit", "title": "Fruit"}},
        {"type": "reply", "reply": {"id": "veg", "title": "Vegetables"}},
    ]
    assert fruit["interactive"]["type"] == "list"
    rows = fruit["interactive"]["action"]["sections"][0]["rows"]
    assert rows[0] == {"id": "mango", "title": "Mango", "description": "Sweet"}
    assert fruit["interactive"]["action"]["button"] == "Choose"
    assert where == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "254712345678",
                     "type": "text", "text": {"preview_url": False, "body": "Where should we deliver?"}}
    assert photo["text"]["body"] == "Send a photo of your gate"
    assert done["text"]["body"] == "Thanks! banana is on its way."


def test_a_bad_script_line_is_reported_not_a_traceback(tmp_path: Path) -> None:
    proc = run_chat(tmp_path, ["hello", '{"button": '])
    assert proc.returncode == 2
    assert "line 2: not valid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_interactive_chat_numbers_buttons_and_rows(tmp_path: Path) -> None:
    run_chat(tmp_path, ["hello"])  # writes the bot
    bot = tmp_path / "flows" / "shop"
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "chat", str(bot)], input="hello\n1\n2\n/quit\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "[1] Fruit   [2] Vegetables" in out
    assert "≡ Choose" in out and " 1. Mango — Sweet" in out and " 4. Orange" in out
    assert "Where should we deliver?" in out  # "2" picked Banana, the second row
