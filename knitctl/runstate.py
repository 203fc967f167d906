"""The run state machine (docs/ARCHITECTURE.md#run-states), in one place. Pure rules plus one catalog writer."""

from __future__ import annotations

import sqlite3

from .catalog import hooks as hook_rows
from .catalog import marks, now_ms, runs
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


def data_status(run_status: str) -> str:
    """What a datum is, from its producing run's status: done, failed (also when removed) or processing."""
    if run_status == "done":
        return "done"
    if run_status in ("failed", "invalidated"):
        return "failed"
    return "processing"


# a datum's status (what `knit#transient` says) -> the statuses of runs whose outputs have it
DATA_STATUS_RUNS: dict[str, tuple[str, ...]] = {
    d: tuple(sorted(s for s in STATUSES if data_status(s) == d)) for d in ("done", "failed", "processing")
}


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
    row = runs.status_and_execution(conn, run_id)
    if row is None:
        raise Conflict(f"run {run_id} does not exist")
    current, execution_id = row
    if expect is not None and current != expect:
        raise Conflict(f"run {run_id} is {current}, not {expect}")
    check_move(run_id, current, new)
    # the task's clock (durations, `timeout`) starts with the task, not the image pull
    t = now_ms()
    runs.record_status(conn, run_id, execution_id, new, t, note, start=new == "running",
                       finish=new in TERMINAL, exit_code=exit_code, message=message)
    hook_rows.record_change(conn, run_id, current, new, t)  # after hooks hear of it from knitd, once committed
    if new in FINISHED:
        marks.inherit(conn, run_id)  # outputs made from data marked bad are marked too (before projection sees them)
    if new == "done":
        # Its outputs are nominatable now: projection reacts in this same transaction (docs/ARCHITECTURE.md#semantics).
        from .projection import project_data

        project_data(conn, runs.output_ids(conn, run_id))
    return current


def reset(conn: sqlite3.Connection, run_id: str, *, note: str) -> None:
    """Retry: a finished run goes back to `waiting` (outside the ordinary graph, by design)."""
    current, execution_id = _finished(conn, run_id, "only done or failed runs can be retried")
    t = now_ms()
    runs.record_status(conn, run_id, execution_id, "waiting", t, note, clear=True)
    hook_rows.record_change(conn, run_id, current, "waiting", t)


def invalidate(conn: sqlite3.Connection, run_id: str, *, note: str) -> None:
    """rm: a finished run becomes `invalidated`, kept so its assignment never runs again."""
    current, execution_id = _finished(conn, run_id, "stop or abort it before removing it")
    t = now_ms()
    runs.record_status(conn, run_id, execution_id, "invalidated", t, note)
    hook_rows.record_change(conn, run_id, current, "invalidated", t)


def _finished(conn: sqlite3.Connection, run_id: str, otherwise: str) -> tuple[str, int]:
    """The status and execution id of a done or failed run; Conflict for any other."""
    row = runs.status_and_execution(conn, run_id)
    if row is None:
        raise Conflict(f"run {run_id} does not exist")
    if row[0] not in FINISHED:
        raise Conflict(f"run {run_id} is {row[0]}; {otherwise}")
    return row[0], row[1]
