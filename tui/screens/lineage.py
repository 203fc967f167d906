"""The lineage tree centred on a datum or run, grown one hop at a time."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from knitctl.catalog import browse

from ..widgets.lineage_tree import LineageTree, LNode
from .base import KnitScreen


class LineageScreen(KnitScreen):
    TITLE = "Lineage"
    HELP = ("Upstream: where this came from; downstream: what was made from it. Each branch loads one hop "
            "when opened (space or →); wide fan-out shows ten and folds the rest into “+N”, which enter opens. "
            "enter opens a node's detail, l its (producer's) log, p its plan, c centres the tree on it.")
    BINDINGS = [
        Binding("l", "logs", "Logs"),
        Binding("p", "plan", "Plan"),
        Binding("c", "centre", "Centre here"),
    ]

    def __init__(self, kind: str, node_id: str) -> None:
        super().__init__()
        self.kind = kind
        self.node_id = node_id

    def header_title(self) -> str:
        return f"Lineage of {'run' if self.kind == 'run' else 'data'} {self.node_id}"

    def compose_body(self) -> ComposeResult:
        yield Static(classes="status-line")
        yield LineageTree(self.kind, self.node_id, id="lineage")

    @property
    def lineage_tree(self) -> LineageTree:
        return self.query_one(LineageTree)

    def main_widget(self):
        return self.lineage_tree

    def mounted(self) -> None:
        self.query_one(".status-line", Static).update(
            "▲ upstream · ▼ downstream — space/→ expands one hop, enter opens, l logs, p plan, c centres"
        )

    def refresh_live(self) -> None:
        self.lineage_tree.relabel()

    def _node(self) -> LNode | None:
        node = self.lineage_tree.cursor_node
        if node is None or node.data is None or node.data.kind not in ("run", "data"):
            return None
        return node.data

    def _run_of(self, n: LNode) -> str | None:
        if n.kind == "run":
            return n.id
        return browse.producer_of(self.app.read_conn, n.id)

    def on_lineage_tree_open(self, event: LineageTree.Open) -> None:
        n = event.node
        if n.kind == "run":
            self.app.open_run(n.id)
        else:
            self.app.open_datum(n.id)

    def action_logs(self) -> None:
        n = self._node()
        if n and (rid := self._run_of(n)):
            self.app.open_log(rid)

    def action_plan(self) -> None:
        n = self._node()
        if n and (rid := self._run_of(n)):
            plan_id = browse.plan_of_run(self.app.read_conn, rid)
            if plan_id:
                self.app.open_plan(plan_id)

    def action_centre(self) -> None:
        n = self._node()
        if n:
            self.app.open_lineage(n.kind, n.id)
