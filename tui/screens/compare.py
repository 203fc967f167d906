"""Compare: the data marked on the Data screen side by side (the table of `knitctl data compare`)
and a chart of one metric against one parameter, drawn in the terminal."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from knitctl import compare as rules

from .base import KnitScreen

CHART_WIDTH = 40


class CompareScreen(KnitScreen):
    TITLE = "Compare"
    HELP = ("The marked data side by side: first the inputs and parameters that differ between them "
            "(read from the data upstream: their tags, and their JSON, YAML and one-row CSV files), then "
            "each one's metrics. Below, a bar chart of one metric against one parameter: m and M choose "
            "the metric, p and P the parameter; s sorts the rows by the metric (again: the other way).")
    BINDINGS = [
        Binding("m", "metric(1)", "Next metric"),
        Binding("M", "metric(-1)", "Previous metric", show=False),
        Binding("p", "parameter(1)", "Next parameter"),
        Binding("P", "parameter(-1)", "Previous parameter", show=False),
        Binding("s", "sort", "Sort by metric"),
    ]

    def __init__(self, knit_ids: list[str]) -> None:
        super().__init__()
        self.knit_ids = list(knit_ids)
        self.table: rules.Table | None = None
        self.error: str | None = None
        self.metrics: list[str] = []
        self.parameters: list[str] = []
        self.metric = 0
        self.parameter = 0
        self.descending: bool | None = None     # sorted by the metric, which way; None: as marked

    def header_title(self) -> str:
        return f"Compare {len(self.knit_ids)} data"

    def compose_body(self) -> ComposeResult:
        yield Static(classes="status-line")
        with VerticalScroll(classes="compare"):
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="compare-notes")
            yield Static(id="compare-chart")

    def main_widget(self):
        return self.query_one("#compare-table", DataTable)

    def mounted(self) -> None:
        self.load()

    def refresh_live(self) -> None:
        self.load()

    def load(self) -> None:
        from knitctl.comparison import compare
        from knitctl.errors import KnitError

        try:
            self.table = compare(self.app.session, ids=self.knit_ids)
            self.error = None
        except KnitError as e:
            self.table, self.error = None, e.message
        t = self.table
        self.metrics = [c.name for c in t.columns if c.kind == rules.KIND_METRIC] if t else []
        # the parameters read from files first, then the tags and ids that vary
        self.parameters = [c.name for c in t.columns if c.kind == rules.KIND_PARAMETER] + \
            [c.name for c in t.columns if c.kind == rules.KIND_INPUT and c.name != "id"] if t else []
        if t and not self.parameters:
            self.parameters = ["id"]
        self.metric = min(self.metric, max(0, len(self.metrics) - 1))
        self.parameter = min(self.parameter, max(0, len(self.parameters) - 1))
        self.show()

    @property
    def current_metric(self) -> str | None:
        return self.metrics[self.metric] if self.metrics else None

    @property
    def current_parameter(self) -> str | None:
        return self.parameters[self.parameter] if self.parameters else None

    def show(self) -> None:
        grid = self.query_one("#compare-table", DataTable)
        cursor = grid.cursor_row
        grid.clear(columns=True)
        status = Text()
        status.append(self.TITLE, style="bold")
        if self.table is None:
            status.append(f"  {self.error}", style="red")
            self.query_one(".status-line", Static).update(status)
            self.query_one("#compare-chart", Static).update("")
            self.query_one("#compare-notes", Static).update("")
            return
        t = self.table
        if self.descending is not None and self.current_metric:
            t = rules.sort(t, self.current_metric, descending=self.descending)
        for c in t.columns:
            grid.add_column(Text(c.name, style="bold" if c.kind == rules.KIND_METRIC else "italic"), key=c.name)
        for r in t.rows:
            grid.add_row(*[Text(rules.cell(v) or "–", justify="right" if isinstance(v, (int, float)) else "left")
                           for v in r], key=str(r[0]))
        if t.rows:
            grid.move_cursor(row=min(cursor, len(t.rows) - 1))
        status.append(f"  {len(t.rows)} data · {len(self.parameters)} varying · {len(self.metrics)} metrics", style="dim")
        if self.descending is not None and self.current_metric:
            status.append(f"  sorted by {self.current_metric} {'↓' if self.descending else '↑'}", style="bold yellow")
        self.query_one(".status-line", Static).update(status)
        notes = "\n".join(f"datum {k}: no readable metrics ({why})" for k, why in t.unreadable)
        self.query_one("#compare-notes", Static).update(Text(notes, style="yellow"))
        if self.current_metric and self.current_parameter:
            lines = rules.chart(t, self.current_metric, self.current_parameter, width=CHART_WIDTH)
            chart = Text("\n".join(lines))
            chart.append("\nm/M metric · p/P parameter · s sort", style="dim")
        else:
            chart = Text("no metrics to chart: none of these data holds a readable metric file", style="dim")
        self.query_one("#compare-chart", Static).update(chart)

    def action_metric(self, step: int) -> None:
        if self.metrics:
            self.metric = (self.metric + step) % len(self.metrics)
            self.show()

    def action_parameter(self, step: int) -> None:
        if self.parameters:
            self.parameter = (self.parameter + step) % len(self.parameters)
            self.show()

    def action_sort(self) -> None:
        self.descending = True if self.descending is None else not self.descending
        self.show()
