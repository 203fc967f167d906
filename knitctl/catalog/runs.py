"""Runs in the catalog: reading them, listing them with find's filters, writing their status.

The rules (which moves are legal, what may be done to a run) live in `knitctl.runstate`; the
functions here only read and write rows, inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import mlmd
from .db import plain_rows
from .records import LOG_PATH, UPLOAD_PLAN
from .where import Where

INPUT, OUTPUT = mlmd.EV_INPUT, mlmd.EV_OUTPUT

RUN_SELECT = "SELECT r.*, p.image FROM run r JOIN plan p ON p.plan_id = r.plan_id"


def ids_with_prefix(conn: sqlite3.Connection, prefix: str, limit: int = 6) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT run_id FROM run WHERE run_id >= ? AND run_id < ? LIMIT ?", (prefix, prefix + "g", limit))]


def rows_by_id(conn: sqlite3.Connection, run_id: str) -> list[sqlite3.Row]:
    return conn.execute(RUN_SELECT + " WHERE r.run_id = ?", (run_id,)).fetchall()


def inputs_and_outputs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """Each run's inputs ({path, knit_id}, by path) and outputs (by path, the log last)."""
    ins: dict[str, list[dict]] = {r: [] for r in run_ids}
    outs: dict[str, list[dict]] = {r: [] for r in run_ids}
    for i in range(0, len(run_ids), 500):
        chunk = list(run_ids[i : i + 500])
        marks = ",".join("?" * len(chunk))
        for rid, path, kid in conn.execute(
            f"""SELECT r.run_id, ep.step_key, d.knit_id FROM run r
                JOIN Event e ON e.execution_id = r.execution_id AND e.type = {INPUT}
                JOIN EventPath ep ON ep.event_id = e.id
                JOIN data d ON d.artifact_id = e.artifact_id
                WHERE r.run_id IN ({marks}) ORDER BY ep.step_key""",
            chunk,
        ):
            ins[rid].append({"path": path, "knit_id": kid})
        for rid, path, kid in conn.execute(
            f"SELECT run_id, output_path, knit_id FROM data WHERE run_id IN ({marks})"
            f" ORDER BY output_path = '{LOG_PATH}', output_path",
            chunk,
        ):
            outs[rid].append({"path": path, "knit_id": kid})
    return ins, outs


def history(conn: sqlite3.Connection, run_id: str) -> list[tuple[str, int, str | None]]:
    """(status, at_ms, note) in the order they happened."""
    return [tuple(r) for r in conn.execute(
        "SELECT status, at_ms, note FROM run_history WHERE run_id = ? ORDER BY at_ms, rowid", (run_id,))]


@dataclass
class RunFilter:
    """find's filters, ids already resolved. An empty field does not filter."""

    plan_ids: list[str] = field(default_factory=list)
    input_ids: list[str] = field(default_factory=list)
    output_ids: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    created_from_ms: int | None = None
    created_before_ms: int | None = None
    include_uploads: bool = False
    limit: int | None = None
    cached: bool = False           # done runs that reused an earlier run's outputs (with `statuses`: either)


# A listing's rows in one query, inputs and outputs aggregated in SQL (ordered subqueries feed the aggregates,
# in inputs_and_outputs' order): as the text of the inputs cell, or as JSON arrays of {path, knit_id}.
_INPUTS = f"""(SELECT {{agg}} FROM (SELECT ep.step_key AS path, d.knit_id AS knit_id FROM Event e
    JOIN EventPath ep ON ep.event_id = e.id JOIN data d ON d.artifact_id = e.artifact_id
    WHERE e.execution_id = r.execution_id AND e.type = {INPUT} ORDER BY ep.step_key))"""
_OUTPUTS = f"""(SELECT {{agg}} FROM (SELECT output_path AS path, knit_id FROM data WHERE run_id = r.run_id
    ORDER BY output_path = '{LOG_PATH}', output_path))"""
_AS_JSON = "json_group_array(json_object('path', path, 'knit_id', knit_id))"
_REUSED = "(SELECT c.reused_run FROM run_cache c WHERE c.run_id = r.run_id)"   # knitctl.reuse: cached runs
# the status column shows a cached run as `done (cached)` (reuse.status_label)
_STATUS_TEXT = f"CASE WHEN r.status = 'done' AND {_REUSED} IS NOT NULL THEN 'done (cached)' ELSE r.status END"
LISTING_TEXT = (f"SELECT r.run_id, r.plan_id, {_STATUS_TEXT}, " + _INPUTS.format(agg="group_concat(path || '=' || knit_id, ' ')")
                + ", r.context, r.created_ms, r.updated_ms, r.started_ms, r.finished_ms FROM run r")
LISTING_JSON = ("SELECT r.run_id, r.plan_id, p.image, r.status, " + _INPUTS.format(agg=_AS_JSON) + ", "
                + _OUTPUTS.format(agg=_AS_JSON) + ", r.context, r.exit_code, r.message, r.created_ms, r.updated_ms,"
                f" r.started_ms, r.finished_ms, {_REUSED} FROM run r JOIN plan p ON p.plan_id = r.plan_id")


def find_query(select: str, f: RunFilter) -> tuple[str, list]:
    """`select` (over run r: RUN_SELECT, LISTING_TEXT or LISTING_JSON) with the filters, oldest first."""
    w = Where()
    if f.plan_ids:
        w.any_of("r.plan_id", f.plan_ids)
    elif not f.include_uploads and not f.output_ids:
        w.add("r.plan_id != ?", UPLOAD_PLAN)
    for kid in f.input_ids:
        w.add("r.execution_id IN (SELECT e.execution_id FROM Event e JOIN data d ON d.artifact_id = e.artifact_id"
              f" WHERE d.knit_id = ? AND e.type = {INPUT})", kid)
    for kid in f.output_ids:
        w.add("r.run_id = (SELECT run_id FROM data WHERE knit_id = ?)", kid)
    if f.contexts:
        w.any_of("r.context", f.contexts)
    cached = "r.run_id IN (SELECT run_id FROM run_cache WHERE reused_run IS NOT NULL) AND r.status = 'done'"
    if f.statuses and f.cached:
        w.add(f"(r.status IN ({','.join('?' * len(f.statuses))}) OR ({cached}))", *f.statuses)
    elif f.cached:
        w.add(cached)
    elif f.statuses:
        w.any_of("r.status", f.statuses)
    else:
        w.add("r.status != 'invalidated'")
    w.window("r.created_ms", f.created_from_ms, f.created_before_ms)
    sql = select + w.sql() + " ORDER BY r.created_ms, r.run_id"
    if f.limit:
        sql += f" LIMIT {int(f.limit)}"
    return sql, w.params


def find(conn: sqlite3.Connection, f: RunFilter) -> list[sqlite3.Row]:
    """Rows of RUN_SELECT's columns."""
    return conn.execute(*find_query(RUN_SELECT, f)).fetchall()


def listing(conn: sqlite3.Connection, select: str, f: RunFilter) -> list[tuple]:
    """Plain tuples of `select`'s columns (LISTING_TEXT or LISTING_JSON)."""
    return plain_rows(conn, *find_query(select, f))


# -- one run's facts -------------------------------------------------------------


def status(conn: sqlite3.Connection, run_id: str) -> str | None:
    row = conn.execute("SELECT status FROM run WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else row[0]


def plan_and_status(conn: sqlite3.Connection, run_id: str) -> tuple[str, str] | None:
    row = conn.execute("SELECT plan_id, status FROM run WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def status_and_execution(conn: sqlite3.Connection, run_id: str) -> tuple[str, int] | None:
    row = conn.execute("SELECT status, execution_id FROM run WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def output_ids(conn: sqlite3.Connection, run_id: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT knit_id FROM data WHERE run_id = ?", (run_id,))]


def committed_log_id(conn: sqlite3.Connection, run_id: str) -> str | None:
    row = conn.execute(f"SELECT knit_id FROM data WHERE run_id = ? AND output_path = '{LOG_PATH}'"
                       " AND digest IS NOT NULL", (run_id,)).fetchone()
    return None if row is None else row[0]


def live_downstream(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """Runs (not invalidated) that take one of this run's outputs as input."""
    return [r[0] for r in conn.execute(
        f"""SELECT DISTINCT r2.run_id FROM data d
            JOIN Event e ON e.artifact_id = d.artifact_id AND e.type = {INPUT}
            JOIN run r2 ON r2.execution_id = e.execution_id
            WHERE d.run_id = ? AND r2.status != 'invalidated' ORDER BY r2.run_id""",
        (run_id,),
    )]


def status_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many runs are in each status (the uploads' pseudo-runs left out)."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT status, count(*) FROM run WHERE plan_id != ? GROUP BY status", (UPLOAD_PLAN,))}


def latest_context(conn: sqlite3.Connection) -> str | None:
    """The context of the run updated last (that names one)."""
    row = conn.execute("SELECT context FROM run WHERE context IS NOT NULL ORDER BY updated_ms DESC LIMIT 1").fetchone()
    return None if row is None else row[0]


# -- writes ------------------------------------------------------------------------


def set_request(conn: sqlite3.Connection, run_id: str, request: str) -> None:
    """Ask knitd to 'stop' or 'abort' the run's container."""
    conn.execute("UPDATE run SET request = ? WHERE run_id = ?", (request, run_id))


def discard_outputs(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """Drop a run's output data (tags, data rows, artifacts); their ids (directories go after commit)."""
    out = output_ids(conn, run_id)
    for kid in out:
        art = conn.execute("SELECT artifact_id FROM data WHERE knit_id = ?", (kid,)).fetchone()[0]
        conn.execute("DELETE FROM tag WHERE knit_id = ?", (kid,))
        conn.execute("DELETE FROM data WHERE knit_id = ?", (kid,))
        mlmd.delete_artifact(conn, art)
    return out


def delete(conn: sqlite3.Connection, run_id: str) -> None:
    """An upload's run goes entirely (with its execution): nothing can run it again."""
    ex = conn.execute("SELECT execution_id FROM run WHERE run_id = ?", (run_id,)).fetchone()[0]
    conn.execute("DELETE FROM run WHERE run_id = ?", (run_id,))
    mlmd.delete_execution(conn, ex)


def record_status(conn: sqlite3.Connection, run_id: str, execution_id: int, new: str, t: int, note: str | None, *,
                  start: bool = False, finish: bool = False, exit_code: int | None = None,
                  message: str | None = None, clear: bool = False) -> None:
    """Write a new status everywhere it shows: the run, its MLMD execution and output artifacts, the
    run's history. `start` sets started_ms unless set, `finish` sets finished_ms; `clear` empties the
    fields of an earlier attempt (exit code, message, request, start and finish times)."""
    sets = ["status = ?", "updated_ms = ?"]
    params: list[object] = [new, t]
    if clear:
        sets += ["exit_code = NULL", "message = NULL", "request = NULL", "started_ms = NULL", "finished_ms = NULL"]
    if start:
        sets.append("started_ms = coalesce(started_ms, ?)")
        params.append(t)
    if finish:
        sets.append("finished_ms = ?")
        params.append(t)
    if exit_code is not None:
        sets.append("exit_code = ?")
        params.append(exit_code)
    if message is not None:
        sets.append("message = ?")
        params.append(message)
    conn.execute(f"UPDATE run SET {', '.join(sets)} WHERE run_id = ?", (*params, run_id))
    conn.execute("UPDATE Execution SET last_known_state = ?, last_update_time_since_epoch = ? WHERE id = ?",
                 (mlmd.EXECUTION_STATE[new], t, execution_id))
    conn.execute(
        "UPDATE Artifact SET state = ?, last_update_time_since_epoch = ? WHERE id IN (SELECT artifact_id FROM data WHERE run_id = ?)",
        (mlmd.artifact_state(new), t, run_id),
    )
    conn.execute("INSERT INTO run_history(run_id, at_ms, status, note) VALUES (?, ?, ?, ?)", (run_id, t, new, note))
