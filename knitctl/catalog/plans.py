"""Plans in the catalog: their rows, their input and output tags, their mutable fields, run counts.

A plan row holds the validated spec as JSON; `plan_input*` / `plan_output*` hold its tags as rows
so projection can join on them. Rules (parsing, cycles, what a change means) are in `knitctl.plans`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from . import mlmd
from .db import inserted_id, now_ms
from .records import UPLOAD_PLAN
from .where import Where


def ids_with_prefix(conn: sqlite3.Connection, prefix: str, limit: int = 6) -> list[str]:
    """Real plans (not the uploads pseudo-plan) whose id starts with `prefix`."""
    return [r[0] for r in conn.execute(
        "SELECT plan_id FROM plan WHERE plan_id >= ? AND plan_id < ? AND hash IS NOT NULL LIMIT ?",
        (prefix, prefix + "g", limit))]


def row(conn: sqlite3.Connection, plan_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM plan WHERE plan_id = ?", (plan_id,)).fetchone()


def with_hash(conn: sqlite3.Connection, plan_hash: str) -> str | None:
    r = conn.execute("SELECT plan_id FROM plan WHERE hash = ?", (plan_hash,)).fetchone()
    return None if r is None else r[0]


def rows(conn: sqlite3.Connection, *, active: bool | None = None, image: str | None = None) -> list[sqlite3.Row]:
    """Real plans, oldest first; `image` matches the name with or without a tag."""
    w = Where().add("hash IS NOT NULL")
    if active is not None:
        w.add("active = ?", int(active))
    if image:
        w.image("image", image)
    return conn.execute("SELECT * FROM plan" + w.sql() + " ORDER BY created_ms", w.params).fetchall()


def images(conn: sqlite3.Connection) -> dict[str, str | None]:
    return {r[0]: r[1] for r in conn.execute("SELECT plan_id, image FROM plan")}


def is_active(conn: sqlite3.Connection, plan_id: str) -> bool:
    return bool(conn.execute("SELECT active FROM plan WHERE plan_id = ?", (plan_id,)).fetchone()[0])


def run_counts(conn: sqlite3.Connection, plan_id: str | None = None) -> dict[str, dict[str, int]]:
    """plan id -> run status -> how many runs (of one plan, or of all)."""
    out: dict[str, dict[str, int]] = {}
    if plan_id is None:
        cur = conn.execute("SELECT plan_id, status, count(*) FROM run GROUP BY plan_id, status")
    else:
        cur = conn.execute("SELECT plan_id, status, count(*) FROM run WHERE plan_id = ? GROUP BY status", (plan_id,))
    for pid, status, n in cur:
        out.setdefault(pid, {})[status] = n
    return out


def run_assignments(conn: sqlite3.Connection, plan_id: str) -> list[str]:
    """The canonical assignment of each of the plan's runs, oldest first."""
    return [r[0] for r in conn.execute(
        "SELECT assignment FROM run WHERE plan_id = ? ORDER BY created_ms, run_id", (plan_id,))]


def runs_in(conn: sqlite3.Connection, plan_ids: Iterable[str]) -> list[tuple[str, str, str]]:
    """(run_id, plan_id, status) of the plans' runs, oldest first."""
    w = Where().any_of("plan_id", plan_ids)
    return [tuple(r) for r in conn.execute(
        "SELECT run_id, plan_id, status FROM run" + w.sql() + " ORDER BY created_ms", w.params)]


def runs_with_status(conn: sqlite3.Connection, plan_id: str, status: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT run_id FROM run WHERE plan_id = ? AND status = ?", (plan_id, status))]


def tag_rows(conn: sqlite3.Connection) -> tuple[list, list, list, list]:
    """Every plan's (plan_id, path, pin_id, pin_timestamp_ms) inputs, (plan_id, path, key, value) input tags,
    (plan_id, path) outputs (the uploads pseudo-plan's left out) and (plan_id, path, key, value) output tags."""
    inputs = conn.execute("SELECT plan_id, path, pin_id, pin_timestamp_ms FROM plan_input").fetchall()
    in_tags = conn.execute("SELECT plan_id, path, key, value FROM plan_input_tag").fetchall()
    outputs = conn.execute("SELECT plan_id, path FROM plan_output WHERE plan_id != ?", (UPLOAD_PLAN,)).fetchall()
    out_tags = conn.execute("SELECT plan_id, path, key, value FROM plan_output_tag").fetchall()
    return inputs, in_tags, outputs, out_tags


def insert(conn: sqlite3.Connection, plan_id: str, plan_hash: str, image: str, spec: dict, active: bool,
           resources: dict, annotations: list[str], service_account: str | None,
           inputs: list[tuple[str, int, str | None, int | None, list[tuple[str, str]]]],
           outputs: list[tuple[str, bool, list[tuple[str, str]]]]) -> None:
    """A plan with its MLMD context. `inputs`: (path, tag count, pinned id, pinned timestamp, user tags);
    `outputs`: (path, is the log, tags)."""
    t = now_ms()
    ctx = inserted_id(conn.execute(
        "INSERT INTO Context(type_id, name, create_time_since_epoch, last_update_time_since_epoch) VALUES (?, ?, ?, ?)",
        (mlmd.type_id(conn, mlmd.CONTEXT_TYPE, mlmd.PLAN_TYPE), plan_id, t, t),
    ))
    conn.execute(
        "INSERT INTO plan(plan_id, context_id, hash, image, spec, active, resources, annotations, service_account, created_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (plan_id, ctx, plan_hash, image, json.dumps(spec), int(active), json.dumps(resources), json.dumps(annotations),
         service_account, t),
    )
    for path, tag_count, pin_id, pin_ts, tags in inputs:
        conn.execute(
            "INSERT INTO plan_input(plan_id, path, tag_count, pin_id, pin_timestamp_ms) VALUES (?, ?, ?, ?, ?)",
            (plan_id, path, tag_count, pin_id, pin_ts),
        )
        conn.executemany("INSERT INTO plan_input_tag(plan_id, path, key, value) VALUES (?, ?, ?, ?)",
                         [(plan_id, path, k, v) for k, v in tags])
    for path, is_log, tags in outputs:
        conn.execute("INSERT INTO plan_output(plan_id, path, is_log) VALUES (?, ?, ?)", (plan_id, path, int(is_log)))
        conn.executemany("INSERT INTO plan_output_tag(plan_id, path, key, value) VALUES (?, ?, ?, ?)",
                         [(plan_id, path, k, v) for k, v in tags])


def set_active(conn: sqlite3.Connection, plan_id: str, active: bool) -> None:
    conn.execute("UPDATE plan SET active = ? WHERE plan_id = ?", (int(active), plan_id))


def resources(conn: sqlite3.Connection, plan_id: str) -> dict:
    return json.loads(conn.execute("SELECT resources FROM plan WHERE plan_id = ?", (plan_id,)).fetchone()[0])


def set_resources(conn: sqlite3.Connection, plan_id: str, value: dict) -> None:
    conn.execute("UPDATE plan SET resources = ? WHERE plan_id = ?", (json.dumps(value), plan_id))


def annotations(conn: sqlite3.Connection, plan_id: str) -> list[str]:  # type: ignore[no-redef]  # the __future__ name
    return list(json.loads(conn.execute("SELECT annotations FROM plan WHERE plan_id = ?", (plan_id,)).fetchone()[0]))


def set_annotations(conn: sqlite3.Connection, plan_id: str, value: list[str]) -> None:
    conn.execute("UPDATE plan SET annotations = ? WHERE plan_id = ?", (json.dumps(value), plan_id))


def set_service_account(conn: sqlite3.Connection, plan_id: str, value: str | None) -> None:
    conn.execute("UPDATE plan SET service_account = ? WHERE plan_id = ?", (value, plan_id))
