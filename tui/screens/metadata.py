"""Metadata: the ML Metadata view of a store (the knit catalog, or an ml-metadata file with `--mlmd`).

Left, every artifact, execution and context type (knit's own marked), with its node count; right, the
selected type's nodes, newest first, a page at a time. Enter opens a node: its fields, properties,
events and contexts, and its neighbours to jump to. Reads go through `tui.metadata_view`, which uses
the public `knitctl.metadata` API only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from .. import format as fmt
from .. import metadata_view as mv
from ..widgets.fields import section, sections
from .base import KnitScreen

if TYPE_CHECKING:
    from knitctl.metadata.metadata_store import MetadataStore

KIND_TITLE = {"artifact": "Artifact", "execution": "Execution", "context": "Context"}
COLUMNS = {
    "artifact": (("ID", "id"), ("NAME", "name"), ("STATE", "state"), ("URI", "uri"), ("CREATED (UTC)", "created"),
                 ("PROPERTIES", "props")),
    "execution": (("ID", "id"), ("NAME", "name"), ("STATE", "state"), ("CREATED (UTC)", "created"), ("PROPERTIES", "props")),
    "context": (("ID", "id"), ("NAME", "name"), ("CREATED (UTC)", "created"), ("PROPERTIES", "props")),
}
KNIT_MARK = "knit"


def _count_text(t: mv.TypeEntry) -> str:
    if t.count is None:
        return ""
    return f"{fmt.count(t.count)}+" if t.more else fmt.count(t.count)


def _time(ms: int) -> str:
    return fmt.clock_time(ms) if ms else ""


def _short_time(ms: int) -> str:
    """A table cell's time: to the second, UTC, without the zone (the detail shows it whole)."""
    return _time(ms)[:19].replace("T", " ")


def _knit_target(app, type_name: str) -> str | None:
    """Which knit screen shows a node of this type ("data", "run", "plan"), when the app has a knit catalog."""
    return mv.KNIT_SCREENS.get(type_name) if getattr(app, "has_catalog", False) else None


class NodeTable(DataTable):
    """The nodes of one type; asks its screen for the next page when the cursor or the view nears the end."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("end,G", "scroll_bottom", "Last row", show=False),
        Binding("home", "scroll_top", "First row", show=False),
    ]

    def _near_end(self) -> None:
        screen = self.screen
        if isinstance(screen, MetadataScreen) and screen.ready:
            margin = mv.PAGE // 4
            bottom = int(self.scroll_y) + self.size.height
            if self.cursor_row >= self.row_count - margin or bottom >= self.row_count - margin:
                screen.load_more()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self.is_mounted:
            self._near_end()


class MetadataScreen(KnitScreen):
    TITLE = "Metadata"
    HELP = ("ML Metadata's view of the store: every artifact, execution and context type on the left (knit's "
            "own, knit.Data / knit.Run / knit.Plan, are marked `knit`), with how many nodes each has; the "
            "selected type's nodes on the right, newest first, loaded a page at a time. Tab moves between the "
            "two; enter on a node opens it (its fields, properties, events, contexts); on a knit node it opens "
            "knit's own screen for it, and m opens its metadata. r reads the store again.")
    BINDINGS = [
        Binding("m", "metadata", "Metadata detail"),
        Binding("r", "reload", "Reload"),
    ]
    DEFAULT_CSS = """
    MetadataScreen #mlmd-panes { height: 1fr; }
    MetadataScreen #mlmd-types { width: 44; height: 1fr; border-right: solid $primary-darken-2; }
    MetadataScreen #mlmd-nodes { width: 1fr; height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.types: list[mv.TypeEntry] = []
        self.current: mv.TypeEntry | None = None
        self.nodes: dict[str, Any] = {}        # row key (str id) -> node, in table order
        self.token: str | None = None
        self.exhausted = True
        self.pages_loaded = 0
        self.by_name = False                      # how the listing pages (metadata_view.dense)
        self._loading = False

    @property
    def store(self) -> MetadataStore:
        return self.app.metadata_store

    def compose_body(self) -> ComposeResult:
        yield Static(classes="status-line")
        with Horizontal(id="mlmd-panes"):
            yield DataTable(id="mlmd-types", cursor_type="row", zebra_stripes=False)
            yield NodeTable(id="mlmd-nodes", cursor_type="row", zebra_stripes=True)

    @property
    def type_table(self) -> DataTable:
        return self.query_one("#mlmd-types", DataTable)

    @property
    def node_table(self) -> NodeTable:
        return self.query_one(NodeTable)

    def main_widget(self):
        return self.type_table

    def mounted(self) -> None:
        t = self.type_table
        t.add_column("KIND", key="kind")
        t.add_column("TYPE", key="type")
        t.add_column("NODES", key="count")
        self.read_types()
        self.call_after_refresh(self.count_types)

    # -- types --------------------------------------------------------------------------------------

    def read_types(self) -> None:
        keep = self.current.key if self.current else None
        old = {t.key: (t.count, t.more) for t in self.types}
        self.types = mv.list_types(self.store)
        for t in self.types:
            t.count, t.more = old.get(t.key, (None, False))
        table = self.type_table
        table.clear()
        for t in self.types:
            name = Text(t.label)
            if t.knit:
                name.append(f"  {KNIT_MARK}", style="bold magenta")
            table.add_row(t.kind, name, _count_text(t), key=t.key)
        if not self.types:
            self.current = None
            self.show_nodes(None)
            return
        idx = next((i for i, t in enumerate(self.types) if t.key == keep), 0)
        table.move_cursor(row=idx)
        if self.current is None or self.current.key != self.types[idx].key:
            self.show_nodes(self.types[idx])
        else:
            self.current = self.types[idx]
        self.show_status()

    def count_types(self, only_new: bool = False) -> None:
        """Each type's node count, capped (one bounded read per type); `only_new`: the types not counted
        yet and the selected one (after a change, so the rest keep theirs until r)."""
        if not self.is_mounted:
            return
        table = self.type_table
        for t in self.types:
            if only_new and t.count is not None and t is not self.current:
                continue
            t.count, t.more = mv.count(self.store, t)
            table.update_cell(t.key, "count", _count_text(t), update_width=True)
        cur = self.current
        if cur is not None and self.pages_loaded <= 1 and mv.dense(cur) != self.by_name:
            node = self.current_node   # list it again the way that pages fast for its size
            self.show_nodes(cur, keep=str(node.id) if node is not None else None)
        self.show_status()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.type_table:
            event.stop()
            key = event.row_key.value
            t = next((x for x in self.types if x.key == key), None)
            if t is not None and (self.current is None or t.key != self.current.key):
                self.show_nodes(t)
        elif event.data_table is self.node_table:
            event.stop()
            self.node_table._near_end()
            self.show_status()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table is self.type_table:
            self.node_table.focus()
        else:
            self.action_open()

    # -- nodes --------------------------------------------------------------------------------------

    def show_nodes(self, t: mv.TypeEntry | None, keep: str | None = None) -> None:
        """List the type's nodes from the top (the first page), keeping the cursor on `keep` when it is there."""
        self.current = t
        table = self.node_table
        table.clear(columns=True)
        self.nodes = {}
        self.token = None
        self.exhausted = t is None
        self.pages_loaded = 0
        self.by_name = t is not None and mv.dense(t)
        if t is None:
            self.show_status()
            return
        for label, key in COLUMNS[t.kind]:
            table.add_column(label, key=key)
        self.load_more()
        if keep is not None and keep in self.nodes:
            table.move_cursor(row=list(self.nodes).index(keep))
        self.show_status()

    def load_more(self) -> int:
        t = self.current
        if t is None or self.exhausted or self._loading:
            return 0
        self._loading = True
        added = 0
        try:
            # A page by name drops another version's nodes, so it can come back empty: read on until it
            # adds a row (or a few pages did not).
            for _ in range(10):
                nodes, self.token = mv.page(self.store, t, self.token, by_name=self.by_name)
                self.exhausted = self.token is None
                self.pages_loaded += 1
                table = self.node_table
                for n in nodes:
                    key = str(n.id)
                    if key in self.nodes:
                        continue
                    self.nodes[key] = n
                    table.add_row(*self._cells(t.kind, n), key=key)
                    added += 1
                if added or self.exhausted:
                    break
        finally:
            self._loading = False
        self.show_status()
        return added

    def _cells(self, kind: str, n) -> list:
        cells: list[object] = [Text(str(n.id), style="bold"), fmt.clean(n.name)]
        if kind in ("artifact", "execution"):
            cells.append(mv.state_of(kind, n))
        if kind == "artifact":
            cells.append(fmt.clean(n.uri))
        cells.append(_short_time(n.create_time_since_epoch))
        cells.append(fmt.clean(mv.props_line(n)))
        return cells

    @property
    def current_node(self):
        table = self.node_table
        if not self.nodes or not (0 <= table.cursor_row < len(self.nodes)):
            return None
        return list(self.nodes.values())[table.cursor_row]

    def show_status(self) -> None:
        line = Text()
        line.append(self.TITLE, style="bold")
        line.append(f"  {fmt.count(len(self.types))} types", style="dim")
        t = self.current
        if t is not None:
            line.append("  ")
            line.append(f"{t.kind} type {t.label}", style="bold yellow")
            if t.knit:
                line.append(" (knit's own)", style="magenta")
            shown = f"  {fmt.count(len(self.nodes))} loaded"
            if t.count is not None:
                shown += f" of {_count_text(t)}"
            line.append(shown, style="dim")
            if t.properties:
                line.append("  properties ", style="dim")
                line.append(" ".join(f"{k}:{v}" for k, v in sorted(t.properties.items())))
        elif not self.types:
            line.append("  no types in this store yet", style="italic")
        self.query_one(".status-line", Static).update(fmt.clean_text(line))

    # -- keys -----------------------------------------------------------------------------------------

    def action_open(self) -> None:
        n = self.current_node
        if n is None or self.current is None:
            return
        target = _knit_target(self.app, n.type)
        if target is not None:
            self.app.open_object(target, n.name)
        else:
            self.app.push_screen(MetadataNodeScreen(self.current.kind, n.id))

    def action_metadata(self) -> None:
        n = self.current_node
        if n is not None and self.current is not None:
            self.app.push_screen(MetadataNodeScreen(self.current.kind, n.id))

    def refresh_live(self) -> None:
        """The store changed: types again; the listing again when only its first page is loaded (a
        deeper one keeps its rows until r)."""
        current = self.current
        node = self.current_node
        self.read_types()
        if current is not None and self.current is not None and self.current.key == current.key \
                and self.pages_loaded <= 1:
            self.show_nodes(self.current, keep=str(node.id) if node is not None else None)
        self.count_types(only_new=True)

    def action_reload(self) -> None:
        self.refresh_live()
        self.call_after_refresh(self.count_types)


class MetadataNodeScreen(KnitScreen):
    """One artifact, execution or context: its fields, properties, events, contexts; enter on a
    neighbour opens it."""

    TITLE = "Metadata node"
    HELP = ("One ML Metadata node: its fields, its type, properties and custom properties (structs as JSON, "
            "protos by type), and below its neighbours: for an artifact the executions that read or wrote "
            "it (event type and path), for an execution its inputs and outputs, the contexts of either, for a "
            "context its parents, children, artifacts and executions. enter opens the neighbour; o opens a "
            "knit node (knit.Data, knit.Run, knit.Plan) in knit's own screen.")
    BINDINGS = [Binding("o", "knit", "Knit's view")]
    DEFAULT_CSS = """
    MetadataNodeScreen .detail { height: 1fr; }
    MetadataNodeScreen #mlmd-links { height: auto; max-height: 50%; }
    """

    def __init__(self, kind: str, node_id: int) -> None:
        super().__init__()
        self.kind = kind
        self.node_id = node_id
        self.detail: mv.NodeDetail | None = None
        self._last: str | None = None

    def header_title(self) -> str:
        return f"Metadata · {self.kind} {self.node_id}"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(classes="detail"):
            yield Static(classes="fields")
        yield DataTable(id="mlmd-links", cursor_type="row", zebra_stripes=True)

    @property
    def links_table(self) -> DataTable:
        return self.query_one("#mlmd-links", DataTable)

    def main_widget(self):
        return self.links_table

    def mounted(self) -> None:
        t = self.links_table
        for label, key in (("RELATION", "relation"), ("KIND", "kind"), ("ID", "id"), ("TYPE", "type"),
                           ("NAME", "name"), ("PATH / STATE", "detail")):
            t.add_column(label, key=key)
        self.redraw()

    def refresh_live(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        d = mv.node_detail(self.app.metadata_store, self.kind, self.node_id)
        key = repr((d.node, d.links, d.more)) if d is not None else "gone"
        if key == self._last:
            return
        self._last = key
        self.detail = d
        self.query_one(".fields", Static).update(self.render_detail(d))
        table = self.links_table
        cursor = table.cursor_row
        table.clear()
        for i, link in enumerate(d.links if d else []):
            table.add_row(link.relation, link.kind, Text(str(link.id), style="bold"), fmt.clean(link.type),
                          fmt.clean(link.name), fmt.clean(link.detail), key=str(i))
        if d and d.links:
            table.move_cursor(row=min(cursor, len(d.links) - 1))

    def render_detail(self, d: mv.NodeDetail | None):
        if d is None:
            return Text(f"{self.kind} {self.node_id} is not in the store (deleted, or never there)", style="bold red")
        n = d.node
        type_text = Text(n.type or "?")
        if n.type.startswith(mv.KNIT_TYPE_PREFIX):
            type_text.append("  knit's own (read-only through the metadata API)", style="magenta")
        head: list[tuple[str, object]] = [("id", Text(str(n.id), style="bold")), ("type", type_text),
                                          ("name", n.name or "-")]
        if n.external_id:
            head.append(("external id", n.external_id))
        if self.kind == "artifact":
            head.append(("uri", n.uri or "-"))
        if self.kind in ("artifact", "execution"):
            head.append(("state", mv.state_of(self.kind, n) or "-"))
        head.append(("created", _time(n.create_time_since_epoch) or "-"))
        head.append(("updated", _time(n.last_update_time_since_epoch) or "-"))
        parts = [section(KIND_TITLE[self.kind], head)]
        if d.type is not None:
            t = d.type
            trows: list[tuple[str, object]] = [("name", t.name + (f" (version {t.version})" if t.version else ""))]
            if t.description:
                trows.append(("description", t.description))
            if t.properties:
                from knitctl.metadata import metadata_store_pb2 as pb

                trows.append(("properties", " ".join(f"{k}:{pb.PropertyType.Name(v)}"
                                                      for k, v in sorted(t.properties.items()))))
            parts.append(section("Type", trows))
        for title, props in (("Properties", n.properties), ("Custom properties", n.custom_properties)):
            rows: list[tuple[str, object]] = []
            for k, v in sorted(props.items()):  # a struct's indented JSON: a row a line (no raw newlines)
                lines = mv.value_text(v, wide=True).split("\n")
                rows += [(k if i == 0 else "", line) for i, line in enumerate(lines)]
            parts.append(section(title, rows or [("", Text("(none)", style="dim"))]))
        counts: dict[str, int] = {}
        for link in d.links:
            counts[link.relation] = counts.get(link.relation, 0) + 1
        summary: list[tuple[str, object]] = [(rel, str(c) + (f" (+{d.more[rel]} more not listed)" if rel in d.more else ""))
                   for rel, c in counts.items()]
        if "events" in d.more:
            summary.append(("events", Text(f"+{d.more['events']} more not listed", style="yellow")))
        parts.append(section("Neighbours (below; enter opens one)", summary or [("", Text("(none)", style="dim"))]))
        return sections(*parts)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.detail is None:
            return
        link = self.detail.links[int(event.row_key.value or 0)]
        self.app.push_screen(MetadataNodeScreen(link.kind, link.id))

    def action_knit(self) -> None:
        if self.detail is None:
            return
        n = self.detail.node
        target = _knit_target(self.app, n.type)
        if target is None:
            self.notify("not a knit node (knit.Data, knit.Run, knit.Plan in a knit catalog)", severity="warning")
            return
        self.app.open_object(target, n.name)
