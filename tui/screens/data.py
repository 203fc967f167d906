"""Data: a live table of data, newest first."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding

from ..widgets.live_table import LiveTable
from .tables import TableScreen

MARK = "● "


class DataScreen(TableScreen):
    KIND = "data"
    TITLE = "Data"
    HELP = ("Every datum, newest first, with its tags, status (done, processing, failed), size and the run "
            "that produced it. Filter by tags (`project:x`), status, producer plan or a regular expression. "
            "space marks a datum (again: unmarks it); c compares the marked data (or, with none marked, "
            "every datum shown) side by side: what differs upstream, their metrics, and a chart.")
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("l", "logs", "Logs"),
        Binding("g", "lineage", "Lineage"),
        Binding("p", "plan", "Plan", show=False),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
    ]

    def __init__(self, filter_text: str = "") -> None:
        super().__init__(filter_text)
        self.marked: dict[str, None] = {}      # in the order marked

    def compose_body(self) -> ComposeResult:
        for widget in super().compose_body():
            if isinstance(widget, LiveTable):   # a marked row's id is drawn with the mark, whenever it is drawn
                plain = widget.render_cells

                def render(row, now, plain=plain):
                    cells = plain(row, now)
                    if row.key in self.marked:
                        cells[0] = cells[0].copy()
                        cells[0].plain = MARK + cells[0].plain
                    return cells

                widget.render_cells = render
            yield widget

    def action_mark(self) -> None:
        row = self.table.current
        if row is None:
            return
        if row.key in self.marked:
            del self.marked[row.key]
        else:
            self.marked[row.key] = None
        self.table.update_cell(row.key, "id", self.table.render_cells(row, self.table.now())[0], update_width=True)
        self.show_status()
        self.table.action_cursor_down()

    def status_more(self, line: Text) -> None:
        if self.marked:
            line.append(f"  {len(self.marked)} marked", style="bold cyan")
            line.append(" (c compares them)", style="dim")

    def action_compare(self) -> None:
        ids = list(self.marked) or self.table.keys
        if not ids:
            self.notify("no data to compare: mark some with space", severity="warning")
            return
        self.app.open_compare(ids)

    def action_open(self) -> None:
        if key := self.current_key():
            self.app.open_datum(key)

    def action_logs(self) -> None:
        row = self.table.current
        if row:
            self.app.open_log(row.values["run_id"])

    def action_lineage(self) -> None:
        if key := self.current_key():
            self.app.open_lineage("data", key)

    def action_plan(self) -> None:
        row = self.table.current
        if row:
            self.app.open_plan(row.values["plan_id"])
