"""The lineage tree: a datum or run at the root, upstream and downstream
branches that load one hop when opened, wide fan-out folded into "+N runs"."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from knitctl.catalog.records import UPLOAD_PLAN

from .. import format as fmt
from .. import query

FANOUT = 10


@dataclass
class LNode:
    kind: str                 # run | data | group | more | empty
    id: str = ""
    direction: str = ""       # up | down
    path: str = ""            # the mount path linking it to its parent
    loaded: bool = False
    offset: int = 0           # for `more`: where the next page starts
    parent_kind: str = ""
    parent_id: str = ""


def label(node: LNode, facts: dict | None) -> Text:
    t = Text()
    arrow = {"up": "▲ ", "down": "▼ "}.get(node.direction, "")
    if node.kind == "run":
        f = facts or {}
        t.append(arrow, style="dim")
        t.append("run ", style="dim")
        t.append(node.id, style="bold")
        t.append("  ")
        t.append_text(fmt.status(f.get("status", "?")))
        plan = f.get("plan_id")
        t.append("  upload" if plan == UPLOAD_PLAN else f"  plan {plan}", style="dim")
        if f.get("image"):
            t.append(f" {f['image']}", style="dim")
    elif node.kind == "data":
        f = facts or {}
        t.append(arrow, style="dim")
        t.append("data ", style="dim")
        t.append(node.id, style="bold")
        t.append("  ")
        t.append_text(fmt.status(f.get("status", "?")))
        tags = " ".join(f.get("tags", []))
        if tags:
            t.append(f"  {tags[:60]}")
    if node.path:
        t.append(f"  @ {node.path}", style="italic dim")
    return fmt.clean_text(t)


def _lnode(node: TreeNode[LNode]) -> LNode:
    """The node's LNode: every node this tree adds carries one."""
    assert node.data is not None
    return node.data


class LineageTree(Tree[LNode]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("space,right", "expand", "Expand", show=True),
        Binding("left", "collapse", "Collapse", show=False),
    ]

    class Open(Message):
        def __init__(self, node: LNode) -> None:
            super().__init__()
            self.node = node

    def __init__(self, kind: str, node_id: str, *, id: str | None = None) -> None:
        super().__init__(Text(""), data=LNode(kind, node_id, loaded=True), id=id)
        self.center = (kind, node_id)
        self.show_root = True
        self.guide_depth = 3

    @property
    def conn(self):
        return self.app.read_conn

    def on_mount(self) -> None:
        root = self.root
        kind, node_id = self.center
        root.set_label(label(_lnode(root), query.describe(self.conn, [self.center]).get(self.center)))
        up = root.add(Text("upstream (inputs and where they came from)", style="bold"),
                      data=LNode("group", node_id, "up", parent_kind=kind, parent_id=node_id))
        down = root.add(Text("downstream (outputs and what used them)", style="bold"),
                        data=LNode("group", node_id, "down", parent_kind=kind, parent_id=node_id))
        root.expand()
        self._load(up)
        self._load(down)
        up.expand()
        down.expand()

    # -- loading one hop -----------------------------------------------------------------

    def _load(self, node: TreeNode, offset: int = 0) -> None:
        data = _lnode(node)
        if data.kind == "group":
            kind, node_id = data.parent_kind, data.parent_id
        else:
            kind, node_id = data.kind, data.id
        data.loaded = True
        hop = query.neighbours(self.conn, kind, node_id, data.direction, offset=offset, limit=FANOUT)
        facts = query.describe(self.conn, [(k, i) for k, i, _ in hop.items])
        for k, i, path in hop.items:
            child = LNode(k, i, data.direction, path)
            node.add(label(child, facts.get((k, i))), data=child, allow_expand=True)
        shown = offset + len(hop.items)
        if hop.total > shown:
            what = "runs" if hop.items and hop.items[0][0] == "run" else "data"
            more = LNode("more", direction=data.direction, offset=shown, parent_kind=kind, parent_id=node_id)
            node.add_leaf(Text(f"+{hop.total - shown} {what}", style="bold yellow"), data=more)
        if hop.total == 0 and offset == 0:
            what = {("run", "up"): "no inputs (an upload)", ("run", "down"): "no outputs",
                    ("data", "up"): "no producer", ("data", "down"): "not used by any run"}[(kind, data.direction)]
            node.add_leaf(Text(what, style="dim italic"), data=LNode("empty"))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        data: LNode | None = event.node.data
        if data is not None and data.kind in ("run", "data") and not data.loaded:
            self._load(event.node)

    def _more(self, node: TreeNode) -> None:
        data = _lnode(node)
        parent = node.parent
        node.remove()
        if parent is not None:
            self._load(parent, offset=data.offset)

    # -- keys ------------------------------------------------------------------------------

    def action_open(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        if node.data.kind == "more":
            self._more(node)
        elif node.data.kind in ("run", "data"):
            self.post_message(self.Open(node.data))
        else:
            node.toggle()

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        if node.data.kind == "more":
            self._more(node)
        elif node.allow_expand:
            node.expand()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)

    # -- live ----------------------------------------------------------------------------------

    def nodes(self) -> list[TreeNode[LNode]]:
        out, stack = [], [self.root]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(n.children)
        return out

    def relabel(self) -> None:
        """Statuses and tags moved: redraw the labels of the nodes shown."""
        shown = [(n, n.data) for n in self.nodes() if n.data is not None and n.data.kind in ("run", "data")]
        facts = query.describe(self.conn, {(d.kind, d.id) for _, d in shown})
        for n, d in shown:
            new = label(d, facts.get((d.kind, d.id)))
            if new.plain != str(n.label):  # str() of a Text is its plain text
                n.set_label(new)
