"""Data: a live table of data, newest first."""

from __future__ import annotations

from textual.binding import Binding

from .tables import TableScreen


class DataScreen(TableScreen):
    KIND = "data"
    TITLE = "Data"
    HELP = ("Every datum, newest first, with its tags, status (done, processing, failed), size and the run "
            "that produced it. Filter by tags (`project:x`), status, producer plan or a regular expression.")
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("l", "logs", "Logs"),
        Binding("g", "lineage", "Lineage"),
        Binding("p", "plan", "Plan", show=False),
    ]

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
