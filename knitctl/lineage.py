"""Lineage: the graph of data and runs around a datum or run, by recursive queries.

One recursive query per direction walks the whole neighbourhood; nodes are
data and runs, edges go run → output datum and datum → consuming run.
Depth counts runs: depth 1 upstream of a datum is the run that made it and
that run's inputs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from . import tags as tagrules

_UP = """
WITH RECURSIVE walk(kind, id, depth, pkind, pid) AS (
    SELECT :kind, :id, 0, NULL, NULL
    UNION
    SELECT 'run', d.run_id, w.depth + 1, 'data', w.id
      FROM walk w JOIN data d ON w.kind = 'data' AND d.knit_id = w.id
     WHERE w.depth < :max
    UNION
    SELECT 'data', d.knit_id, w.depth, 'run', w.id
      FROM walk w JOIN run r ON w.kind = 'run' AND r.run_id = w.id
      JOIN event e ON e.execution_id = r.execution_id AND e.type = 3
      JOIN data d ON d.artifact_id = e.artifact_id
)
SELECT kind, id, depth, pkind, pid FROM walk
"""

_DOWN = """
WITH RECURSIVE walk(kind, id, depth, pkind, pid) AS (
    SELECT :kind, :id, 0, NULL, NULL
    UNION
    SELECT 'run', r.run_id, w.depth + 1, 'data', w.id
      FROM walk w JOIN data d ON w.kind = 'data' AND d.knit_id = w.id
      JOIN event e ON e.artifact_id = d.artifact_id AND e.type = 3
      JOIN run r ON r.execution_id = e.execution_id
     WHERE w.depth < :max AND r.status != 'invalidated'
    UNION
    SELECT 'data', d.knit_id, w.depth, 'run', w.id
      FROM walk w JOIN data d ON w.kind = 'run' AND d.run_id = w.id
)
SELECT kind, id, depth, pkind, pid FROM walk
"""

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


def walk(conn: sqlite3.Connection, kind: str, node_id: str, *, up: bool, down: bool, depth: int | None) -> Graph:
    """Nodes and edges within `depth` runs of the start, upstream and/or downstream."""
    g = Graph((kind, node_id))
    max_depth = UNLIMITED if depth is None else depth
    found: set[tuple[str, str]] = {(kind, node_id)}
    pairs: list[tuple[tuple[str, str], tuple[str, str], bool]] = []
    for sql, is_up in ((_UP, True), (_DOWN, False)):
        if (is_up and not up) or (not is_up and not down):
            continue
        for k, i, _, pk, pi in conn.execute(sql, {"kind": kind, "id": node_id, "max": max_depth}):
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
    run_ids = [i for k, i in found if k == "run"]
    for chunk in _chunks(data_ids):
        marks = ",".join("?" * len(chunk))
        tags: dict[str, list[str]] = {i: [] for i in chunk}
        for kid, key, value in conn.execute(f"SELECT knit_id, key, value FROM tag WHERE knit_id IN ({marks}) ORDER BY key, value", chunk):
            tags[kid].append(f"{key}:{value}")
        for kid, status, fin in conn.execute(
            f"SELECT d.knit_id, r.status, r.finished_ms FROM data d JOIN run r ON r.run_id = d.run_id WHERE d.knit_id IN ({marks})",
            chunk,
        ):
            st = "done" if status == "done" else ("failed" if status in ("failed", "invalidated") else "processing")
            g.nodes[("data", kid)] = {"tags": tags[kid] + [str(t) for t in tagrules.system_tags(kid, fin, st) if t.key != tagrules.KEY_ID]}
    for chunk in _chunks(run_ids):
        marks = ",".join("?" * len(chunk))
        for rid, pid, status, image in conn.execute(
            f"SELECT r.run_id, r.plan_id, r.status, p.image FROM run r JOIN plan p ON p.plan_id = r.plan_id WHERE r.run_id IN ({marks})",
            chunk,
        ):
            g.nodes[("run", rid)] = {"plan_id": pid, "status": status, "image": image}


def _edge_labels(conn: sqlite3.Connection, found: set[tuple[str, str]]) -> dict:
    """Mount paths: for run → datum its output path, for datum → run the input path."""
    labels = {}
    data_ids = [i for k, i in found if k == "data"]
    for chunk in _chunks(data_ids):
        marks = ",".join("?" * len(chunk))
        for kid, rid, path in conn.execute(f"SELECT knit_id, run_id, output_path FROM data WHERE knit_id IN ({marks})", chunk):
            labels[(("run", rid), ("data", kid))] = path
        for kid, rid, path in conn.execute(
            f"""SELECT d.knit_id, r.run_id, ep.step_key FROM data d
                JOIN event e ON e.artifact_id = d.artifact_id AND e.type = 3
                JOIN event_path ep ON ep.event_id = e.id AND ep.position = 0
                JOIN run r ON r.execution_id = e.execution_id WHERE d.knit_id IN ({marks})""",
            chunk,
        ):
            labels[(("data", kid), ("run", rid))] = path
    return labels


def _chunks(items: list[str], n: int = 500):
    for i in range(0, len(items), n):
        yield items[i : i + n]
