"""The top bar: where you are, the current context, and whether knitd runs."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


class KnitHeader(Horizontal):
    def __init__(self, title: str = "") -> None:
        super().__init__(classes="knit-header")
        self._title = title

    def compose(self) -> ComposeResult:
        yield Static(Text("knit", style="bold"), classes="brand")
        yield Static(self._title, classes="title")
        yield Static(classes="where")

    def on_mount(self) -> None:
        self.watch(self.app, "knitd_pid", self._show_where)
        self.watch(self.app, "context_name", self._show_where)

    def set_title(self, title: str) -> None:
        self._title = title
        if self.is_mounted:
            self.query_one(".title", Static).update(title)

    def _show_where(self, _=None) -> None:
        pid = self.app.knitd_pid
        t = Text()
        t.append("context ", style="dim")
        t.append(self.app.context_name or "-", style="bold")
        t.append("  knitd ", style="dim")
        if pid:
            t.append("● running", style="bold green")
        else:
            t.append("○ stopped", style="bold red")
        self.query_one(".where", Static).update(t)
