"""The plan graph drawn with box characters: a box per plan (id, active or not, image, runs by
status), links labelled with the tags they match, one plan selected.

It is handed its plans and links (`show`) and reads nothing itself; it posts `Selected` when the
selection moves and `Opened` on enter. The links in and out of the selected plan are highlighted.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import format as fmt
from ..pipeline_layout import BOX_W, Canvas, Link, PlanBox, layout, moves, redraw_box

STYLES = {
    "": Style(),
    "line": Style(color="bright_black"),
    "label": Style(color="cyan", italic=True),
    "arrow": Style(color="bright_black"),
    "border": Style(color="blue"),
    "id": Style(bold=True),
    "image": Style(),
    "active": Style(color="green"),
    "inactive": Style(dim=True),
    "dim": Style(dim=True),
    **{f"status:{k}": Style.parse(v) for k, v in fmt.STATUS_STYLE.items()},
}
LIT = Style(color="yellow", bold=True)           # lines and labels of the selected plan's links
SELECTED_BORDER = Style(color="yellow", bold=True)
SELECTED_FILL = Style(bgcolor="grey23")


class PipelineGraph(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("up,k", "move('up')", "Up", show=False),
        Binding("down,j", "move('down')", "Down", show=False),
        Binding("left,h", "move('left')", "Upstream", show=False),
        Binding("right,l", "move('right')", "Downstream", show=False),
        Binding("enter", "open", "Open", show=False),
    ]

    class Selected(Message):
        def __init__(self, plan_id: str | None) -> None:
            super().__init__()
            self.plan_id = plan_id

    class Opened(Message):
        def __init__(self, plan_id: str) -> None:
            super().__init__()
            self.plan_id = plan_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.canvas: Canvas = layout([], [])
        self.selected: str | None = None
        self._shape: tuple | None = None
        self._boxes: dict[str, PlanBox] = {}
        self._moves = moves(self.canvas)
        self._lit: frozenset[int] = frozenset()

    # -- data in ---------------------------------------------------------------------------

    def show(self, boxes: list[PlanBox], links: list[Link]) -> bool:
        """Draw these plans (oldest first) and links; keeps the selection when its plan is still there.
        When only boxes' contents moved (state, run counts) those boxes are redrawn in place.
        False when nothing changed."""
        shape = (tuple(b.plan_id for b in boxes), tuple(links))
        if shape == self._shape:
            changed = [b for b in boxes if self._boxes.get(b.plan_id) != b]
            for b in changed:
                redraw_box(self.canvas, b)
                self._boxes[b.plan_id] = b
            if changed:
                self.refresh()
            return bool(changed)
        self._shape = shape
        self._boxes = {b.plan_id: b for b in boxes}
        self.canvas = layout(boxes, links)
        self._moves = moves(self.canvas)
        self.virtual_size = Size(self.canvas.width, self.canvas.height)
        keep = self.selected if self.selected in self.canvas.boxes else None
        first = next((c[0] for c in self.canvas.columns if c), None)
        self.select(keep or first, scroll=keep is None)
        self.refresh()
        return True

    # -- selection -------------------------------------------------------------------------

    def select(self, plan_id: str | None, *, scroll: bool = True) -> None:
        changed = plan_id != self.selected
        self.selected = plan_id
        self._lit = frozenset(i for i, k in enumerate(self.canvas.links) if plan_id in (k.up, k.down))
        if plan_id is not None and scroll:
            p = self.canvas.boxes[plan_id]
            self.scroll_to_region(Region(p.x, p.y, BOX_W, p.height), animate=False, force=True)
        self.refresh()
        if changed:
            self.post_message(self.Selected(plan_id))

    def action_move(self, direction: str) -> None:
        if self.selected is None:
            return
        to = getattr(self._moves, direction).get(self.selected)
        if to is not None:
            self.select(to)

    def action_open(self) -> None:
        if self.selected is not None:
            self.post_message(self.Opened(self.selected))

    def on_click(self, event: events.Click) -> None:
        """A click selects the plan under it; a double click opens it."""
        x, y = event.x + self.scroll_offset.x, event.y + self.scroll_offset.y
        cv = self.canvas
        owner = cv.owners[y][x] if 0 <= y < cv.height and 0 <= x < cv.width else None
        if isinstance(owner, str):
            self.select(owner, scroll=False)
            if event.chain == 2:
                self.post_message(self.Opened(owner))

    # -- drawing ----------------------------------------------------------------------------

    def _style(self, y: int, x: int) -> Style:
        cv = self.canvas
        name = cv.styles[y][x]
        owner = cv.owners[y][x]
        base = STYLES.get(name, STYLES[""])
        if owner is None:
            return base
        if isinstance(owner, str):
            if owner != self.selected:
                return base
            return SELECTED_BORDER if name == "border" else base + SELECTED_FILL
        return LIT if isinstance(owner, frozenset) and owner & self._lit else base

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = y + scroll_y
        width = self.scrollable_content_region.width
        cv = self.canvas
        if row >= cv.height:
            return Strip.blank(width, self.rich_style)
        chars = cv.chars[row]
        end = min(cv.width, scroll_x + width)
        base = self.rich_style
        segments: list[Segment] = []
        run: list[str] = []
        run_style: Style | None = None
        for x in range(scroll_x, end):
            style = self._style(row, x)
            if style != run_style and run:
                segments.append(Segment("".join(run), base + run_style))
                run = []
            run_style = style
            run.append(chars[x])
        if run:
            segments.append(Segment("".join(run), base + run_style))
        return Strip(segments, end - scroll_x).extend_cell_length(width, self.rich_style)
