"""One datum: tags, status, size, where it came from and what used it."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from knitctl import provenance
from knitctl.catalog.records import UPLOAD_PLAN

from .. import format as fmt
from .. import query
from ..widgets.fields import section, sections
from .detail import DetailScreen


class DatumDetailScreen(DetailScreen):
    TITLE = "Data"
    HELP = "One datum, kept up to date. g: its lineage, l: its producer's log, enter: its producer run, p: the plan."
    BINDINGS = [
        Binding("enter", "producer", "Producer run"),
        Binding("g", "lineage", "Lineage"),
        Binding("l", "logs", "Logs"),
        Binding("p", "plan", "Plan"),
    ]

    def __init__(self, knit_id: str) -> None:
        super().__init__()
        self.knit_id = knit_id

    def header_title(self) -> str:
        return f"Data {self.knit_id}"

    def facts(self):
        return query.datum_detail(self.app.read_conn, self.knit_id)

    def render_facts(self, d):
        if d is None:
            return Text(f"datum {self.knit_id} is gone (its run was retried or removed)", style="bold red")
        head = [("id", Text(d["knit_id"], style="bold")), ("status", fmt.status(d["status"])),
                ("tags", " ".join(d["tags"]) or "-")]
        if d["finished_ms"] and d["status"] == "done":
            head.append(("timestamp", fmt.clock_time(d["finished_ms"])))
        head += [("size", fmt.size(d["size"]) if d["size"] is not None else "-"),
                 ("files", d["file_count"] if d["file_count"] is not None else "-"),
                 ("digest", d["digest"] or "(not committed)")]
        if d["source"]:
            head.append(("source", d["source"]))
        if d.get("dropped"):
            x = d["dropped"]
            head.append(("dropped", Text(f"by gc at {x['dropped']} (rule: {x['rule']}); files gone, lineage kept",
                                         style="yellow")))
        for root, reason, at in d.get("marks", []):
            head.append(("marked bad", Text(f"{'itself' if root == d['knit_id'] else 'from ' + root}: {reason} "
                                            f"({fmt.clock_time(at)})", style="bold red")))
        up = [("run", d["run_id"]), ("plan", "upload" if d["plan_id"] == UPLOAD_PLAN else d["plan_id"]),
              ("as output", d["output_path"])]
        down = [(path, Text.assemble((rid, "bold"), "  ", fmt.status(status), (f"  plan {pid}", "dim")))
                for rid, pid, path, status in d["downstream"]]
        if d["downstream_count"] > len(d["downstream"]):
            down.append(("", Text(f"+{d['downstream_count'] - len(d['downstream'])} more runs", style="yellow")))
        up += provenance.rows(d.get("provenance"))  # who made it, with which image or git commit
        return sections(section("Data", head), section("Produced by", up),
                        section("Used by", down or [("", Text("(no run yet)", style="dim"))]))

    def _row(self):
        return query.datum_detail(self.app.read_conn, self.knit_id)

    def action_producer(self) -> None:
        d = self._row()
        if d:
            self.app.open_run(d["run_id"])

    def action_lineage(self) -> None:
        self.app.open_lineage("data", self.knit_id)

    def action_logs(self) -> None:
        d = self._row()
        if d:
            self.app.open_log(d["run_id"])

    def action_plan(self) -> None:
        d = self._row()
        if d:
            self.app.open_plan(d["plan_id"])
