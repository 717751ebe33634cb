"""A flow diagram (engine.flow.graph.Diagram) drawn as a self-contained SVG, with no external tools.

The layout is a small Sugiyama-style layered drawing, top to bottom:

1. a depth-first walk from the start finds the back edges (loops: "ask again", "pick another
   day"); they are turned around for layout so the rest is acyclic;
2. each state's row is its longest distance from the start (a refined BFS depth), so every
   forward edge points down and exits to other flows and `end` sit below what leads to them;
3. an edge spanning several rows gets a waypoint on each row between, so it runs between boxes;
4. the order within rows comes from barycenter sweeps, keeping the order with fewest crossings;
5. x: each box is pulled toward its neighbours, overlaps removed by isotonic regression.

Edges are smooth vertical curves from a box's bottom to the next one's top; back edges are
dashed and run upward, self-loops are arcs on a box's right. Labels sit on the edge near where it
leaves its source, moved along it when they would cover another label or a box.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from engine.flow import _svg_layout as lay

if TYPE_CHECKING:
    from engine.flow.graph import Diagram, Node

FILL = {  # kind -> (fill, stroke)
    "say": ("#f6f6f6", "#8a8a8a"), "end": ("#f6f6f6", "#8a8a8a"),
    "ask": ("#e8f1fc", "#4a7bc8"), "action": ("#fdf3e1", "#c8902f"), "if": ("#f3e9fb", "#8a5cc2"),
    "call": ("#e9f7ee", "#3d9a5f"), "goto": ("#e9f7ee", "#3d9a5f"), "handoff": ("#fde8e8", "#c84a4a"),
    "exit": ("#ffffff", "#3d9a5f"),
}
EDGE, BACK = "#5f6b7a", "#b0562f"
TITLE_SIZE, DETAIL_SIZE, LABEL_SIZE = 13, 11, 10.5


def esc(text: str) -> str:
    """Text safe in XML content and attribute values (control characters dropped)."""
    text = "".join(ch for ch in str(text) if ch in "\t\n" or unicodedata.category(ch) != "Cc")
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def num(value: float) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def text_width(text: str, size: float, bold: bool = False) -> float:
    """An estimate of `text`'s width in a sans-serif font: enough to size boxes and labels."""
    width = 0.0
    for ch in text:
        if unicodedata.east_asian_width(ch) in "WF":
            width += 1.0
        elif ch in "ijlft.,:;|!'()[] ":
            width += 0.36
        elif ch in "mwMW@%&#":
            width += 0.92
        elif ch.isupper() or ch in "_<>=+~{}":
            width += 0.72
        else:
            width += 0.61
    return width * size * (1.1 if bold else 1.0)


def path(route: lay.Route) -> str:
    """SVG path data through a route's points: vertical-ended curves between rows, lines within."""
    pts = route.points
    d = f"M{num(pts[0][0])},{num(pts[0][1])}"
    if route.kinds == ["loop"]:
        return d + " C" + " ".join(f"{num(px)},{num(py)}" for px, py in pts[1:])
    for (ax, ay), (bx, by), kind in zip(pts, pts[1:], route.kinds):
        if kind == "line":
            d += f" L{num(bx)},{num(by)}"
        else:
            my = (ay + by) / 2
            d += f" C{num(ax)},{num(my)} {num(bx)},{num(my)} {num(bx)},{num(by)}"
    return d


def draw(d: Diagram) -> str:
    degree: dict[str, int] = {}  # a box is wide enough to spread the edges meeting one side
    for e in d.edges:
        if e.source != e.dest:
            for key in (f"out {e.source}", f"in {e.dest}"):
                degree[key] = degree.get(key, 0) + 1
    boxes = []
    for node in d.nodes:
        ports = 24 + 11 * (max(degree.get(f"in {node.state}", 0), degree.get(f"out {node.state}", 0)) - 1)
        if node.role == "end":
            boxes.append(lay.Box(node.state, max(56.0, ports), 30.0))
        else:
            title_w = text_width(node.title, TITLE_SIZE, bold=True)
            detail_w = text_width(node.detail, DETAIL_SIZE)
            boxes.append(lay.Box(node.state, max(96.0, title_w + 26, detail_w + 26, ports), 44.0))
    links = [lay.Link(e.source, e.dest, text_width(e.text, LABEL_SIZE) + 8) for e in d.edges]
    plan = lay.layout(boxes, links, d.start)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(plan.width)}" height="{num(plan.height)}" '
        f'viewBox="0 0 {num(plan.width)} {num(plan.height)}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>flow {esc(d.flow)}</title>",
        "<defs>",
        f'<marker id="fb-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,1 L9,5 L0,9 z" fill="{EDGE}"/></marker>',
        f'<marker id="fb-arrow-back" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,1 L9,5 L0,9 z" fill="{BACK}"/></marker>',
        "</defs>",
        f'<rect width="{num(plan.width)}" height="{num(plan.height)}" fill="#ffffff"/>',
    ]
    start = plan.places.get(d.start)
    if start is not None:
        cx, top = start.x, start.y - start.h / 2
        out.append(f'<g class="start"><circle cx="{num(cx)}" cy="{num(top - 24)}" r="6" fill="#333333"/>'
                   f'<path d="M{num(cx)},{num(top - 18)} L{num(cx)},{num(top)}" stroke="{EDGE}" '
                   f'stroke-width="1.4" fill="none" marker-end="url(#fb-arrow)"/></g>')
    out.append('<g class="edges">')
    for edge, route in zip(d.edges, plan.routes):
        color, marker = (BACK, "fb-arrow-back") if route.back or edge.source == edge.dest else (EDGE, "fb-arrow")
        dash = ' stroke-dasharray="5 3"' if route.back else ""
        out.append(f'<g class="edge" data-source="{esc(edge.source)}" data-target="{esc(edge.dest)}" '
                   f'data-label="{esc(edge.label)}"><title>{esc(edge.source)} → {esc(edge.dest)}: '
                   f'{esc(edge.text)}</title><path d="{path(route)}" fill="none" stroke="{color}" '
                   f'stroke-width="1.3"{dash} marker-end="url(#{marker})"/></g>')
    out.append("</g>")
    out.append('<g class="labels">')
    for edge, route in zip(d.edges, plan.routes):
        (x, y), w = route.label, text_width(edge.text, LABEL_SIZE) + 8
        color = BACK if route.back or edge.source == edge.dest else "#37414d"
        out.append(f'<g class="edge-label"><rect x="{num(x - w / 2)}" y="{num(y - 8)}" width="{num(w)}" '
                   f'height="16" rx="3" fill="#ffffff" fill-opacity="0.9"/><text x="{num(x)}" y="{num(y + 3.6)}" '
                   f'font-size="{LABEL_SIZE}" text-anchor="middle" fill="{color}">{esc(edge.text)}</text></g>')
    out.append("</g>")
    out.append('<g class="nodes">')
    for node in d.nodes:
        out.append(_node(node, plan.places[node.state], node.state == d.start))
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _node(node: Node, place: lay.Place, is_start: bool) -> str:
    x, y, w, h = place.x - place.w / 2, place.y - place.h / 2, place.w, place.h
    head = (f'<g class="node" data-state="{esc(node.state)}" data-kind="{esc(node.kind)}">'
            f"<title>{esc(node.state)}</title>")
    if node.role == "end":
        return (head + f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" rx="{num(h / 2)}" '
                f'fill="#333333"/><text x="{num(place.x)}" y="{num(place.y + 4.5)}" font-size="{TITLE_SIZE}" '
                f'font-weight="bold" text-anchor="middle" fill="#ffffff">end</text></g>')
    fill, stroke = FILL.get(node.kind, FILL["say"])
    extra = ' stroke-dasharray="5 3"' if node.role == "exit" else ""
    width = 2.6 if is_start else 1.3
    return (head + f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" rx="8" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{width}"{extra}/>'
            f'<text x="{num(place.x)}" y="{num(place.y - 3)}" font-size="{TITLE_SIZE}" font-weight="bold" '
            f'text-anchor="middle" fill="#1f2933">{esc(node.title)}</text>'
            f'<text x="{num(place.x)}" y="{num(place.y + 13)}" font-size="{DETAIL_SIZE}" text-anchor="middle" '
            f'fill="#52606d">{esc(node.detail)}</text></g>')
