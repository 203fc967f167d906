"""Writing knit's objects: each a knit row plus its ML Metadata row, in the caller's transaction."""

from __future__ import annotations

import json
import sqlite3

from .. import ids
from ..tags import Tag
from . import mlmd
from .db import inserted_id, now_ms

UPLOAD_PLAN = "knit#uploaded"
UPLOAD_PATH = "/upload"
LOG_PATH = "log"


def ensure_upload_plan(conn: sqlite3.Connection) -> None:
    if conn.execute("SELECT 1 FROM plan WHERE plan_id = ?", (UPLOAD_PLAN,)).fetchone():
        return
    t = now_ms()
    ctx_type = mlmd.type_id(conn, mlmd.CONTEXT_TYPE, mlmd.PLAN_TYPE)
    ctx = conn.execute(
        "INSERT INTO Context(type_id, name, create_time_since_epoch, last_update_time_since_epoch) VALUES (?, ?, ?, ?)",
        (ctx_type, UPLOAD_PLAN, t, t),
    ).lastrowid
    spec = {"pseudo": True, "outputs": [{"path": UPLOAD_PATH, "tags": []}]}
    conn.execute(
        "INSERT INTO plan(plan_id, context_id, hash, image, spec, active, created_ms) VALUES (?, ?, NULL, NULL, ?, 1, ?)",
        (UPLOAD_PLAN, ctx, json.dumps(spec), t),
    )
    conn.execute("INSERT INTO plan_output(plan_id, path) VALUES (?, ?)", (UPLOAD_PLAN, UPLOAD_PATH))


def insert_run(
    conn: sqlite3.Connection,
    plan_id: str,
    status: str,
    *,
    assignment: dict[str, str] | None = None,
    context: str | None = None,
    at_ms: int | None = None,
    plan_context_id: int | None = None,
    exec_type: int | None = None,
) -> str:
    """A run of `plan_id` over `assignment` (mount path -> knit id); INPUT events included.

    `plan_context_id` and `exec_type` spare the lookups when many runs of one plan are made.
    """
    from ..runstate import FINISHED  # here: runstate writes through this package

    t = at_ms if at_ms is not None else now_ms()
    run_id = ids.new_id()
    if plan_context_id is None:
        plan_context_id = conn.execute("SELECT context_id FROM plan WHERE plan_id = ?", (plan_id,)).fetchone()[0]
    if exec_type is None:
        exec_type = mlmd.type_id(conn, mlmd.EXECUTION_TYPE, mlmd.RUN_TYPE)
    execution_id = inserted_id(conn.execute(
        "INSERT INTO Execution(type_id, last_known_state, name, create_time_since_epoch, last_update_time_since_epoch) VALUES (?, ?, ?, ?, ?)",
        (exec_type, mlmd.EXECUTION_STATE[status], run_id, t, t),
    ))
    conn.execute("INSERT INTO Association(context_id, execution_id) VALUES (?, ?)", (plan_context_id, execution_id))
    key = canonical_assignment(assignment) if assignment else None
    conn.execute(
        "INSERT INTO run(run_id, execution_id, plan_id, status, assignment, context, created_ms, updated_ms, finished_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, execution_id, plan_id, status, key, context, t, t, t if status in FINISHED else None),
    )
    conn.execute("INSERT INTO run_history(run_id, at_ms, status) VALUES (?, ?, ?)", (run_id, t, status))
    for path, knit_id in (assignment or {}).items():
        art = conn.execute("SELECT artifact_id FROM data WHERE knit_id = ?", (knit_id,)).fetchone()[0]
        _event(conn, art, execution_id, mlmd.EV_INPUT, path, t)
    return run_id


def canonical_assignment(assignment: dict[str, str]) -> str:
    return "\n".join(f"{p}={assignment[p]}" for p in sorted(assignment))


def insert_datum(
    conn: sqlite3.Connection,
    run_id: str,
    output_path: str,
    tags: list[Tag],
    *,
    knit_id: str | None = None,
    digest: str | None = None,
    size: int | None = None,
    file_count: int | None = None,
    source: str | None = None,
    uri: str | None = None,
    at_ms: int | None = None,
    art_type: int | None = None,
) -> str:
    """An output datum of `run_id` with its tags and OUTPUT event."""
    t = at_ms if at_ms is not None else now_ms()
    knit_id = knit_id or ids.new_id()
    run = conn.execute("SELECT execution_id, status FROM run WHERE run_id = ?", (run_id,)).fetchone()
    if art_type is None:
        art_type = mlmd.type_id(conn, mlmd.ARTIFACT_TYPE, mlmd.DATA_TYPE)
    artifact_id = inserted_id(conn.execute(
        "INSERT INTO Artifact(type_id, uri, state, name, create_time_since_epoch, last_update_time_since_epoch) VALUES (?, ?, ?, ?, ?, ?)",
        (art_type, uri, mlmd.artifact_state(run[1]), knit_id, t, t),
    ))
    conn.execute(
        "INSERT INTO data(knit_id, artifact_id, run_id, output_path, digest, size, file_count, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (knit_id, artifact_id, run_id, output_path, digest, size, file_count, source),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO tag(knit_id, key, value) VALUES (?, ?, ?)",
        [(knit_id, tg.key, tg.value) for tg in tags],
    )
    _event(conn, artifact_id, run[0], mlmd.EV_OUTPUT, output_path, t)
    if tags:
        mlmd.show_tags(conn, artifact_id, {tg.key for tg in tags})
    return knit_id


def _event(conn: sqlite3.Connection, artifact_id: int, execution_id: int, kind: int, path: str, t: int) -> None:
    ev = conn.execute(
        "INSERT INTO Event(artifact_id, execution_id, type, milliseconds_since_epoch) VALUES (?, ?, ?, ?)",
        (artifact_id, execution_id, kind, t),
    ).lastrowid
    conn.execute(
        "INSERT INTO EventPath(event_id, is_index_step, step_key) VALUES (?, 0, ?)", (ev, path)
    )


def set_tags(conn: sqlite3.Connection, knit_id: str, remove: list[Tag], remove_keys: list[str], add: list[Tag]) -> bool:
    """Removals first, then additions. Returns whether anything changed."""
    changed = 0
    for tg in remove:
        changed += conn.execute(
            "DELETE FROM tag WHERE knit_id = ? AND key = ? AND value = ?", (knit_id, tg.key, tg.value)
        ).rowcount
    for key in remove_keys:
        changed += conn.execute("DELETE FROM tag WHERE knit_id = ? AND key = ?", (knit_id, key)).rowcount
    for tg in add:
        changed += conn.execute(
            "INSERT OR IGNORE INTO tag(knit_id, key, value) VALUES (?, ?, ?)", (knit_id, tg.key, tg.value)
        ).rowcount
    if changed:
        artifact_id = conn.execute("SELECT artifact_id FROM data WHERE knit_id = ?", (knit_id,)).fetchone()[0]
        conn.execute("UPDATE Artifact SET last_update_time_since_epoch = ? WHERE id = ?", (now_ms(), artifact_id))
        mlmd.show_tags(conn, artifact_id, {tg.key for tg in remove + add} | set(remove_keys))
    return bool(changed)
