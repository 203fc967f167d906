"""One run: assignment, outputs, exit code and message, resources, timings, history."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from knitctl import provenance, runstate
from knitctl.catalog import browse
from knitctl.catalog.records import UPLOAD_PLAN

from .. import format as fmt
from .. import query
from ..widgets.fields import section, sections
from .detail import DetailScreen


def _resources(res: dict) -> str:
    parts = []
    if res.get("cpu") is not None:
        parts.append(f"cpu {res['cpu']}")
    if res.get("memory") is not None:
        parts.append(f"memory {fmt.size(res['memory'])}")
    if res.get("gpu"):
        parts.append(f"gpu {res['gpu']}")
    return ", ".join(parts) or "(none asked)"


class RunDetailScreen(DetailScreen):
    TITLE = "Run"
    HELP = "One run, kept up to date. l: its log, g: its lineage, p: its plan, a: abort, r: retry."
    BINDINGS = [
        Binding("l", "logs", "Logs"),
        Binding("g", "lineage", "Lineage"),
        Binding("p", "plan", "Plan"),
        Binding("a", "abort", "Abort"),
        Binding("r", "retry", "Retry"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def header_title(self) -> str:
        return f"Run {self.run_id}"

    def facts(self):
        d = query.run_detail(self.app.session, self.run_id)
        if d is None:
            return None
        r = d["run"]
        return {
            "status": r.status, "plan": r.plan_id, "image": r.image, "inputs": r.inputs, "outputs": r.outputs,
            "exit": r.exit_code, "message": r.message, "context": r.context, "created": r.created_ms,
            "started": r.started_ms, "finished": r.finished_ms, "updated": r.updated_ms, "history": r.history,
            "resources": d["resources"], "timeout": d["timeout"], "tags": d["tags"], "request": d["request"],
            "plan_active": d["plan_active"], "reused": r.reused_run, "provenance": d["provenance"],
        }

    def render_facts(self, f):
        if f is None:
            return Text(f"run {self.run_id} is gone (removed from the catalog)", style="bold red")
        now = self.app.now_ms()
        live = f["status"] not in runstate.TERMINAL
        status = fmt.status(f["status"])
        if f.get("reused") and f["status"] == "done":  # a cached run (knitctl.reuse)
            status.append(" (cached)", style="dim")
        head = [("id", Text(self.run_id, style="bold")), ("status", status),
                ("plan", "upload" if f["plan"] == UPLOAD_PLAN else f["plan"] + ("" if f["plan_active"] else " (inactive)")),
                ("image", f["image"] or "-")]
        if f.get("reused"):
            head.append(("reused", Text.assemble("the outputs of run ", (f["reused"], "bold"),
                                                 " (same plan, inputs of the same content); it did not execute")))
        if f["exit"] is not None:
            head.append(("exit code", Text(str(f["exit"]), style="green" if f["exit"] == 0 else "bold red")))
        if f["message"]:
            head.append(("message", f["message"]))
        if f["request"]:
            head.append(("requested", f["request"]))
        if f["context"]:
            head.append(("context", f["context"]))

        def mount(m):
            tags = " ".join(f["tags"].get(m["knit_id"], []))
            return (m["path"], Text.assemble((m["knit_id"], "bold"), "  ", (tags, "dim")))

        inputs = [mount(m) for m in f["inputs"]] or [("", Text("(none: an upload)", style="dim"))]
        outputs = [mount(m) for m in f["outputs"]] or [("", Text("(none)", style="dim"))]
        res = [("resources", _resources(f["resources"]))]
        if f["timeout"]:
            res.append(("timeout", str(f["timeout"])))
        times = [("created", f"{fmt.clock_time(f['created'])}  ({fmt.age(f['created'], now)} ago)")]
        if f["started"]:
            times.append(("started", fmt.clock_time(f["started"])))
        if f["finished"]:
            times.append(("finished", fmt.clock_time(f["finished"])))
        dur = fmt.duration(f["started"], f["finished"], now, live)
        if dur:
            times.append(("duration", dur + (" so far" if live else "")))
        history = [(h["at"][11:23], Text.assemble(fmt.status(h["status"]), (f"  {h['note']}" if h.get("note") else "", "dim")))
                   for h in f["history"]]
        made = provenance.rows(f["provenance"], shown_image=f["image"])  # recorded when its task started (or pushed)
        return sections(
            section("Run", head), section("Assignment (inputs)", inputs), section("Outputs", outputs),
            section("Resources", res), *([section("Provenance", made)] if made else []), section("Timings", times),
            section("History", history),
        )

    def tick(self) -> None:
        self._last = None
        self.redraw()

    def action_logs(self) -> None:
        self.app.open_log(self.run_id)

    def action_lineage(self) -> None:
        self.app.open_lineage("run", self.run_id)

    def action_plan(self) -> None:
        plan_id = browse.plan_of_run(self.app.read_conn, self.run_id)
        if plan_id:
            self.app.open_plan(plan_id)

    def action_abort(self) -> None:
        self.app.confirm_abort(self.run_id)

    def action_retry(self) -> None:
        self.app.confirm_retry(self.run_id)
