"""The layered layout behind engine.flow._svg: where boxes go and how edges run between them.

Pure geometry on ids and sizes, no flow knowledge; engine.flow._svg describes the steps.
Vertices are numbered: the boxes first (0..n-1), then one waypoint per row a long edge crosses.
"""

from __future__ import annotations

from typing import NamedTuple

ROW_H, ROW_GAP = 44.0, 66.0  # a row's height, and the space between rows (edges and labels)
SEP, DUMMY_SEP = 34.0, 16.0  # space between boxes in a row; beside an edge passing through it
MARGIN, TOP, LABEL_H = 24.0, 48.0, 16.0  # TOP leaves room for the start marker


class Box(NamedTuple):
    id: str
    w: float
    h: float


class Link(NamedTuple):
    source: str
    dest: str
    label_w: float


class Place(NamedTuple):
    x: float  # the centre
    y: float
    w: float
    h: float


class Route(NamedTuple):
    points: list[tuple[float, float]]  # from the source to the destination
    kinds: list[str]  # per piece between points: "curve" (vertical ends) or "line"; ["loop"]
    back: bool  # runs upward, against the layout: a loop back to an earlier step
    label: tuple[float, float]


class Plan(NamedTuple):
    places: dict[str, Place]
    routes: list[Route]
    width: float
    height: float


def _pav(desired: list[float], gaps: list[float], weights: list[float]) -> list[float]:
    """Positions closest to `desired` (weighted least squares) with x[i] - x[i-1] >= gaps[i]."""
    offsets = [0.0]
    for gap in gaps[1:]:
        offsets.append(offsets[-1] + gap)
    blocks: list[list[float]] = []  # [sum of weight * target, sum of weights, count]
    for d, o, w in zip(desired, offsets, weights):
        blocks.append([(d - o) * w, w, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, ws, c = blocks.pop()
            blocks[-1] = [blocks[-1][0] + s, blocks[-1][1] + ws, blocks[-1][2] + c]
    ys = [s / ws for s, ws, c in blocks for _ in range(int(c))]
    return [y + o for y, o in zip(ys, offsets)]


def _rows(n: int, ends: list[tuple[int, int]], start: int | None) -> tuple[set[int], list[int], list[int]]:
    """Back edges (closing a cycle in a depth-first walk from the start), each vertex's row
    (its longest distance from a root once back edges are turned around), the walk's order."""
    out: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for k, (a, b) in enumerate(ends):
        out[a].append((k, b))
    state, post, back = [0] * n, [], set()
    for root in ([start] if start is not None else []) + list(range(n)):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            v, edges = stack[-1]
            for k, w in edges:
                if state[w] == 0:
                    state[w] = 1
                    stack.append((w, iter(out[w])))
                    break
                if state[w] == 1:
                    back.add(k)
            else:
                state[v] = 2
                post.append(v)
                stack.pop()
    preds: list[list[int]] = [[] for _ in range(n)]
    for k, (a, b) in enumerate(ends):
        if a != b:
            preds[a if k in back else b].append(b if k in back else a)
    layer = [0] * n
    for v in reversed(post):  # a topological order of the turned-around graph
        layer[v] = max((layer[p] + 1 for p in preds[v]), default=0)
    return back, layer, post[::-1]


def _order(rows: list[list[int]], up: list[list[int]], down: list[list[int]]) -> list[list[int]]:
    """Barycenter sweeps, down and up, keeping the order with the fewest crossings."""
    pos = [0] * len(up)

    def number() -> None:
        for row in rows:
            for i, v in enumerate(row):
                pos[v] = i

    def crossings() -> int:
        total = 0
        for row in rows[:-1]:
            segs = [(pos[u], pos[v]) for u in row for v in down[u]]
            total += sum(1 for i, (a, b) in enumerate(segs) for c, d in segs[i + 1:] if (a - c) * (b - d) < 0)
        return total

    number()
    best, fewest = [list(r) for r in rows], crossings()
    for sweep in range(10):
        near = up if sweep % 2 == 0 else down
        for i in range(1, len(rows)) if sweep % 2 == 0 else range(len(rows) - 2, -1, -1):
            rows[i].sort(key=lambda v: (sum(pos[u] for u in near[v]) / len(near[v]) if near[v] else pos[v], pos[v]))
            for j, v in enumerate(rows[i]):
                pos[v] = j
        count = crossings()
        if count < fewest:
            best, fewest = [list(r) for r in rows], count
    return best


def _place_x(rows: list[list[int]], gaps: list[list[float]], up: list[list[int]], down: list[list[int]],
             n: int, chains: dict[int, list[int]]) -> list[float]:
    """Pull each vertex toward its neighbours (one side per sweep, then both), then straighten long
    edges (a chain's waypoints all want their mean); rows stay free of overlaps throughout."""
    x = [0.0] * len(up)
    chain_of = {v: k for k, chain in chains.items() for v in chain[1:-1]}

    def settle(i: int, want, dummy_weight: float) -> None:
        row = rows[i]
        weights = [1.0 if v < n else dummy_weight for v in row]
        for v, value in zip(row, _pav([want(v) for v in row], gaps[i], weights)):
            x[v] = value

    def toward(near):
        return lambda v: sum(x[u] for u in near[v]) / len(near[v]) if near[v] else x[v]

    both = [up[v] + down[v] for v in range(len(up))]
    for i in range(len(rows)):
        settle(i, lambda v: 0.0, 1.0)
    for sweep in range(16):
        side = both if sweep >= 14 else (up if sweep % 2 == 0 else down)
        for i in range(len(rows)) if sweep % 2 == 0 else range(len(rows) - 1, -1, -1):
            settle(i, toward(side), 2.0)
    for _ in range(6):
        mean = {k: sum(x[v] for v in c[1:-1]) / (len(c) - 2) for k, c in chains.items() if len(c) > 2}
        pull = toward(both)
        for i in range(len(rows)):
            settle(i, lambda v: mean[chain_of[v]] if v >= n else pull(v), 6.0)
    return x


def layout(boxes: list[Box], links: list[Link], start: str) -> Plan:
    n = len(boxes)
    index = {b.id: i for i, b in enumerate(boxes)}
    ends = [(index[link.source], index[link.dest]) for link in links]
    back, layer, walk = _rows(n, ends, index.get(start))

    # a waypoint on every row a long edge passes, so it runs between the boxes
    vlayer, chains = list(layer), {}
    for k, (a, b) in enumerate(ends):
        if a != b:
            upper, lower = (b, a) if k in back else (a, b)
            chains[k] = [upper] + list(range(len(vlayer), len(vlayer) + layer[lower] - layer[upper] - 1)) + [lower]
            vlayer += range(layer[upper] + 1, layer[lower])
    nv = len(vlayer)
    up: list[list[int]] = [[] for _ in range(nv)]
    down: list[list[int]] = [[] for _ in range(nv)]
    for chain in chains.values():
        for u, v in zip(chain, chain[1:]):
            down[u].append(v)
            up[v].append(u)

    first = {v: float(i) for i, v in enumerate(walk)}  # start from the depth-first order
    for k, chain in chains.items():
        for v in chain[1:-1]:
            first[v] = first[chain[0]] + (k + 1) / (len(links) + 1)
    rows: list[list[int]] = [[] for _ in range(max(vlayer, default=0) + 1)]
    for v in sorted(range(nv), key=lambda v: first[v]):
        rows[vlayer[v]].append(v)
    rows = _order(rows, up, down)

    loops: dict[int, list[int]] = {}
    for k, (a, b) in enumerate(ends):
        if a == b:
            loops.setdefault(a, []).append(k)
    left = [boxes[v].w / 2 if v < n else 0.0 for v in range(nv)]
    right = list(left)
    for v, ks in loops.items():
        right[v] += 30 + 12 * (len(ks) - 1) + max(links[k].label_w for k in ks)
    gaps = [[0.0] + [right[u] + left[v] + (SEP if u < n and v < n else DUMMY_SEP) for u, v in zip(row, row[1:])]
            for row in rows]
    x = _place_x(rows, gaps, up, down, n, chains)

    def row_y(v: int) -> float:
        return TOP + vlayer[v] * (ROW_H + ROW_GAP) + ROW_H / 2

    # ports: the edges meeting a box's bottom (or top) spread along it, ordered by where they go
    port: dict[tuple[int, int], float] = {}  # (link, vertex) -> x
    for v in range(n):
        for side in ([(k, c[1]) for k, c in chains.items() if c[0] == v],
                     [(k, c[-2]) for k, c in chains.items() if c[-1] == v]):
            side.sort(key=lambda p: (x[p[1]], p[0]))
            step = min(16.0, (boxes[v].w - 24) / (len(side) - 1)) if len(side) > 1 else 0.0
            for i, (k, _) in enumerate(side):
                port[(k, v)] = x[v] + (i - (len(side) - 1) / 2) * step

    taken = [(x[v] - left[v] - 4, row_y(v) - boxes[v].h / 2 - 2, x[v] + right[v] + 4, row_y(v) + boxes[v].h / 2 + 2)
             for v in range(n)]
    routes = []
    for k, (a, b) in enumerate(ends):
        w = links[k].label_w
        if a == b:  # an arc on the box's right, its label beside it
            _cx, cy, rx = x[a], row_y(a), x[a] + boxes[a].w / 2
            bulge = 30 + 12 * loops[a].index(k)
            pts = [(rx, cy - 9), (rx + bulge, cy - 24), (rx + bulge, cy + 24), (rx, cy + 9)]
            routes.append(Route(pts, ["loop"], False, (rx + bulge * 0.75 + 6 + w / 2, cy)))
            continue
        chain = chains[k]
        pts = [(port[(k, chain[0])], row_y(chain[0]) + boxes[chain[0]].h / 2)]
        kinds = []
        for v in chain[1:-1]:
            pts += [(x[v], row_y(v) - ROW_H / 2), (x[v], row_y(v) + ROW_H / 2)]
            kinds += ["curve", "line"]
        pts.append((port[(k, chain[-1])], row_y(chain[-1]) - boxes[chain[-1]].h / 2))
        kinds.append("curve")
        if k in back:
            pts, kinds = pts[::-1], kinds[::-1]
        # the label: on the piece leaving the source, slid along it off boxes and other labels
        (ax, ay), (bx, by) = pts[0], pts[1]
        spots = [(ax + (bx - ax) * s, ay + (by - ay) * s)
                 for s in (3 * t * t - 2 * t ** 3 for t in (0.5, 0.32, 0.68, 0.18, 0.82))]
        spot = next((s for s in spots if not any(
            s[0] - w / 2 < r[2] and r[0] < s[0] + w / 2 and s[1] - LABEL_H / 2 < r[3] and r[1] < s[1] + LABEL_H / 2
            for r in taken)), spots[0])
        taken.append((spot[0] - w / 2 - 2, spot[1] - LABEL_H / 2 - 1, spot[0] + w / 2 + 2, spot[1] + LABEL_H / 2 + 1))
        routes.append(Route(pts, kinds, k in back, spot))

    # shift everything right of the margin
    lows = [x[v] - left[v] for v in range(nv)] + [r.label[0] - links[k].label_w / 2 for k, r in enumerate(routes)]
    highs = [x[v] + right[v] for v in range(nv)] + [r.label[0] + links[k].label_w / 2 for k, r in enumerate(routes)]
    highs += [px for r in routes for px, _ in r.points]
    dx = MARGIN - min(lows, default=0.0)
    places = {boxes[v].id: Place(x[v] + dx, row_y(v), boxes[v].w, boxes[v].h) for v in range(n)}
    routes = [r._replace(points=[(px + dx, py) for px, py in r.points], label=(r.label[0] + dx, r.label[1]))
              for r in routes]
    height = TOP + (max(vlayer, default=0) + 1) * (ROW_H + ROW_GAP) - ROW_GAP + MARGIN
    return Plan(places, routes, max(max(highs, default=0.0) + dx + MARGIN, 160.0), height)
