"""engine.flow.graph: Mermaid and SVG diagrams of a flow, drawn from its FlowMachine."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from engine.flow import parse
from engine.flow.graph import diagram, mermaid_ids, render
from engine.flow.machine import FlowMachine
from engine.flow.model import Flow

SVG = "{http://www.w3.org/2000/svg}"

BOOKING: dict[str, Any] = {
    "flow": "booking",
    "start": "welcome",
    "steps": {
        "welcome": {"say": "booking.welcome", "next": "ask_qty"},
        "ask_qty": {"ask": "booking.ask_qty", "into": "qty", "validate": {"type": "integer", "min": 1},
                    "fallback": {"say": "booking.giving_up", "next": {"flow": "main"}}, "next": "pick_day"},
        "pick_day": {"ask": "booking.pick_day", "into": "day",
                     "choices": [{"id": "today", "title": "t"}, {"id": "tomorrow", "title": "t"},
                                 {"id": "later", "title": "l"}],
                     "on": {"later": "ask_date"}, "next": "reserve"},
        "ask_date": {"ask": "booking.ask_date", "into": "day", "validate": {"type": "date"}, "next": "reserve"},
        "reserve": {"action": "demo.reserve_slot", "on": {"ok": "confirm", "full": "pick_day"},
                    "on_error": {"say": "errors.try_later", "next": "agent"}, "next": "confirm"},
        "confirm": {"ask": "booking.confirm", "choices": [{"id": "yes", "title": "y"}, {"id": "no", "title": "n"}],
                    "on": {"yes": "get_address", "no": "pick_day"},
                    "wait": {"expire": {"after": "48h", "next": "end"}}},
        "get_address": {"call": "address", "next": "route"},
        "route": {"if": [{"when": "slots.qty > 10", "next": "bulk"}], "next": "done"},
        "bulk": {"handoff": {"reason": "bulk"}, "say": "booking.agent_coming", "next": "done"},
        "agent": {"handoff": {"reason": "complaint"}, "next": {"flow": "main", "step": "menu"}},
        "done": {"say": "booking.done", "end": True},
        "again": {"ask": "booking.again", "into": "again", "next": "again"},  # unreachable, loops on itself
    },
}


def make(data: dict[str, Any]) -> Flow:
    return parse.flow(data, Path("x.yaml"), b"flow bytes")


def transitions(flow: Flow) -> list[tuple[str, str, str]]:
    """(label, source, dest) for every transition of the flow's compiled machine."""
    machine = FlowMachine(flow).machine
    return [(event.name, source, t.dest) for event in machine.events.values()
            for source, ts in event.transitions.items() for t in ts]


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [el for el in root.iter() if name in (el.get("class") or "").split()]


# ─── Mermaid ────────────────────────────────────────────────────────────────────────────────


def test_mermaid_is_a_state_diagram_with_the_start_marked() -> None:
    text = render(make(BOOKING), "mermaid")
    assert text.startswith("stateDiagram-v2\n")
    assert "    [*] --> s_welcome\n" in text


def test_mermaid_shows_every_step_with_its_kind() -> None:
    text = render(make(BOOKING), "mermaid")
    for name in BOOKING["steps"]:
        assert f'    state "{name}" as s_{name}\n' in text
    assert "s_ask_qty : ask: into qty\n" in text
    assert "s_pick_day : ask: into day, 3 choices\n" in text
    assert "s_reserve : action: demo.reserve_slot\n" in text
    assert "s_get_address : call: address\n" in text
    assert "s_agent : handoff: complaint\n" in text
    assert "s_welcome : say\n" in text


def test_mermaid_has_one_line_per_machine_transition_with_its_label() -> None:
    flow = make(BOOKING)
    text = render(flow, "mermaid")
    ids = mermaid_ids(diagram(flow))
    edges = transitions(flow)
    assert len(edges) == 21
    for label, source, dest in edges:
        assert re.search(rf"^    {ids[source]} --> {re.escape(ids[dest])} : {re.escape(label)}\b", text, re.M), label
    assert text.count(" --> ") == len(edges) + 1  # and the start
    for label in ("on:later", "on:ok", "on:full", "on:yes", "on:no", "error", "fallback",
                  "expire", "call", "if:0", "next"):
        assert f" : {label}" in text


def test_mermaid_draws_exits_to_other_flows_and_the_end() -> None:
    text = render(make(BOOKING), "mermaid")
    assert 'state "main" as x_main\n' in text
    assert 'state "main.menu" as x_main_menu\n' in text
    assert 'state "address" as x_address\n' in text
    assert "s_ask_qty --> x_main : fallback\n" in text
    assert "s_agent --> x_main_menu : next\n" in text
    assert "s_get_address --> x_address : call\n" in text
    assert "s_done --> [*] : next\n" in text
    assert "s_confirm --> [*] : expire\n" in text
    assert "class x_main,x_address,x_main_menu exit\n" in text
    assert "s_route --> s_bulk : if:0 slots.qty #gt; 10\n" in text  # the condition, escaped


def test_mermaid_leaves_out_an_end_nothing_reaches() -> None:
    flow = make({"flow": "hop", "steps": {"go": {"goto": {"flow": "main"}}}})
    text = render(flow, "mermaid")
    assert "--> [*] :" not in text
    assert "[*] --> s_go\n" in text
    assert "s_go --> x_main : goto\n" in text


def test_a_target_naming_no_step_is_still_drawn() -> None:
    flow = make({"flow": "typo", "steps": {"a": {"say": "x", "next": "bee"}}})
    assert 's_a --> s_bee : next\n' in render(flow, "mermaid")
    assert 's_bee : no such step\n' in render(flow, "mermaid")
    root = ET.fromstring(render(flow, "svg"))
    assert [n.get("data-state") for n in by_class(root, "node")] == ["a", "bee"]


def test_output_is_deterministic() -> None:
    for fmt in ("mermaid", "svg"):
        first = render(make(BOOKING), fmt)
        assert render(make(BOOKING), fmt) == first
        assert render(make(copy.deepcopy(BOOKING)), fmt) == first


NASTY: dict[str, Any] = {
    "flow": 'we<ird> & "q"',
    "start": "note",
    "steps": {
        "note": {"ask": "x", "choices": [{"id": 'a#b;c"d<e>&f', "title": "t"}, {"id": "end", "title": "e"}],
                 "on": {'a#b;c"d<e>&f': "state", "end": "class"}, "next": "a-b"},
        "state": {"if": [{"when": "slots.x < 3 and user.name == \"Bo;b\" & 'x'", "next": "note"}], "next": "end"},
        "class": {"goto": {"flow": "ma-in", "step": "st ep"}},
        "a-b": {"say": "hi", "next": "a_b"},
        "a_b": {"action": "m.x", "next": "A_B"},
        "A_B": {"say": "x", "next": "a_b"},
    },
}


def test_mermaid_ids_are_safe_and_unique_and_text_is_escaped() -> None:
    flow = make(NASTY)
    ids = mermaid_ids(diagram(flow))
    named = [i for i in ids.values() if i != "[*]"]
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", i) for i in named)
    assert len({i.lower() for i in named}) == len(named)
    assert all(i.startswith(("s_", "x_")) for i in named)  # never a keyword like `state` or `end`
    text = render(flow, "mermaid")
    for line in text.splitlines()[2:]:
        if " : " in line:  # free text after the colon: no raw character Mermaid would read
            assert not set(re.sub(r"#\w+;", "", line.split(" : ", 1)[1])) & set('";#<>&')
    assert f"{ids['note']} --> {ids['state']} : on:a#35;b#59;c#quot;d#lt;e#gt;#amp;f\n" in text
    assert 'state "a-b" as s_a_b\n' in text


def test_render_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="png"):
        render(make(BOOKING), "png")


# ─── SVG ────────────────────────────────────────────────────────────────────────────────────


def test_svg_has_one_node_per_state_and_one_edge_per_transition() -> None:
    flow = make(BOOKING)
    root = ET.fromstring(render(flow, "svg"))
    assert root.tag == f"{SVG}svg"
    nodes = by_class(root, "node")
    states = list(BOOKING["steps"]) + ["end", "@main", "@address", "@main.menu"]
    assert sorted(n.get("data-state") for n in nodes) == sorted(states)
    edges = by_class(root, "edge")
    drawn = sorted((e.get("data-label"), e.get("data-source"), e.get("data-target")) for e in edges)
    assert drawn == sorted(transitions(flow))
    assert all(len(e.findall(f"{SVG}path")) == 1 for e in edges)
    assert len(by_class(root, "edge-label")) == len(edges)
    assert len(by_class(root, "start")) == 1


def test_svg_nodes_show_name_and_kind() -> None:
    root = ET.fromstring(render(make(BOOKING), "svg"))
    texts = {n.get("data-state"): [t.text for t in n.iter(f"{SVG}text")] for n in by_class(root, "node")}
    assert texts["reserve"] == ["reserve", "action: demo.reserve_slot"]
    assert texts["ask_qty"] == ["ask_qty", "ask: into qty"]
    assert texts["@main.menu"] == ["main.menu", "→ other flow"]
    assert texts["end"] == ["end"]


def test_svg_back_edges_are_dashed_and_loops_drawn() -> None:
    root = ET.fromstring(render(make(BOOKING), "svg"))
    paths = {(e.get("data-source"), e.get("data-label")): e.find(f"{SVG}path") for e in by_class(root, "edge")}
    assert paths[("confirm", "on:no")].get("stroke-dasharray")  # confirm -> pick_day runs back up
    assert paths[("reserve", "on:full")].get("stroke-dasharray")
    assert not paths[("welcome", "next")].get("stroke-dasharray")
    assert " C" in paths[("again", "next")].get("d")  # a step back to itself: an arc


def test_svg_escapes_text() -> None:
    text = render(make(NASTY), "svg")
    root = ET.fromstring(text)  # well-formed despite <, & and quotes everywhere
    assert root.find(f"{SVG}title").text == 'flow we<ird> & "q"'
    labels = [t.text for g in by_class(root, "edge-label") for t in g.iter(f"{SVG}text")]
    assert 'on:a#b;c"d<e>&f' in labels
    assert any(label.startswith("if:0 slots.x < 3") for label in labels)
    assert 'data-label="on:a#b;c&quot;d&lt;e&gt;&amp;f"' in text
    assert {n.get("data-state") for n in by_class(root, "node")} >= {"a-b", "a_b", "A_B", "@ma-in.st ep"}


def rects(root: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for node in by_class(root, "node"):
        r = node.find(f"{SVG}rect")
        x, y = float(r.get("x")), float(r.get("y"))
        out[node.get("data-state")] = (x, y, x + float(r.get("width")), y + float(r.get("height")))
    return out


def big_flow() -> dict[str, Any]:
    """40 steps: a menu with six branches of various lengths, loops back, a shared handoff."""
    steps: dict[str, Any] = {"menu": {"ask": "m", "choices": [{"id": f"b{i}", "title": "t"} for i in range(6)],
                                      "on": {f"b{i}": f"b{i}_0" for i in range(6)}, "next": "menu"}}
    for branch, length in enumerate([4, 6, 7, 5, 8, 7]):
        for j in range(length):
            nxt = f"b{branch}_{j + 1}" if j + 1 < length else ("menu" if branch % 2 else "summary")
            if j % 2:
                steps[f"b{branch}_{j}"] = {"action": f"m.a{j}", "on": {"retry": f"b{branch}_0"},
                                           "on_error": {"next": "agent"}, "next": nxt}
            else:
                steps[f"b{branch}_{j}"] = {"ask": "q", "into": f"v{j}", "next": nxt}
    steps["summary"] = {"say": "s", "next": "end"}
    steps["agent"] = {"handoff": {"reason": "help"}, "next": {"flow": "main"}}
    assert len(steps) == 40
    return {"flow": "big", "start": "menu", "steps": steps}


@pytest.mark.parametrize("data", [BOOKING, NASTY, big_flow()], ids=["booking", "nasty", "big"])
def test_svg_layout_keeps_boxes_apart_and_inside(data: dict[str, Any]) -> None:
    root = ET.fromstring(render(make(data), "svg"))
    width, height = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    boxes = list(rects(root).values())
    assert len(boxes) >= len(data["steps"])
    for i, (ax, ay, bx, by) in enumerate(boxes):
        assert 0 <= ax and bx <= width and 0 <= ay and by <= height
        for cx, cy, dx, dy in boxes[i + 1:]:
            assert bx <= cx or dx <= ax or by <= cy or dy <= ay, "two boxes overlap"
    for edge in by_class(root, "edge"):  # every number in every path is inside the picture
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", edge.find(f"{SVG}path").get("d"))]
        assert all(-1 <= v <= max(width, height) + 1 for v in numbers)


def test_svg_forward_edges_point_down_from_the_start() -> None:
    root = ET.fromstring(render(make(BOOKING), "svg"))
    box = rects(root)
    for a, b in [("welcome", "ask_qty"), ("ask_qty", "pick_day"), ("reserve", "confirm"), ("done", "end"),
                 ("get_address", "@address"), ("agent", "@main.menu")]:
        assert box[a][3] < box[b][1], (a, b)
    assert box["welcome"][1] == min(r[1] for r in box.values())
