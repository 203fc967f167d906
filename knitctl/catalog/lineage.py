"""Lineage in the catalog: recursive walks over data and runs, and the facts shown on their nodes.

One recursive query per direction walks the whole neighbourhood; nodes are data and runs, edges go
run -> output datum and datum -> consuming run. Depth counts runs: depth 1 upstream of a datum is
the run that made it and that run's inputs. The graph is assembled in `knitctl.lineage`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

from .mlmd import EV_INPUT

_UP = f"""
WITH RECURSIVE walk(kind, id, depth, pkind, pid) AS (
    SELECT :kind, :id, 0, NULL, NULL
    UNION
    SELECT 'run', d.run_id, w.depth + 1, 'data', w.id
      FROM walk w JOIN data d ON w.kind = 'data' AND d.knit_id = w.id
     WHERE w.depth < :max
    UNION
    SELECT 'data', d.knit_id, w.depth, 'run', w.id
      FROM walk w JOIN run r ON w.kind = 'run' AND r.run_id = w.id
      JOIN Event e ON e.execution_id = r.execution_id AND e.type = {EV_INPUT}
      JOIN data d ON d.artifact_id = e.artifact_id
)
SELECT kind, id, depth, pkind, pid FROM walk
"""

_DOWN = f"""
WITH RECURSIVE walk(kind, id, depth, pkind, pid) AS (
    SELECT :kind, :id, 0, NULL, NULL
    UNION
    SELECT 'run', r.run_id, w.depth + 1, 'data', w.id
      FROM walk w JOIN data d ON w.kind = 'data' AND d.knit_id = w.id
      JOIN Event e ON e.artifact_id = d.artifact_id AND e.type = {EV_INPUT}
      JOIN run r ON r.execution_id = e.execution_id
     WHERE w.depth < :max AND r.status != 'invalidated'
    UNION
    SELECT 'data', d.knit_id, w.depth, 'run', w.id
      FROM walk w JOIN data d ON w.kind = 'run' AND d.run_id = w.id
)
SELECT kind, id, depth, pkind, pid FROM walk
"""


def walk(conn: sqlite3.Connection, kind: str, node_id: str, *, up: bool, max_depth: int) -> Iterator[tuple]:
    """(kind, id, depth, parent kind, parent id) of every node reached, the start included."""
    return conn.execute(_UP if up else _DOWN, {"kind": kind, "id": node_id, "max": max_depth})


def _chunks(items: Sequence[str], n: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


def data_facts(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> Iterator[tuple[str, list[str], str, int | None]]:
    """(knit_id, user tags as 'key:value' in order, its run's status, finished_ms) of each datum."""
    for chunk in _chunks(knit_ids):
        marks = ",".join("?" * len(chunk))
        tags: dict[str, list[str]] = {i: [] for i in chunk}
        for kid, key, value in conn.execute(
            f"SELECT knit_id, key, value FROM tag WHERE knit_id IN ({marks}) ORDER BY key, value", chunk
        ):
            tags[kid].append(f"{key}:{value}")
        for kid, status, fin in conn.execute(
            f"SELECT d.knit_id, r.status, r.finished_ms FROM data d JOIN run r ON r.run_id = d.run_id WHERE d.knit_id IN ({marks})",
            chunk,
        ):
            yield kid, tags[kid], status, fin


def run_facts(conn: sqlite3.Connection, run_ids: Sequence[str]) -> Iterator[tuple[str, str, str, str | None]]:
    """(run_id, plan_id, status, image) of each run."""
    for chunk in _chunks(run_ids):
        marks = ",".join("?" * len(chunk))
        yield from conn.execute(
            f"SELECT r.run_id, r.plan_id, r.status, p.image FROM run r JOIN plan p ON p.plan_id = r.plan_id WHERE r.run_id IN ({marks})",
            chunk,
        )


def mount_paths(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> Iterator[tuple[bool, str, str, str]]:
    """(is the datum an output of the run, knit_id, run_id, mount path) of every edge at these data:
    the output path of the run that made each, the input path of each run that took it."""
    for chunk in _chunks(knit_ids):
        marks = ",".join("?" * len(chunk))
        for kid, rid, path in conn.execute(f"SELECT knit_id, run_id, output_path FROM data WHERE knit_id IN ({marks})", chunk):
            yield True, kid, rid, path
        for kid, rid, path in conn.execute(
            f"""SELECT d.knit_id, r.run_id, ep.step_key FROM data d
                JOIN Event e ON e.artifact_id = d.artifact_id AND e.type = {EV_INPUT}
                JOIN EventPath ep ON ep.event_id = e.id
                JOIN run r ON r.execution_id = e.execution_id WHERE d.knit_id IN ({marks})""",
            chunk,
        ):
            yield False, kid, rid, path


def inputs_taken(conn: sqlite3.Connection, knit_id: str) -> set[tuple[str, str]]:
    """(plan_id, input path) of every run that took the datum as input."""
    return {(r[0], r[1]) for r in conn.execute(
        f"""SELECT r.plan_id, ep.step_key FROM data dd JOIN Event e ON e.artifact_id = dd.artifact_id AND e.type = {EV_INPUT}
            JOIN EventPath ep ON ep.event_id = e.id JOIN run r ON r.execution_id = e.execution_id
            WHERE dd.knit_id = ?""",
        (knit_id,),
    )}
