"""Runs at the catalog level: find, show, stop/abort requests, retry, rm (docs/ARCHITECTURE.md#semantics).

knitd acts on what these write: a run moved to `aborting` or `completing`
while its container lives is the daemon's cue to end it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import ids, runstate, times
from . import tags as tagrules
from .catalog import records
from .errors import Conflict, UsageError
from .projection import PlanRuns
from .session import Session


@dataclass
class Run:
    run_id: str
    plan_id: str
    image: str | None
    status: str
    inputs: list[dict]            # {path, knit_id}
    outputs: list[dict]           # {path, knit_id}
    context: str | None
    exit_code: int | None
    message: str | None
    created_ms: int
    updated_ms: int
    started_ms: int | None
    finished_ms: int | None
    history: list[dict] = field(default_factory=list)

    @property
    def duration_ms(self) -> int | None:
        return duration_ms(self.started_ms, self.finished_ms, self.updated_ms)

    def to_dict(self) -> dict:
        fmt = lambda ms: tagrules.format_time(ms) if ms is not None else None  # noqa: E731
        d = {
            "run_id": self.run_id,
            "plan_id": self.plan_id,
            "image": self.image,
            "status": self.status,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "context": self.context,
            "exit_code": self.exit_code,
            "message": self.message,
            "created": fmt(self.created_ms),
            "updated": fmt(self.updated_ms),
            "started": fmt(self.started_ms),
            "finished": fmt(self.finished_ms),
        }
        if self.history:
            d["history"] = self.history
        return d


_RUN_SQL = "SELECT r.*, p.image FROM run r JOIN plan p ON p.plan_id = r.plan_id"


def resolve_id(conn: sqlite3.Connection, text: str) -> str:
    prefix = ids.check_prefix(text, what="run")
    rows = conn.execute(
        "SELECT run_id FROM run WHERE run_id >= ? AND run_id < ? LIMIT 6", (prefix, prefix + "g")
    ).fetchall()
    return ids.pick_one(prefix, [r[0] for r in rows], what="run")


def _load(conn: sqlite3.Connection, rows) -> list[Run]:
    if not rows:
        return []
    run_ids = [r["run_id"] for r in rows]
    ins: dict[str, list[dict]] = {r: [] for r in run_ids}
    outs: dict[str, list[dict]] = {r: [] for r in run_ids}
    for i in range(0, len(run_ids), 500):
        chunk = run_ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for rid, path, kid in conn.execute(
            f"""SELECT r.run_id, ep.step_key, d.knit_id FROM run r
                JOIN event e ON e.execution_id = r.execution_id AND e.type = 3
                JOIN event_path ep ON ep.event_id = e.id AND ep.position = 0
                JOIN data d ON d.artifact_id = e.artifact_id
                WHERE r.run_id IN ({marks}) ORDER BY ep.step_key""",
            chunk,
        ):
            ins[rid].append({"path": path, "knit_id": kid})
        for rid, path, kid in conn.execute(
            f"SELECT run_id, output_path, knit_id FROM data WHERE run_id IN ({marks}) ORDER BY output_path = 'log', output_path",
            chunk,
        ):
            outs[rid].append({"path": path, "knit_id": kid})
    return [
        Run(
            run_id=r["run_id"], plan_id=r["plan_id"], image=r["image"], status=r["status"],
            inputs=ins[r["run_id"]], outputs=outs[r["run_id"]], context=r["context"],
            exit_code=r["exit_code"], message=r["message"], created_ms=r["created_ms"],
            updated_ms=r["updated_ms"], started_ms=r["started_ms"], finished_ms=r["finished_ms"],
        )
        for r in rows
    ]


def get(conn: sqlite3.Connection, text: str, *, history: bool = False) -> Run:
    run_id = resolve_id(conn, text)
    run = _load(conn, conn.execute(_RUN_SQL + " WHERE r.run_id = ?", (run_id,)).fetchall())[0]
    if history:
        run.history = [
            {"status": s, "at": tagrules.format_time(t), **({"note": n} if n else {})}
            for s, t, n in conn.execute(
                "SELECT status, at_ms, note FROM run_history WHERE run_id = ? ORDER BY at_ms, rowid", (run_id,)
            )
        ]
    return run


def find(
    session: Session,
    *,
    plans: Iterable[str] = (),
    inputs: Iterable[str] = (),
    outputs: Iterable[str] = (),
    statuses: Iterable[str] = (),
    since: str | None = None,
    duration: str | None = None,
    include_uploads: bool = False,
    limit: int | None = None,
    contexts: Iterable[str] = (),
) -> list[Run]:
    """Runs by plan, input datum, output datum, status and creation time; newest last."""
    with session.catalog.read() as conn:
        sql, params = _find_sql(session, conn, _RUN_SQL, plans, inputs, outputs, statuses, since, duration,
                                include_uploads, limit, contexts)
        return _load(conn, conn.execute(sql, params).fetchall())


def _find_sql(session: Session, conn: sqlite3.Connection, select: str, plans: Iterable[str], inputs: Iterable[str], outputs: Iterable[str],
              statuses: Iterable[str], since: str | None, duration: str | None, include_uploads: bool,
              limit: int | None, contexts: Iterable[str]) -> tuple[str, list]:
    """`select` (over run r) with find's filters and order; resolves id prefixes, so call it inside a read."""
    from . import data as data_api
    from .plans import registry

    where: list[str] = []
    params: list[object] = []
    statuses = list(statuses)
    for s in statuses:
        if s not in runstate.STATUSES:
            raise UsageError(f"--status: {s!r} is not a run status; one of {', '.join(runstate.STATUSES)}")
    plan_ids = [registry.resolve_id(conn, p) for p in plans]
    in_ids = [data_api.resolve_id(session, d) for d in inputs]
    out_ids = [data_api.resolve_id(session, d) for d in outputs]
    if plan_ids:
        where.append(f"r.plan_id IN ({','.join('?' * len(plan_ids))})")
        params += plan_ids
    elif not include_uploads and not out_ids:
        where.append("r.plan_id != ?")
        params.append(records.UPLOAD_PLAN)
    for kid in in_ids:
        where.append(
            "r.execution_id IN (SELECT e.execution_id FROM event e JOIN data d ON d.artifact_id = e.artifact_id"
            " WHERE d.knit_id = ? AND e.type = 3)"
        )
        params.append(kid)
    for kid in out_ids:
        where.append("r.run_id = (SELECT run_id FROM data WHERE knit_id = ?)")
        params.append(kid)
    contexts = list(contexts)
    if contexts:
        where.append(f"r.context IN ({','.join('?' * len(contexts))})")
        params += contexts
    if statuses:
        where.append(f"r.status IN ({','.join('?' * len(statuses))})")
        params += statuses
    else:
        where.append("r.status != 'invalidated'")
    where_window, window_params = times.window_sql("r.created_ms", since, duration)
    where += where_window
    params += window_params
    sql = select + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY r.created_ms, r.run_id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return sql, params


# A listing's rows in one query, inputs and outputs aggregated in SQL (ordered subqueries feed the aggregates,
# in _load's order): as the text of the inputs cell, or as JSON arrays of {path, knit_id} for -o json/yaml.
_INPUTS = """(SELECT {agg} FROM (SELECT ep.step_key AS path, d.knit_id AS knit_id FROM event e
    JOIN event_path ep ON ep.event_id = e.id AND ep.position = 0 JOIN data d ON d.artifact_id = e.artifact_id
    WHERE e.execution_id = r.execution_id AND e.type = 3 ORDER BY ep.step_key))"""
_OUTPUTS = """(SELECT {agg} FROM (SELECT output_path AS path, knit_id FROM data WHERE run_id = r.run_id
    ORDER BY output_path = 'log', output_path))"""
_AS_JSON = "json_group_array(json_object('path', path, 'knit_id', knit_id))"
LISTING_TEXT = ("SELECT r.run_id, r.plan_id, r.status, " + _INPUTS.format(agg="group_concat(path || '=' || knit_id, ' ')")
                + ", r.context, r.created_ms, r.updated_ms, r.started_ms, r.finished_ms FROM run r")
LISTING_JSON = ("SELECT r.run_id, r.plan_id, p.image, r.status, " + _INPUTS.format(agg=_AS_JSON) + ", "
                + _OUTPUTS.format(agg=_AS_JSON) + ", r.context, r.exit_code, r.message, r.created_ms, r.updated_ms,"
                " r.started_ms, r.finished_ms FROM run r JOIN plan p ON p.plan_id = r.plan_id")


def listing(session: Session, select: str = LISTING_TEXT, **filters) -> list[tuple]:
    """find's runs as plain tuples of `select`'s columns (LISTING_TEXT or LISTING_JSON); find's filters."""
    from .data import plain_rows

    args = {"plans": (), "inputs": (), "outputs": (), "statuses": (), "since": None, "duration": None,
            "include_uploads": False, "limit": None, "contexts": (), **filters}
    with session.catalog.read() as conn:
        sql, params = _find_sql(session, conn, select, **args)
        return plain_rows(conn, sql, params)


def duration_ms(started_ms: int | None, finished_ms: int | None, updated_ms: int) -> int | None:
    if started_ms is None:
        return None
    return max(0, (finished_ms or updated_ms) - started_ms)


def show(session: Session, text: str) -> Run:
    with session.catalog.read() as conn:
        return get(conn, text, history=True)


def stop(session: Session, text: str, *, fail: bool = False) -> Run:
    """Stop a run (its outputs kept as success) or, with fail, abort it.

    A run with no container yet can't complete, so stopping it aborts it.
    The daemon ends containers of runs moved to completing/aborting.
    """
    with session.catalog.write() as conn:
        run_id = resolve_id(conn, text)
        status = conn.execute("SELECT status FROM run WHERE run_id = ?", (run_id,)).fetchone()[0]
        if status in runstate.TERMINAL:
            raise Conflict(f"run {run_id} has already ended ({status}); nothing to stop")
        if status in ("completing", "aborting"):
            raise Conflict(f"run {run_id} is already {status}")
        if status in ("deactivated", "waiting"):
            why = "aborted before it started" if fail else "stopped before it started, so it has no outputs to keep"
            runstate.move(conn, run_id, "aborting", message=why, note="abort requested" if fail else "stop requested")
            runstate.move(conn, run_id, "failed", message=why)
        elif fail:
            runstate.move(conn, run_id, "aborting", message="aborted by the user", note="abort requested")
            conn.execute("UPDATE run SET request = 'abort' WHERE run_id = ?", (run_id,))
        else:
            runstate.move(conn, run_id, "completing", message="stopped by the user", note="stop requested")
            conn.execute("UPDATE run SET request = 'stop' WHERE run_id = ?", (run_id,))
        return get(conn, run_id)


def live_downstream(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """Runs (not invalidated) that take one of this run's outputs as input."""
    return [
        r[0]
        for r in conn.execute(
            """SELECT DISTINCT r2.run_id FROM data d
               JOIN event e ON e.artifact_id = d.artifact_id AND e.type = 3
               JOIN run r2 ON r2.execution_id = e.execution_id
               WHERE d.run_id = ? AND r2.status != 'invalidated' ORDER BY r2.run_id""",
            (run_id,),
        )
    ]


def _discard_outputs(session: Session, conn: sqlite3.Connection, run_id: str) -> list[str]:
    """Drop a run's output data from the catalog; returns their ids (directories go after commit)."""
    out = [r[0] for r in conn.execute("SELECT knit_id FROM data WHERE run_id = ?", (run_id,))]
    for kid in out:
        art = conn.execute("SELECT artifact_id FROM data WHERE knit_id = ?", (kid,)).fetchone()[0]
        conn.execute("DELETE FROM tag WHERE knit_id = ?", (kid,))
        conn.execute("DELETE FROM data WHERE knit_id = ?", (kid,))
        conn.execute("DELETE FROM artifact WHERE id = ?", (art,))
    return out


def retry(session: Session, text: str) -> Run:
    """Discard a finished run's outputs and queue it again with fresh output ids."""
    with session.catalog.write() as conn:
        run_id = resolve_id(conn, text)
        row = conn.execute("SELECT plan_id, status FROM run WHERE run_id = ?", (run_id,)).fetchone()
        if row[0] == records.UPLOAD_PLAN:
            raise Conflict(f"run {run_id} is an upload; there is nothing to run again")
        if row[1] not in ("done", "failed"):
            raise Conflict(f"run {run_id} is {row[1]}; only done or failed runs can be retried")
        users = live_downstream(conn, run_id)
        if users:
            raise Conflict(
                f"run {run_id} can't be retried: its outputs feed run(s) {', '.join(users[:5])}; "
                "remove those first (`knitctl run rm`)"
            )
        gone = _discard_outputs(session, conn, run_id)
        runstate.reset(conn, run_id, note="retry requested")
        PlanRuns(conn, row[0]).add_outputs(conn, run_id)
        if not conn.execute("SELECT active FROM plan WHERE plan_id = ?", (row[0],)).fetchone()[0]:
            runstate.move(conn, run_id, "deactivated", note="plan is inactive")
        run = get(conn, run_id)
    for kid in gone:
        session.store.discard_path(session.store.path_of(kid))
    return run


def rm(session: Session, text: str) -> str:
    """Remove a finished run's outputs; a run with inputs stays as `invalidated`."""
    with session.catalog.write() as conn:
        run_id = resolve_id(conn, text)
        row = conn.execute("SELECT plan_id, status FROM run WHERE run_id = ?", (run_id,)).fetchone()
        if row[1] == "invalidated":
            raise Conflict(f"run {run_id} is already removed (invalidated)")
        if row[1] not in ("done", "failed"):
            raise Conflict(f"run {run_id} is {row[1]}; stop or abort it before removing it")
        users = live_downstream(conn, run_id)
        if users:
            raise Conflict(
                f"run {run_id} can't be removed: its outputs feed run(s) {', '.join(users[:5])}; remove those first"
            )
        gone = _discard_outputs(session, conn, run_id)
        if row[0] == records.UPLOAD_PLAN:
            ex = conn.execute("SELECT execution_id FROM run WHERE run_id = ?", (run_id,)).fetchone()[0]
            conn.execute("DELETE FROM run WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM execution WHERE id = ?", (ex,))
            result = "deleted"
        else:
            runstate.invalidate(conn, run_id, note="removed by the user")
            result = "invalidated"
    for kid in gone:
        session.store.discard_path(session.store.path_of(kid))
    return result


__all__ = ["Run", "find", "show", "stop", "retry", "rm", "get", "resolve_id", "live_downstream"]


def log_path(session: Session, text: str):
    """The committed log datum's file when there is one, else the live log."""
    with session.catalog.read() as conn:
        run_id = resolve_id(conn, text)
        row = conn.execute("SELECT knit_id FROM data WHERE run_id = ? AND output_path = 'log' AND digest IS NOT NULL", (run_id,)).fetchone()
    if row:
        p = session.store.path_of(row[0]) / "log"
        if p.exists():
            return p
    return session.home.run_log(run_id)


def is_live(session: Session, run_id: str) -> bool:
    return session.catalog.one("SELECT status FROM run WHERE run_id = ?", (run_id,))[0] not in runstate.TERMINAL


def wait(session: Session, text: str, timeout: float | None) -> str | None:
    """Block until the run ends; its final status, or None on timeout."""
    import time

    with session.catalog.read() as conn:
        run_id = resolve_id(conn, text)
    deadline = None if timeout is None else time.monotonic() + timeout
    last = -1
    while True:
        version = session.catalog.data_version()
        if version != last:
            last = version
            status = session.catalog.one("SELECT status FROM run WHERE run_id = ?", (run_id,))[0]
            if status in runstate.TERMINAL:
                return status
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
