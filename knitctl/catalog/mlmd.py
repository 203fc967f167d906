"""ML Metadata's enums and knit's own MLMD types, as rows in the catalog."""

from __future__ import annotations

import sqlite3

from .db import inserted_id

# TypeKind
EXECUTION_TYPE, ARTIFACT_TYPE, CONTEXT_TYPE = 0, 1, 2

# Artifact.State
A_UNKNOWN, A_PENDING, A_LIVE, A_MARKED_FOR_DELETION, A_DELETED, A_ABANDONED, A_REFERENCE = range(7)

# Execution.State
E_UNKNOWN, E_NEW, E_RUNNING, E_COMPLETE, E_FAILED, E_CACHED, E_CANCELED = range(7)

# Event.Type
(EV_UNKNOWN, EV_DECLARED_OUTPUT, EV_DECLARED_INPUT, EV_INPUT, EV_OUTPUT,
 EV_INTERNAL_INPUT, EV_INTERNAL_OUTPUT, EV_PENDING_OUTPUT) = range(8)

DATA_TYPE = "knit.Data"
PLAN_TYPE = "knit.Plan"
RUN_TYPE = "knit.Run"

# knit run status -> MLMD execution state
EXECUTION_STATE = {
    "deactivated": E_NEW, "waiting": E_NEW, "ready": E_NEW,
    "starting": E_RUNNING, "running": E_RUNNING, "completing": E_RUNNING, "aborting": E_RUNNING,
    "done": E_COMPLETE, "failed": E_FAILED, "invalidated": E_CANCELED,
}

# knit run status -> MLMD state of the run's output artifacts
ARTIFACT_STATE = {"done": A_LIVE, "failed": A_ABANDONED, "invalidated": A_ABANDONED}


def artifact_state(run_status: str) -> int:
    return ARTIFACT_STATE.get(run_status, A_PENDING)


def type_id(conn: sqlite3.Connection, kind: int, name: str) -> int:
    """The id of a knit-owned type, created on first use."""
    row = conn.execute(
        "SELECT id FROM type WHERE kind = ? AND name = ? AND version IS NULL", (kind, name)
    ).fetchone()
    if row:
        return row[0]
    return inserted_id(conn.execute("INSERT INTO type(kind, name) VALUES (?, ?)", (kind, name)))
