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
        "SELECT id FROM Type WHERE type_kind = ? AND name = ? AND version IS NULL", (kind, name)
    ).fetchone()
    if row:
        return row[0]
    return inserted_id(conn.execute("INSERT INTO Type(type_kind, name) VALUES (?, ?)", (kind, name)))


# -- what other catalog modules change on the MLMD side of a knit object ----------------------------
# (one place for it: these are the only writes to the MLMD-shaped tables outside records.py and runs.py)


def set_artifact_state(conn: sqlite3.Connection, knit_ids: list[str], state: int, at_ms: int) -> None:
    """The MLMD state (A_LIVE, A_DELETED, ...) of the data's artifacts."""
    conn.executemany(
        "UPDATE Artifact SET state = ?, last_update_time_since_epoch = ? WHERE id = (SELECT artifact_id FROM data WHERE knit_id = ?)",
        [(state, at_ms, k) for k in knit_ids],
    )


def set_execution_state(conn: sqlite3.Connection, run_id: str, state: int, at_ms: int) -> None:
    """The MLMD last_known_state (E_COMPLETE, E_CACHED, ...) of the run's execution."""
    conn.execute(
        "UPDATE Execution SET last_known_state = ?, last_update_time_since_epoch = ? WHERE id = (SELECT execution_id FROM run WHERE run_id = ?)",
        (state, at_ms, run_id),
    )


def _property_row(value) -> tuple:
    """(int_value, double_value, string_value, bool_value) of a Python value."""
    if isinstance(value, bool):
        return None, None, None, int(value)
    if isinstance(value, int):
        return value, None, None, None
    if isinstance(value, float):
        return None, value, None, None
    return None, None, str(value), None


def set_custom_properties(conn: sqlite3.Connection, of: str, knit_id: str, values: dict) -> None:
    """Custom properties (str, int, float or bool values; None removes one) on the MLMD node of a knit
    datum (`of="data"`, `knit_id` a data id) or run (`of="run"`, a run id)."""
    if of == "data":
        table, fk, node = "ArtifactProperty", "artifact_id", "SELECT artifact_id FROM data WHERE knit_id = ?"
    elif of == "run":
        table, fk, node = "ExecutionProperty", "execution_id", "SELECT execution_id FROM run WHERE run_id = ?"
    else:
        raise ValueError(f"custom properties are set on 'data' or 'run', not {of!r}")
    for name, value in values.items():
        conn.execute(f"DELETE FROM {table} WHERE {fk} = ({node}) AND name = ? AND is_custom_property = 1", (knit_id, name))
        if value is not None:
            conn.execute(
                f"INSERT INTO {table}({fk}, name, is_custom_property, int_value, double_value, string_value, bool_value)"
                f" SELECT ({node}), ?, 1, ?, ?, ?, ?",
                (knit_id, name, *_property_row(value)),
            )


def custom_properties(conn: sqlite3.Connection, of: str, knit_id: str) -> dict:
    """The custom properties set by set_custom_properties, as Python values."""
    if of == "data":
        table, fk, node = "ArtifactProperty", "artifact_id", "SELECT artifact_id FROM data WHERE knit_id = ?"
    else:
        table, fk, node = "ExecutionProperty", "execution_id", "SELECT execution_id FROM run WHERE run_id = ?"
    out = {}
    for name, i, d, s, b in conn.execute(
        f"SELECT name, int_value, double_value, string_value, bool_value FROM {table}"
        f" WHERE {fk} = ({node}) AND is_custom_property = 1", (knit_id,)):
        out[name] = bool(b) if b is not None else i if i is not None else d if d is not None else s
    return out


def show_tags(conn: sqlite3.Connection, artifact_id: int, keys: set[str]) -> None:
    """Bring the artifact's custom properties for these tag keys in line with the datum's tags, so
    ml-metadata users see knit's tags: one string property per key, several values one per line (sorted)."""
    for key in keys:
        value = conn.execute(
            "SELECT group_concat(value, char(10)) FROM (SELECT t.value FROM tag t JOIN data d ON d.knit_id = t.knit_id"
            " WHERE d.artifact_id = ? AND t.key = ? ORDER BY t.value)", (artifact_id, key)).fetchone()[0]
        if value is None:
            conn.execute("DELETE FROM ArtifactProperty WHERE artifact_id = ? AND name = ? AND is_custom_property = 1",
                         (artifact_id, key))
        else:
            conn.execute(
                "INSERT INTO ArtifactProperty(artifact_id, name, is_custom_property, string_value) VALUES (?, ?, 1, ?)"
                " ON CONFLICT(artifact_id, name, is_custom_property) DO UPDATE SET string_value = excluded.string_value,"
                " int_value = NULL, double_value = NULL, byte_value = NULL, proto_value = NULL, bool_value = NULL",
                (artifact_id, key, value))


def delete_artifact(conn: sqlite3.Connection, artifact_id: int) -> None:
    """An artifact and what hangs off it (ml-metadata's tables declare no cascades)."""
    conn.execute("DELETE FROM EventPath WHERE event_id IN (SELECT id FROM Event WHERE artifact_id = ?)", (artifact_id,))
    for table in ("Event", "Attribution", "ArtifactProperty"):
        conn.execute(f"DELETE FROM {table} WHERE artifact_id = ?", (artifact_id,))
    conn.execute("DELETE FROM Artifact WHERE id = ?", (artifact_id,))


def delete_execution(conn: sqlite3.Connection, execution_id: int) -> None:
    """An execution and what hangs off it."""
    conn.execute("DELETE FROM EventPath WHERE event_id IN (SELECT id FROM Event WHERE execution_id = ?)", (execution_id,))
    for table in ("Event", "Association", "ExecutionProperty"):
        conn.execute(f"DELETE FROM {table} WHERE execution_id = ?", (execution_id,))
    conn.execute("DELETE FROM Execution WHERE id = ?", (execution_id,))
