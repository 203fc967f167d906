"""The pipeline: every plan as a box, in layers from the plans nothing feeds, linked by matching tags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from knitctl.catalog import browse
from knitctl.plans import registry

if TYPE_CHECKING:
    from knitctl.session import Session

from .. import format as fmt
from ..pipeline_layout import Link, PlanBox, dedupe, feeding_edges
from ..widgets.pipeline_graph import PipelineGraph
from .base import KnitScreen


def read(session: Session) -> tuple[list[PlanBox], list[Link]]:
    """The plans (oldest first) and which feeds which, labelled with the tags of the input fed."""
    rows = browse.pipeline_plans(session.catalog.conn)
    boxes = [PlanBox(pid, image or "", active, runs) for pid, image, active, runs in rows]
    shapes = registry.shapes(session)
    tags = {(s.plan_id, path): t for s in shapes for path, t in s.inputs.items()}
    return boxes, dedupe(feeding_edges(shapes), tags)


class PipelineScreen(KnitScreen):
    TITLE = "Pipeline"
    HELP = ("Every plan as a box (id, active or not, image, its runs by status), in layers from the plans "
            "nothing feeds; a line joins a plan to each plan its outputs feed, labelled with the tags of the "
            "input it feeds, and the selected plan's lines are lit. ↑↓ j k move within a layer, ← → h l to "
            "the layer upstream or downstream. Enter opens a plan; `R` lists its runs. Kept up to date.")
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("R", "runs", "Its runs"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static(classes="status-line")
        yield PipelineGraph(id="pipeline")

    @property
    def graph(self) -> PipelineGraph:
        return self.query_one(PipelineGraph)

    def main_widget(self):
        return self.graph

    def mounted(self) -> None:
        self.redraw()

    def refresh_live(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        boxes, links = read(self.app.session)
        self.graph.show(boxes, links)
        self.show_status()

    def show_status(self) -> None:
        g = self.graph
        cv = g.canvas
        line = Text()
        line.append(self.TITLE, style="bold")
        line.append(f"  {fmt.count(len(cv.boxes))} plans · {fmt.count(len(cv.links))} links"
                    f" · {len(cv.columns)} layers", style="dim")
        if not cv.boxes:
            line.append("  no plans yet: knitctl plan apply FILE", style="italic")
        elif g.selected:
            ins = len({k.up for k in cv.links if k.down == g.selected})
            outs = len({k.down for k in cv.links if k.up == g.selected})
            line.append("  selected ", style="dim")
            line.append(g.selected, style="bold yellow")
            line.append(f"  fed by {ins}, feeds {outs}", style="dim")
        self.query_one(".status-line", Static).update(fmt.clean_text(line))

    def on_pipeline_graph_selected(self, event: PipelineGraph.Selected) -> None:
        event.stop()
        if self.ready:
            self.show_status()

    def on_pipeline_graph_opened(self, event: PipelineGraph.Opened) -> None:
        event.stop()
        self.app.open_plan(event.plan_id)

    def action_open(self) -> None:
        if self.graph.selected:
            self.app.open_plan(self.graph.selected)

    def action_runs(self) -> None:
        if self.graph.selected:
            self.app.show_table("runs", f"plan:{self.graph.selected}")
