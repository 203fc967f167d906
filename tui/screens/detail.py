"""A detail screen's frame: one scrollable body redrawn when its facts change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from .base import KnitScreen


class DetailScreen(KnitScreen):
    _last: str | None = None  # what the body shows now (repr of its facts); None redraws

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(classes="detail"):
            yield Static(classes="fields")

    def main_widget(self):
        return self.query_one(VerticalScroll)

    def mounted(self) -> None:
        self.redraw()

    def refresh_live(self) -> None:
        self.redraw()

    def facts(self):
        """What the body shows (compared to decide whether to redraw)."""
        raise NotImplementedError

    def render_facts(self, facts):
        raise NotImplementedError

    def redraw(self) -> None:
        facts = self.facts()
        key = repr(facts)
        if self._last == key:
            return
        self._last = key
        self.query_one(".fields", Static).update(self.render_facts(facts))
