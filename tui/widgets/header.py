"""The top bar: where you are, the current context, and whether knitd runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

if TYPE_CHECKING:
    from textual import getters

    from ..app import KnitApp


class KnitHeader(Widget):
    title: reactive[str] = reactive("")

    if TYPE_CHECKING:  # Textual types `app` as any App; this one always runs inside KnitApp
        app = getters.app(KnitApp)

    def __init__(self, title: str = "") -> None:
        super().__init__(classes="knit-header")
        self.set_reactive(KnitHeader.title, title)

    def on_mount(self) -> None:
        self.watch(self.app, "knitd_pid", self._changed, init=False)
        self.watch(self.app, "context_name", self._changed, init=False)

    def _changed(self, _=None) -> None:
        self.refresh()

    def set_title(self, title: str) -> None:
        self.title = title

    def render(self) -> Table:
        left = Text()
        left.append(" knit ", style="bold reverse")
        left.append(f"  {self.title}", style="bold")
        right = Text()
        if self.app.mlmd_label:  # an ml-metadata file, not a knit catalog: no context, no knitd
            right.append("store ", style="dim")
            right.append(self.app.mlmd_label, style="bold")
            right.append(" ")
            return self._grid(left, right)
        right.append("context ", style="dim")
        right.append(self.app.context_name or "-", style="bold")
        right.append("  knitd ", style="dim")
        if self.app.knitd_pid:
            right.append("● running", style="bold green")
        else:
            right.append("○ stopped", style="bold red")
        right.append(" ")
        return self._grid(left, right)

    @staticmethod
    def _grid(left: Text, right: Text) -> Table:
        grid = Table.grid(expand=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_column(justify="right", no_wrap=True)
        grid.add_row(left, right)
        return grid
