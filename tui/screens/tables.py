"""The three live tables' common screen: a status line and a LiveTable."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from .. import filters
from .. import format as fmt
from ..query import SOURCES
from ..widgets.live_table import LiveTable
from .base import KnitScreen


class TableScreen(KnitScreen):
    KIND = ""
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
    ]

    def __init__(self, filter_text: str = "") -> None:
        super().__init__()
        self._initial_filter = filter_text

    def compose_body(self) -> ComposeResult:
        yield Static(classes="status-line")
        yield LiveTable(SOURCES[self.KIND](), id=f"{self.KIND}-table")

    @property
    def table(self) -> LiveTable:
        return self.query_one(LiveTable)

    def main_widget(self):
        return self.table

    def mounted(self) -> None:
        if self._initial_filter:
            self.apply_filter(self._initial_filter)
        self.show_status()
        self.call_after_refresh(self._count)

    def _count(self) -> None:
        t = self.table
        if t.total is None:
            t.total = t.source.count(self.app.read_conn, t.filter)
        self.show_status()

    def show_status(self) -> None:
        t = self.table
        line = Text()
        line.append(self.TITLE, style="bold")
        line.append("  ")
        total = t.total
        line.append(f"{fmt.count(len(t.keys))} loaded" + (f" of {fmt.count(total)}" if total is not None else ""),
                    style="dim")
        if not t.filter.empty:
            line.append("  filter ", style="dim")
            line.append(t.filter.describe(), style="bold yellow")
        self.status_more(line)
        self.query_one(".status-line", Static).update(line)

    def status_more(self, line: Text) -> None:
        """What a screen adds to its status line."""

    # -- filter ------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.open_prompt("/", self.table.filter.text)

    def prompt_done(self, mode: str, value: str) -> None:
        if mode == "/":
            self.apply_filter(value)

    def apply_filter(self, text: str) -> bool:
        try:
            flt = filters.parse(text, kind=self.KIND)
        except filters.FilterError as e:
            self.notify(str(e), title="filter", severity="error")
            return False
        self.table.reload(flt)
        self.table.move_cursor(row=0)
        self.table.total = None
        self.call_after_refresh(self._count)
        self.show_status()
        return True

    def action_back(self) -> None:
        if not self.table.filter.empty:
            self.apply_filter("")
        else:
            super().action_back()

    # -- live ----------------------------------------------------------------------------------

    def refresh_live(self) -> None:
        self.table.follow()
        self.call_after_refresh(self._count)

    def tick(self) -> None:
        self.table.tick()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        pass

    def current_key(self) -> str | None:
        row = self.table.current
        return row.key if row else None
