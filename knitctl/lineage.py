"""Lineage: the graph of data and runs around a datum or run (the walks are `catalog.lineage`'s).

Nodes are data and runs, edges go run → output datum and datum → consuming run.
Depth counts runs: depth 1 upstream of a datum is the run that made it and
that run's inputs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import tags as tagrules
from .catalog import lineage as q
from .catalog import marks as mark_rows
from .catalog import retention as drop_rows
from .runstate import data_status

if TYPE_CHECKING:
    from .session import Session

UNLIMITED = 1_000_000


@dataclass
class Graph:
    root: tuple[str, str]
    nodes: dict[tuple[str, str], dict] = field(default_factory=dict)
    edges: set[tuple[tuple[str, str], tuple[str, str], str]] = field(default_factory=set)   # (from, to, path label)

    def to_dict(self) -> dict:
        return {
            "root": {"kind": self.root[0], "id": self.root[1]},
            "nodes": [{"kind": k, "id": i, **attrs} for (k, i), attrs in sorted(self.nodes.items())],
            "edges": [
                {"from": {"kind": a[0], "id": a[1]}, "to": {"kind": b[0], "id": b[1]}, "path": p}
                for a, b, p in sorted(self.edges)
            ],
        }


def walk(session: Session, kind: str, node_id: str, *, up: bool, down: bool, depth: int | None) -> Graph:
    """Nodes and edges within `depth` runs of the start, upstream and/or downstream (in one snapshot)."""
    with session.catalog.read() as conn:
        return _walk(conn, kind, node_id, up=up, down=down, depth=depth)


def _walk(conn: sqlite3.Connection, kind: str, node_id: str, *, up: bool, down: bool, depth: int | None) -> Graph:
    g = Graph((kind, node_id))
    max_depth = UNLIMITED if depth is None else depth
    found: set[tuple[str, str]] = {(kind, node_id)}
    pairs: list[tuple[tuple[str, str], tuple[str, str], bool]] = []
    for is_up in (True, False):
        if (is_up and not up) or (not is_up and not down):
            continue
        for k, i, _, pk, pi in q.walk(conn, kind, node_id, up=is_up, max_depth=max_depth):
            found.add((k, i))
            if pk is not None:
                # upstream walk goes against the arrows: child is the source
                pairs.append(((k, i), (pk, pi), True) if is_up else ((pk, pi), (k, i), True))
    _describe(conn, g, found)
    labels = _edge_labels(conn, found)
    for a, b, _ in pairs:
        g.edges.add((a, b, labels.get((a, b), "")))
    return g


def _describe(conn: sqlite3.Connection, g: Graph, found: set[tuple[str, str]]) -> None:
    data_ids = [i for k, i in found if k == "data"]
    bad = mark_rows.roots_of(conn, data_ids)
    gone = drop_rows.drops_of(conn, data_ids)
    for kid, tags, status, fin in q.data_facts(conn, data_ids):
        st = data_status(status)
        roots = bad.get(kid, [])
        g.nodes[("data", kid)] = {"tags": tags + [str(t) for t in tagrules.system_tags(kid, fin, st, roots) if t.key != tagrules.KEY_ID]}
        if roots:
            g.nodes[("data", kid)]["bad"] = roots
        if kid in gone:  # its bytes freed by gc (knitctl.retention): the node stays
            state, rule, _, started, dropped = gone[kid]
            g.nodes[("data", kid)]["dropped"] = {"state": state, "rule": rule,
                                                 "at": tagrules.format_time(dropped if dropped is not None else started)}
    for rid, pid, status, image in q.run_facts(conn, [i for k, i in found if k == "run"]):
        g.nodes[("run", rid)] = {"plan_id": pid, "status": status, "image": image}


def _edge_labels(conn: sqlite3.Connection, found: set[tuple[str, str]]) -> dict:
    """Mount paths: for run → datum its output path, for datum → run the input path."""
    labels = {}
    for is_output, kid, rid, path in q.mount_paths(conn, [i for k, i in found if k == "data"]):
        labels[(("run", rid), ("data", kid)) if is_output else (("data", kid), ("run", rid))] = path
    return labels
