"""Diagrams of a flow, drawn from the same `FlowMachine` the runtime runs on.

`diagram(flow)` reads the compiled machine's states and transitions (so a picture can never
disagree with what a conversation does) and adds what a reader needs: each step's kind, the
start, exits to other flows, the end. `render` turns that into text:

- "mermaid": a `stateDiagram-v2`. A state diagram rather than a flowchart because the flow *is*
  a state machine: its start and end are Mermaid's own `[*]` markers, transitions carry their
  trigger names (`next`, `on:today`, `if:0`, `error`...) as labels, and a state shows its step
  name as a title over its kind (`ask: into qty`), which a flowchart box cannot split. Node ids
  are `s_<step>` / `x_<flow>` reduced to `[A-Za-z0-9_]` (never a Mermaid keyword), and free
  text is written with Mermaid's `#code;` entities, so no step name, choice id or condition
  can break the syntax.
- "svg": a self-contained drawing with its own small layered layout (engine.flow._svg).

Output is deterministic: the same flow gives byte-identical text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.flow.machine import FlowMachine
from engine.flow.model import END, Flow, Step, Target

FORMATS = ("mermaid", "svg")


@dataclass(frozen=True, slots=True)
class Node:
    state: str  # the machine's state name: a step, "end", "@address", "@main.menu"
    role: str  # "step", "exit" (another flow) or "end"
    kind: str  # the step's kind (say, ask, action, if, call, goto, handoff, end); else the role
    title: str  # the box's first line
    detail: str  # its second line: the kind, and what it works on


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    dest: str
    label: str  # the machine's trigger
    text: str  # what the diagram writes: the label, and an if's condition


@dataclass(frozen=True, slots=True)
class Diagram:
    flow: str
    start: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def render(flow: Flow, fmt: str) -> str:
    """The flow as a Mermaid state diagram ("mermaid") or an SVG picture ("svg")."""
    if fmt == "mermaid":
        return mermaid(diagram(flow))
    if fmt == "svg":
        from engine.flow._svg import draw

        return draw(diagram(flow))
    raise ValueError(f"unknown diagram format {fmt!r}: use one of {', '.join(FORMATS)}")


def describe(step: Step) -> str:
    """A step's kind and what it works on, in a few words: `ask: into qty`, `call: address`."""
    if step.kind == "ask":
        parts = [f"into {step.into}"] if step.into else []
        if isinstance(step.choices, tuple):
            parts.append(f"{len(step.choices)} choice" + ("" if len(step.choices) == 1 else "s"))
        elif step.choices is not None:
            parts.append("choices from data")
        return "ask" + (": " + ", ".join(parts) if parts else "")
    if step.kind == "action":
        return f"action: {step.action}"
    if step.kind == "call":
        return f"call: {step.call}"
    if step.kind == "handoff":
        reason = (step.handoff or {}).get("reason")
        return "handoff" + (f": {reason}" if reason else "")
    if step.kind == "if":
        n = len(step.conditions)
        return f"if: {n} condition" + ("" if n == 1 else "s")
    return step.kind


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def diagram(flow: Flow) -> Diagram:
    """The flow's compiled machine as nodes and edges, in a stable order.

    Nodes follow the machine's states (the steps as written, then exits as first met); `end` is
    left out when no transition reaches it. Edges are grouped by source step, each in the order
    of `Step.targets()`.
    """
    machine = FlowMachine(flow).machine
    states = list(machine.states)
    edges: list[Edge] = []
    for event in machine.events.values():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                edges.append(_edge(flow, event.name, source, transition.dest))
    order = {state: i for i, state in enumerate(states)}

    def rank(edge: Edge) -> tuple[int, int]:
        step = flow.steps.get(edge.source)
        labels = [label for label, _ in step.targets()] if step else []
        return order[edge.source], labels.index(edge.label) if edge.label in labels else len(labels)

    edges.sort(key=rank)
    reached = {edge.dest for edge in edges}
    nodes: list[Node] = []
    for state in states:
        step = flow.steps.get(state)
        if step is not None:
            nodes.append(Node(state, "step", step.kind, state, describe(step)))
        elif state == END:
            if END in reached:
                nodes.append(Node(state, "end", "end", "end", ""))
        elif not state.startswith("@"):  # a target naming no step (lint reports it): drawn, not hidden
            nodes.append(Node(state, "step", "missing", state, "no such step"))
        else:
            target = Target.from_state(state)
            where = f"{target.flow}.{target.step}" if target.step else f"{target.flow}"
            nodes.append(Node(state, "exit", "exit", where, "→ other flow"))
    return Diagram(flow.name, flow.start, tuple(nodes), tuple(edges))


def _edge(flow: Flow, label: str, source: str, dest: str) -> Edge:
    text = label
    step = flow.steps.get(source)
    if step is not None and label.startswith("if:") and label[3:].isdigit():
        index = int(label[3:])
        if index < len(step.conditions):
            text = f"{label} {_shorten(step.conditions[index][0], 32)}"
    return Edge(source, dest, label, text)


# ─── Mermaid ────────────────────────────────────────────────────────────────────────────────

_MERMAID_STYLES = {
    "ask": "fill:#e8f1fc,stroke:#4a7bc8",
    "action": "fill:#fdf3e1,stroke:#c8902f",
    "if": "fill:#f3e9fb,stroke:#8a5cc2",
    "call": "fill:#e9f7ee,stroke:#3d9a5f",
    "goto": "fill:#e9f7ee,stroke:#3d9a5f",
    "handoff": "fill:#fde8e8,stroke:#c84a4a",
    "exit": "fill:#ffffff,stroke:#3d9a5f,stroke-dasharray:4 3",
}
_MERMAID_ENTITIES = {"#": "#35;", ";": "#59;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;",
                     "%": "#37;", "{": "#123;", "}": "#125;", "\\": "#92;"}


def mermaid_text(text: str) -> str:
    """Free text made safe inside a Mermaid label: one line, special characters as entities."""
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in " ".join(str(text).split()))


def mermaid_ids(d: Diagram) -> dict[str, str]:
    """A Mermaid-safe, unique id per state: `s_<step>`, `x_<flow>`, `[*]` for the end."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for node in d.nodes:
        if node.role == "end":
            ids[node.state] = "[*]"
            continue
        base = ("x_" if node.role == "exit" else "s_") + re.sub(r"[^A-Za-z0-9_]", "_", node.title)
        candidate, n = base, 2
        while candidate.lower() in taken:
            candidate, n = f"{base}_{n}", n + 1
        taken.add(candidate.lower())
        ids[node.state] = candidate
    return ids


def mermaid(d: Diagram) -> str:
    ids = mermaid_ids(d)
    lines = ["stateDiagram-v2", f"    %% flow {mermaid_text(d.flow)}: generated by flowbot from its state machine"]
    for node in d.nodes:
        if node.role == "end":
            continue
        lines.append(f'    state "{mermaid_text(node.title)}" as {ids[node.state]}')
        if node.detail:
            lines.append(f"    {ids[node.state]} : {mermaid_text(node.detail)}")
    if d.start in ids:
        lines.append(f"    [*] --> {ids[d.start]}")
    for edge in d.edges:
        lines.append(f"    {ids[edge.source]} --> {ids[edge.dest]} : {mermaid_text(edge.text)}")
    for kind, style in _MERMAID_STYLES.items():
        members = [ids[n.state] for n in d.nodes if n.kind == kind and n.role != "end"]
        if members:
            lines.append(f"    classDef {kind} {style}")
            lines.append(f"    class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"
