"""Plans: image, input and output tags, active, run counts by status."""

from __future__ import annotations

from textual.binding import Binding

from .tables import TableScreen


class PlansScreen(TableScreen):
    KIND = "plans"
    TITLE = "Plans"
    HELP = ("Every plan, newest first, with its inputs' and outputs' tags, whether it is active and how many "
            "of its runs are in each status (kept up to date). Enter opens a plan; `R` lists its runs.")
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("R", "runs", "Its runs"),
    ]

    def action_open(self) -> None:
        if key := self.current_key():
            self.app.open_plan(key)

    def action_runs(self) -> None:
        if key := self.current_key():
            self.app.show_table("runs", f"plan:{key}")
