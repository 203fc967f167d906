"""Runs: the default screen, a live table of runs, newest first."""

from __future__ import annotations

from textual.binding import Binding

from .tables import TableScreen


class RunsScreen(TableScreen):
    KIND = "runs"
    TITLE = "Runs"
    HELP = ("Every run, newest first; uploads and invalidated runs are hidden unless the filter asks "
            "(plan:upload, status:invalidated). Rows update in place as runs move; more load as you scroll.")
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("l", "logs", "Logs"),
        Binding("g", "lineage", "Lineage"),
        Binding("a", "abort", "Abort"),
        Binding("r", "retry", "Retry"),
        Binding("p", "plan", "Plan", show=False),
    ]

    def action_open(self) -> None:
        if key := self.current_key():
            self.app.open_run(key)

    def action_logs(self) -> None:
        if key := self.current_key():
            self.app.open_log(key)

    def action_lineage(self) -> None:
        if key := self.current_key():
            self.app.open_lineage("run", key)

    def action_abort(self) -> None:
        if key := self.current_key():
            self.app.confirm_abort(key)

    def action_retry(self) -> None:
        if key := self.current_key():
            self.app.confirm_retry(key)

    def action_plan(self) -> None:
        row = self.table.current
        if row:
            self.app.open_plan(row.values["plan_id"])
