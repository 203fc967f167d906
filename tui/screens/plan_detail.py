"""One plan: its spec, mutable fields and runs by status."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from .. import format as fmt
from .. import query
from ..widgets.cells import RUN_COUNT_ORDER
from ..widgets.fields import section, sections
from .detail import DetailScreen


class PlanDetailScreen(DetailScreen):
    TITLE = "Plan"
    HELP = "One plan, kept up to date. enter: its runs in the Runs table."
    BINDINGS = [Binding("enter", "runs", "Its runs")]

    def __init__(self, plan_id: str) -> None:
        super().__init__()
        self.plan_id = plan_id

    def header_title(self) -> str:
        return f"Plan {self.plan_id}"

    def facts(self):
        d = query.plan_detail(self.app.session, self.plan_id)
        return None if d is None else {"spec": d["spec"], "runs": d["plan"].runs}

    def render_facts(self, f):
        if f is None:
            return Text(f"no plan {self.plan_id} (uploads have no plan)", style="bold red")
        s = f["spec"]
        head = [("id", Text(s["plan_id"], style="bold")), ("image", s.get("image") or "-"),
                ("active", Text("yes", style="green") if s.get("active") else Text("no", style="dim"))]
        if s.get("entrypoint"):
            head.append(("entrypoint", " ".join(s["entrypoint"])))
        if s.get("args"):
            head.append(("args", " ".join(s["args"])))
        if s.get("annotations"):
            head.append(("annotations", " ".join(s["annotations"])))
        if s.get("service_account"):
            head.append(("service account", s["service_account"]))
        res = s.get("resources") or {}
        head.append(("resources", ", ".join(f"{k} {v}" for k, v in res.items()) or "(none asked)"))
        ins = [(m["path"], " ".join(m.get("tags", []))) for m in s.get("inputs", [])]
        outs = [(m["path"], " ".join(m.get("tags", []))) for m in s.get("outputs", [])]
        if s.get("log") is not None:
            log = s["log"]
            outs.append(("log", " ".join(log.get("tags", []) if isinstance(log, dict) else log)))
        runs = [(st, Text(fmt.count(f["runs"][st]), style=fmt.STATUS_STYLE.get(st, "")))
                for st in RUN_COUNT_ORDER if f["runs"].get(st)]
        return sections(section("Plan", head), section("Inputs", ins), section("Outputs", outs or [("", "(none)")]),
                        section("Runs", runs or [("", Text("(none yet)", style="dim"))]))

    def action_runs(self) -> None:
        self.app.show_table("runs", f"plan:{self.plan_id}")
