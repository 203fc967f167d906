"""The plan graph laid out for a terminal: plans as boxes in layers, left to right, links drawn with
box characters and labelled with the tags that match. Pure: plans and links in, a canvas out.

A plan's layer is the longest path to it from a plan nothing feeds (the graph is acyclic: apply
refuses cycles; a link that would close one anyway is left out). A link spanning several layers
passes through the layers between as a horizontal line in a slot of its own. Within a layer the
order starts as given (oldest plan first) and a few barycentre sweeps pull linked plans level.
Between two layers each source has its own vertical channel; a link enters its plan at the row of
the input it feeds, after a label of that input's tags and an arrow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from knitctl.plans.graph import PlanShape, feeds

BOX_W = 34                    # a box's width, borders included
MIN_INNER = 3                 # id and state, image, run counts
LABEL_MAX = 26                # a label longer than this is cut with …
SWEEPS = 4

_L, _R, _U, _D = 1, 2, 4, 8
_LINE = {
    0: " ", _L: "─", _R: "─", _L | _R: "─", _U: "│", _D: "│", _U | _D: "│",
    _R | _D: "┌", _L | _D: "┐", _R | _U: "└", _L | _U: "┘",
    _L | _R | _D: "┬", _L | _R | _U: "┴", _U | _D | _R: "├", _U | _D | _L: "┤", _L | _R | _U | _D: "┼",
}


@dataclass(frozen=True)
class PlanBox:
    """What a box shows of a plan."""
    plan_id: str
    image: str
    active: bool
    runs: dict[str, int]                 # status -> how many


@dataclass(frozen=True)
class Link:
    """`up`'s outputs feed `down`'s input at `path`, which takes `tags`."""
    up: str
    down: str
    path: str
    tags: tuple[str, ...]


@dataclass
class Placed:
    plan_id: str
    layer: int
    x: int
    y: int
    height: int
    ports: dict[str, int]                # fed input path -> row


@dataclass
class Canvas:
    """`chars[y][x]`; `styles[y][x]` a style name; `owners[y][x]` the plan id of a box cell, or the
    frozenset of link indexes a line cell belongs to (None for blank)."""
    width: int
    height: int
    chars: list[list[str]]
    styles: list[list[str]]
    owners: list[list[object]]
    boxes: dict[str, Placed]
    columns: list[list[str]]             # each layer's plan ids, top to bottom
    links: list[Link]


RUN_ORDER = ("running", "starting", "ready", "waiting", "deactivated", "completing", "aborting", "done",
             "failed", "invalidated")


def feeding_edges(shapes: list[PlanShape]) -> list[tuple[str, str, str, str]]:
    """What `knitctl.plans.graph.edges` gives, (up, output path, down, input path), without trying every
    pair: an input is matched only against the outputs that carry its rarest tag."""
    by_tag: dict[str, list[tuple[str, str, frozenset[str]]]] = {}
    for s in shapes:
        for opath, otags in s.outputs.items():
            for t in otags:
                by_tag.setdefault(t, []).append((s.plan_id, opath, otags))
    out = []
    for down in shapes:
        for ipath, itags in down.inputs.items():
            if not itags:
                continue
            rarest = min(itags, key=lambda t: (len(by_tag.get(t, ())), t))
            for up, opath, otags in by_tag.get(rarest, ()):
                if feeds(otags, itags):
                    out.append((up, opath, down.plan_id, ipath))
    return out


def dedupe(links: Iterable[tuple[str, str, str, str]], input_tags: Mapping[tuple[str, str], Iterable[str]]) -> list[Link]:
    """Links from (up, output path, down, input path) edges: one per (up, down, input), self-links left out."""
    seen: dict[tuple[str, str, str], Link] = {}
    for up, _opath, down, ipath in links:
        if up != down and (up, down, ipath) not in seen:
            seen[(up, down, ipath)] = Link(up, down, ipath, tuple(sorted(input_tags.get((down, ipath), ()))))
    return sorted(seen.values(), key=lambda k: (k.up, k.down, k.path))


def layers(plan_ids: list[str], links: list[Link]) -> tuple[dict[str, int], list[Link]]:
    """Each plan's layer (the longest path from a source), and the links kept (those that go forward)."""
    known = set(plan_ids)
    nxt: dict[str, list[str]] = {p: [] for p in plan_ids}
    indeg = dict.fromkeys(plan_ids, 0)
    for k in links:
        if k.up in known and k.down in known:
            nxt[k.up].append(k.down)
            indeg[k.down] += 1
    layer = dict.fromkeys(plan_ids, 0)
    ready = [p for p in plan_ids if indeg[p] == 0]
    while ready:
        p = ready.pop()
        for d in nxt[p]:
            layer[d] = max(layer[d], layer[p] + 1)
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
    kept = [k for k in links if k.up in known and k.down in known and layer[k.down] > layer[k.up]]
    return layer, kept


def _order(plan_ids: list[str], layer: dict[str, int], links: list[Link]) -> tuple[list[list[str]], dict[str, list[str]]]:
    """Each layer's nodes in order (plans, and `~N:up>down` pass-throughs of long links), and each node's
    successors along the links' steps."""
    depth = max(layer.values(), default=-1) + 1
    cols: list[list[str]] = [[] for _ in range(depth)]
    for p in plan_ids:
        cols[layer[p]].append(p)
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    steps: set[tuple[str, str]] = set()
    for k in links:
        prev = k.up
        for lay in range(layer[k.up] + 1, layer[k.down]):
            node = f"~{lay}:{k.up}>{k.down}"
            if node not in pred:
                cols[lay].append(node)
            prev_step = (prev, node)
            if prev_step not in steps:
                steps.add(prev_step)
                succ.setdefault(prev, []).append(node)
                pred.setdefault(node, []).append(prev)
            prev = node
        if (prev, k.down) not in steps:
            steps.add((prev, k.down))
            succ.setdefault(prev, []).append(k.down)
            pred.setdefault(k.down, []).append(prev)
    for sweep in range(SWEEPS):
        rng = range(1, depth) if sweep % 2 == 0 else range(depth - 2, -1, -1)
        for lay in rng:
            ref = cols[lay - 1] if sweep % 2 == 0 else cols[lay + 1]
            pos = {n: i for i, n in enumerate(ref)}
            near = pred if sweep % 2 == 0 else succ

            def centre(n: str, i: int, pos=pos, near=near) -> tuple[float, int]:
                ps = [pos[m] for m in near.get(n, ()) if m in pos]
                return (sum(ps) / len(ps) if ps else float(i), i)

            cols[lay] = [n for _, n in sorted((centre(n, i), n) for i, n in enumerate(cols[lay]))]
    return cols, succ


def layout(boxes: list[PlanBox], links: list[Link]) -> Canvas:
    """The picture of `boxes` (oldest first) and the links between them."""
    plan_ids = [b.plan_id for b in boxes]
    by_id = {b.plan_id: b for b in boxes}
    layer, links = layers(plan_ids, links)
    cols, succ = _order(plan_ids, layer, links)
    ports: dict[str, list[str]] = {}
    for k in links:
        if k.path not in ports.setdefault(k.down, []):
            ports[k.down].append(k.path)
    # sizes: a gutter after each layer holds one channel per source with links into the next layer,
    # then the longest label going into that layer
    sources = [[n for n in col if succ.get(n)] for col in cols]
    label_w = [0] * len(cols)
    for k in links:
        label_w[layer[k.down]] = max(label_w[layer[k.down]], min(LABEL_MAX, len(" ".join(k.tags))))
    xs, x = [], 0
    for lay in range(len(cols)):
        xs.append(x)
        if lay + 1 < len(cols):
            lw = label_w[lay + 1]
            x += BOX_W + 2 + len(sources[lay]) + 1 + (lw + 2 if lw else 0) + 2
    width = (xs[-1] + BOX_W + 1) if cols else 0
    placed: dict[str, Placed] = {}
    rows: dict[str, int] = {}         # every node's exit/entry row for pass-throughs; plans: exit row
    height = 0
    for lay, col in enumerate(cols):
        y = 0
        for n in col:
            if n in by_id:
                names = ports.get(n, [])
                inner = max(MIN_INNER, len(names))
                placed[n] = Placed(n, lay, xs[lay], y, inner + 2, {p: y + 1 + i for i, p in enumerate(names)})
                rows[n] = y + 1
                y += inner + 3
            else:
                rows[n] = y
                y += 2
        height = max(height, y - 1)
    height = max(height, 0)
    cv = Canvas(width, height, [[" "] * width for _ in range(height)], [[""] * width for _ in range(height)],
                [[None] * width for _ in range(height)], placed, [[n for n in c if n in by_id] for c in cols], links)
    _draw_lines(cv, cols, xs, sources, succ, rows, layer, links, by_id)
    for p in placed.values():
        _draw_box(cv, p, by_id[p.plan_id])
    return cv


def redraw_box(cv: Canvas, box: PlanBox) -> None:
    """Draw one plan's box again (its state or run counts moved); the rest of the canvas stays."""
    _draw_box(cv, cv.boxes[box.plan_id], box)


class _Lines:
    """Direction bits per cell, and which links each line cell carries."""

    def __init__(self) -> None:
        self.bits: dict[tuple[int, int], int] = {}
        self.who: dict[tuple[int, int], set[int]] = {}

    def add(self, x: int, y: int, bits: int, owners: set[int]) -> None:
        self.bits[(x, y)] = self.bits.get((x, y), 0) | bits
        self.who.setdefault((x, y), set()).update(owners)

    def h(self, y: int, xa: int, xb: int, owners: set[int], *, left: bool = True, right: bool = True) -> None:
        for x in range(xa, xb + 1):
            self.add(x, y, (_L if x > xa or left else 0) | (_R if x < xb or right else 0), owners)

    def v(self, x: int, ya: int, yb: int, owners: set[int]) -> None:
        lo, hi = min(ya, yb), max(ya, yb)
        for y in range(lo, hi + 1):
            self.add(x, y, (_U if y > lo else 0) | (_D if y < hi else 0), owners)


def _draw_lines(cv: Canvas, cols, xs, sources, succ, rows, layer, links: list[Link], by_id) -> None:
    lines = _Lines()
    # which links each step (node -> node) carries
    carried: dict[tuple[str, str], set[int]] = {}
    for i, k in enumerate(links):
        prev = k.up
        for lay in range(layer[k.up] + 1, layer[k.down]):
            node = f"~{lay}:{k.up}>{k.down}"
            carried.setdefault((prev, node), set()).add(i)
            prev = node
        carried.setdefault((prev, k.down), set()).add(i)
    through: dict[str, set[int]] = {}
    for (_, node), own in carried.items():
        through.setdefault(node, set()).update(own)
    labels: dict[tuple[int, int], str] = {}      # (x end, y) -> label text
    for lay, col in enumerate(cols):
        for n in col:
            if n not in by_id:
                lines.h(rows[n], xs[lay], xs[lay] + BOX_W - 1, through.get(n, set()))
        if lay + 1 >= len(cols):
            continue
        g0 = xs[lay] + BOX_W
        nxt_x = xs[lay + 1]
        for ci, n in enumerate(sources[lay]):
            cx = g0 + 1 + ci
            ys = rows[n]
            mine = set().union(*(carried[(n, d)] for d in succ[n]))
            lines.h(ys, g0, cx, mine, right=False)
            for d in succ[n]:
                own = carried[(n, d)]
                if d in by_id:
                    for i in sorted(own):
                        k = links[i]
                        yt = cv.boxes[d].ports[k.path]
                        lines.v(cx, ys, yt, {i})
                        lines.h(yt, cx, nxt_x - 1, {i}, left=False, right=False)
                        labels[(nxt_x - 1, yt)] = " ".join(k.tags)
                else:
                    yt = rows[d]
                    lines.v(cx, ys, yt, own)
                    lines.h(yt, cx, nxt_x - 1, own, left=False)
    for (x, y), bits in lines.bits.items():
        cv.chars[y][x] = _LINE[bits]
        cv.styles[y][x] = "line"
        cv.owners[y][x] = frozenset(lines.who[(x, y)])
    for (x_end, y), text in labels.items():
        cv.chars[y][x_end] = "▶"
        cv.styles[y][x_end] = "arrow"
        if len(text) > LABEL_MAX:
            text = text[:LABEL_MAX - 1] + "…"
        if text:
            text = f" {text} "
            x0 = x_end - 1 - len(text)
            owner = cv.owners[y][x_end]
            for j, ch in enumerate(text):
                cv.chars[y][x0 + j] = ch
                cv.styles[y][x0 + j] = "label"
                cv.owners[y][x0 + j] = owner


def runs_text(runs: dict[str, int]) -> list[tuple[str, str]]:
    """(text, style name) pieces of a box's run counts line."""
    out: list[tuple[str, str]] = []
    for status in RUN_ORDER:
        n = runs.get(status)
        if n:
            if out:
                out.append((" ", ""))
            out.append((f"{status} {n}", f"status:{status}"))
    return out or [("no runs", "dim")]


def _put(cv: Canvas, x: int, y: int, pieces: list[tuple[str, str]], room: int, owner: str) -> None:
    """Write the pieces from x on, in at most `room` cells (the last one … when they don't fit)."""
    cells = [(ch, style) for text, style in pieces for ch in text]
    if len(cells) > room:
        cells = cells[:room - 1] + [("…", cells[room - 1][1])]
    for ch, style in cells:
        cv.chars[y][x] = ch
        cv.styles[y][x] = style
        cv.owners[y][x] = owner
        x += 1


def _clip(text: str, room: int) -> str:
    return text if len(text) <= room else text[:room - 1] + "…"


def _draw_box(cv: Canvas, p: Placed, box: PlanBox) -> None:
    x0, y0, x1, y1 = p.x, p.y, p.x + BOX_W - 1, p.y + p.height - 1
    inner = BOX_W - 2
    rows = [["┌", *"─" * inner, "┐"]] + [["│", *" " * inner, "│"] for _ in range(p.height - 2)] + [["└", *"─" * inner, "┘"]]
    side = ["border", *[""] * inner, "border"]
    for y, row in zip(range(y0, y1 + 1), rows):
        cv.chars[y][x0:x1 + 1] = row
        cv.styles[y][x0:x1 + 1] = ["border"] * BOX_W if y in (y0, y1) else side
        cv.owners[y][x0:x1 + 1] = [box.plan_id] * BOX_W
    if x1 + 1 < cv.width and cv.styles[y0 + 1][x1 + 1] == "line":
        cv.chars[y0 + 1][x1] = "├"
    room = BOX_W - 4
    state = ("● active", "active") if box.active else ("○ inactive", "inactive")
    _put(cv, x0 + 2, y0 + 1, [(_clip(box.plan_id, room - len(state[0]) - 1), "id")], room, box.plan_id)
    _put(cv, x1 - 1 - len(state[0]), y0 + 1, [state], len(state[0]), box.plan_id)
    _put(cv, x0 + 2, y0 + 2, [(_clip(box.image or "-", room), "image")], room, box.plan_id)
    _put(cv, x0 + 2, y0 + 3, runs_text(box.runs), room, box.plan_id)


@dataclass
class Moves:
    """Where the selection goes from each plan: up, down (same layer), left, right (nearest row)."""
    up: dict[str, str] = field(default_factory=dict)
    down: dict[str, str] = field(default_factory=dict)
    left: dict[str, str] = field(default_factory=dict)
    right: dict[str, str] = field(default_factory=dict)


def moves(cv: Canvas) -> Moves:
    m = Moves()
    cols = cv.columns
    for i, col in enumerate(cols):
        for a, b in zip(col, col[1:]):
            m.down[a], m.up[b] = b, a
        for side, j in (("left", i - 1), ("right", i + 1)):
            k = j
            while 0 <= k < len(cols) and not cols[k]:
                k += -1 if side == "left" else 1
            if not 0 <= k < len(cols):
                continue
            for p in col:
                y = cv.boxes[p].y
                getattr(m, side)[p] = min(cols[k], key=lambda q: (abs(cv.boxes[q].y - y), cv.boxes[q].y))
    return m
