"""The run state machine (docs/ARCHITECTURE.md#run-states), in one place. Pure rules plus one catalog writer."""

from __future__ import annotations

import sqlite3

from .catalog import mlmd, now_ms
from .errors import Conflict

TRANSITIONS: dict[str, frozenset[str]] = {
    "deactivated": frozenset({"waiting", "aborting"}),
    "waiting": frozenset({"deactivated", "ready", "aborting"}),
    "ready": frozenset({"starting", "running", "completing", "aborting"}),
    "starting": frozenset({"running", "completing", "aborting"}),
    "running": frozenset({"completing", "aborting"}),
    "completing": frozenset({"done"}),
    "aborting": frozenset({"failed"}),
    "done": frozenset(),
    "failed": frozenset(),
    "invalidated": frozenset(),
}
STATUSES = tuple(TRANSITIONS)
TERMINAL = frozenset({"done", "failed", "invalidated"})
# Runs that ended with a result to keep or look at (invalidated ones were removed): they may be retried or removed.
FINISHED = frozenset({"done", "failed"})
# Runs that are not finished yet and so may still produce outputs.
LIVE = frozenset(TRANSITIONS) - TERMINAL
# Runs whose container may exist.
ACTIVE = frozenset({"ready", "starting", "running", "completing", "aborting"})
# Runs knitd has claimed whose task is not known to have started (the rest of ACTIVE had one).
PRESTART = frozenset({"ready", "starting"})
# Runs asked to end (a stop: completing, an abort: aborting) that have not ended yet.
ENDING = frozenset({"completing", "aborting"})


def can_abort(status: str) -> bool:
    """Whether a run in `status` may still be aborted (or stopped): it has not ended and no end was asked for."""
    return status in TRANSITIONS and status not in TERMINAL and status not in ENDING


def can_retry(status: str) -> bool:
    """Whether a run in `status` may be retried: only a done or failed one."""
    return status in FINISHED


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def check_move(run_id: str, current: str, new: str) -> None:
    if not can_move(current, new):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none: it is final"
        raise Conflict(f"run {run_id} is {current} and can't become {new} (allowed from {current}: {allowed})")


def move(
    conn: sqlite3.Connection,
    run_id: str,
    new: str,
    *,
    exit_code: int | None = None,
    message: str | None = None,
    note: str | None = None,
    expect: str | None = None,
) -> str:
    """Move a run to `new`, refusing illegal transitions. Returns the old status.

    `expect` makes it a compare-and-set: the move happens only from that status.
    """
    row = conn.execute("SELECT status, execution_id FROM run WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise Conflict(f"run {run_id} does not exist")
    current: str = row[0]
    if expect is not None and current != expect:
        raise Conflict(f"run {run_id} is {current}, not {expect}")
    check_move(run_id, current, new)
    t = now_ms()
    sets: dict[str, object] = {}
    if new == "running":  # the task's clock (durations, `timeout`) starts with the task, not the image pull
        sets["started_ms = coalesce(started_ms, ?)"] = t
    if new in TERMINAL:
        sets["finished_ms = ?"] = t
    if exit_code is not None:
        sets["exit_code = ?"] = exit_code
    if message is not None:
        sets["message = ?"] = message
    _record(conn, run_id, row[1], new, t, sets, note)
    if new == "done":
        # Its outputs are nominatable now: projection reacts in this same transaction (docs/ARCHITECTURE.md#semantics).
        from .projection import project_data

        project_data(conn, [r[0] for r in conn.execute("SELECT knit_id FROM data WHERE run_id = ?", (run_id,))])
    return current


def reset(conn: sqlite3.Connection, run_id: str, *, note: str) -> None:
    """Retry: a finished run goes back to `waiting` (outside the ordinary graph, by design)."""
    execution_id = _finished(conn, run_id, "only done or failed runs can be retried")
    cleared: dict[str, object] = {f"{c} = ?": None for c in ("exit_code", "message", "request", "started_ms", "finished_ms")}
    _record(conn, run_id, execution_id, "waiting", now_ms(), cleared, note)


def invalidate(conn: sqlite3.Connection, run_id: str, *, note: str) -> None:
    """rm: a finished run becomes `invalidated`, kept so its assignment never runs again."""
    execution_id = _finished(conn, run_id, "stop or abort it before removing it")
    _record(conn, run_id, execution_id, "invalidated", now_ms(), {}, note)


def _finished(conn: sqlite3.Connection, run_id: str, otherwise: str) -> int:
    """The execution id of a done or failed run; Conflict for any other."""
    status: str
    execution_id: int
    status, execution_id = conn.execute("SELECT status, execution_id FROM run WHERE run_id = ?", (run_id,)).fetchone()
    if status not in ("done", "failed"):
        raise Conflict(f"run {run_id} is {status}; {otherwise}")
    return execution_id


def _record(conn: sqlite3.Connection, run_id: str, execution_id: int, new: str, t: int,
            sets: dict[str, object], note: str | None) -> None:
    """Write a new status everywhere it shows: the run (plus `sets`), its MLMD execution and
    output artifacts, and the run's history."""
    assignments = ["status = ?", "updated_ms = ?", *sets]
    conn.execute(f"UPDATE run SET {', '.join(assignments)} WHERE run_id = ?", (new, t, *sets.values(), run_id))
    conn.execute("UPDATE execution SET last_known_state = ?, update_time_ms = ? WHERE id = ?",
                 (mlmd.EXECUTION_STATE[new], t, execution_id))
    conn.execute(
        "UPDATE artifact SET state = ?, update_time_ms = ? WHERE id IN (SELECT artifact_id FROM data WHERE run_id = ?)",
        (mlmd.artifact_state(new), t, run_id),
    )
    conn.execute("INSERT INTO run_history(run_id, at_ms, status, note) VALUES (?, ?, ?, ?)", (run_id, t, new, note))
