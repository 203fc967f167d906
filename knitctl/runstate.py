"""The run state machine (DESIGN §4), in one place. Pure rules plus one catalog writer."""

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
# Runs that are not finished yet and so may still produce outputs.
LIVE = frozenset(TRANSITIONS) - TERMINAL
# Runs whose container may exist.
ACTIVE = frozenset({"ready", "starting", "running", "completing", "aborting"})


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
    current = row[0]
    if expect is not None and current != expect:
        raise Conflict(f"run {run_id} is {current}, not {expect}")
    check_move(run_id, current, new)
    t = now_ms()
    sets = ["status = ?", "updated_ms = ?"]
    params: list = [new, t]
    if new == "running":  # the task's clock (durations, `timeout`) starts with the task, not the image pull
        sets.append("started_ms = coalesce(started_ms, ?)")
        params.append(t)
    if new in TERMINAL:
        sets.append("finished_ms = ?")
        params.append(t)
    if exit_code is not None:
        sets.append("exit_code = ?")
        params.append(exit_code)
    if message is not None:
        sets.append("message = ?")
        params.append(message)
    conn.execute(f"UPDATE run SET {', '.join(sets)} WHERE run_id = ?", (*params, run_id))
    conn.execute(
        "UPDATE execution SET last_known_state = ?, update_time_ms = ? WHERE id = ?",
        (mlmd.EXECUTION_STATE[new], t, row[1]),
    )
    conn.execute(
        "UPDATE artifact SET state = ?, update_time_ms = ? WHERE id IN (SELECT artifact_id FROM data WHERE run_id = ?)",
        (mlmd.artifact_state(new), t, run_id),
    )
    conn.execute("INSERT INTO run_history(run_id, at_ms, status, note) VALUES (?, ?, ?, ?)", (run_id, t, new, note))
    if new == "done":
        # Its outputs are nominatable now: projection reacts in this same transaction (DESIGN §4).
        from .projection import project_data

        project_data(conn, [r[0] for r in conn.execute("SELECT knit_id FROM data WHERE run_id = ?", (run_id,))])
    return current


def reset(conn: sqlite3.Connection, run_id: str, *, note: str) -> None:
    """Retry: a finished run goes back to `waiting` (outside the ordinary graph, by design)."""
    row = conn.execute("SELECT status, execution_id FROM run WHERE run_id = ?", (run_id,)).fetchone()
    if row[0] not in ("done", "failed"):
        raise Conflict(f"run {run_id} is {row[0]}; only done or failed runs can be retried")
    t = now_ms()
    conn.execute(
        "UPDATE run SET status = 'waiting', exit_code = NULL, message = NULL, request = NULL, started_ms = NULL,"
        " finished_ms = NULL, updated_ms = ? WHERE run_id = ?",
        (t, run_id),
    )
    conn.execute("UPDATE execution SET last_known_state = ?, update_time_ms = ? WHERE id = ?", (mlmd.E_NEW, t, row[1]))
    conn.execute("INSERT INTO run_history(run_id, at_ms, status, note) VALUES (?, ?, 'waiting', ?)", (run_id, t, note))


def invalidate(conn: sqlite3.Connection, run_id: str, *, note: str) -> None:
    """rm: a finished run becomes `invalidated`, kept so its assignment never runs again."""
    row = conn.execute("SELECT status, execution_id FROM run WHERE run_id = ?", (run_id,)).fetchone()
    if row[0] not in ("done", "failed"):
        raise Conflict(f"run {run_id} is {row[0]}; stop or abort it before removing it")
    t = now_ms()
    conn.execute("UPDATE run SET status = 'invalidated', updated_ms = ? WHERE run_id = ?", (t, run_id))
    conn.execute("UPDATE execution SET last_known_state = ?, update_time_ms = ? WHERE id = ?", (mlmd.E_CANCELED, t, row[1]))
    conn.execute("INSERT INTO run_history(run_id, at_ms, status, note) VALUES (?, ?, 'invalidated', ?)", (run_id, t, note))
