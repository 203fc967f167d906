"""Reuse (a plan's `cache`): the plan's switch, runs keyed by their inputs' content, and which run a cached
run's outputs came from. The rules are in `knitctl.reuse`; these only read and write rows (knit's own
tables: plan.cache, run_cache, run, data), inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from .. import runstate

CHUNK = 500
_ACTIVE = ", ".join(f"'{s}'" for s in sorted(runstate.ACTIVE))


# -- the plan's switch --------------------------------------------------------------------------


def plan_cache(conn: sqlite3.Connection, plan_id: str) -> bool:
    row = conn.execute("SELECT cache FROM plan WHERE plan_id = ?", (plan_id,)).fetchone()
    return bool(row and row[0])


def set_plan_cache(conn: sqlite3.Connection, plan_id: str, on: bool) -> None:
    conn.execute("UPDATE plan SET cache = ? WHERE plan_id = ?", (int(on), plan_id))


# -- what the scheduler asks ---------------------------------------------------------------------


def waiting_runs(conn: sqlite3.Connection, limit: int) -> list[tuple[str, str, str | None]]:
    """(run id, plan id, assignment) of waiting runs of plans with cache on, oldest first."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT r.run_id, r.plan_id, r.assignment FROM run r JOIN plan p ON p.plan_id = r.plan_id"
        " WHERE r.status = 'waiting' AND p.cache = 1 ORDER BY r.created_ms, r.run_id LIMIT ?", (limit,))]


def any_waiting(conn: sqlite3.Connection) -> bool:
    return conn.execute(
        "SELECT 1 FROM run r JOIN plan p ON p.plan_id = r.plan_id WHERE r.status = 'waiting' AND p.cache = 1 LIMIT 1"
    ).fetchone() is not None


def run_facts(conn: sqlite3.Connection, run_id: str) -> tuple[str, str, str | None, bool] | None:
    """(plan id, status, assignment, the plan's cache switch) of a run; None when there is no such run."""
    row = conn.execute(
        "SELECT r.plan_id, r.status, r.assignment, p.cache FROM run r JOIN plan p ON p.plan_id = r.plan_id"
        " WHERE r.run_id = ?", (run_id,)).fetchone()
    return None if row is None else (row[0], row[1], row[2], bool(row[3]))


def digests(conn: sqlite3.Connection, knit_ids: Iterable[str]) -> dict[str, str | None]:
    """knit id -> its digest (None: not committed; 'deferred': a --move not hashed yet)."""
    ids = list(knit_ids)
    out: dict[str, str | None] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        out.update((r[0], r[1]) for r in conn.execute(
            f"SELECT knit_id, digest FROM data WHERE knit_id IN ({','.join('?' * len(chunk))})", chunk))
    return out


def key_row(conn: sqlite3.Connection, run_id: str) -> tuple[str, str | None, bool] | None:
    """(input key, reused run, execute) recorded for a run, or None."""
    row = conn.execute("SELECT input_key, reused_run, execute FROM run_cache WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else (row[0], row[1], bool(row[2]))


def record_key(conn: sqlite3.Connection, run_id: str, plan_id: str, input_key: str) -> None:
    """The run's input key (kept, with what else is recorded, when it is there already)."""
    conn.execute(
        "INSERT INTO run_cache(run_id, plan_id, input_key) VALUES (?, ?, ?)"
        " ON CONFLICT(run_id) DO UPDATE SET input_key = excluded.input_key", (run_id, plan_id, input_key))


def unkeyed_runs(conn: sqlite3.Connection, plan_id: str) -> list[tuple[str, str]]:
    """(run id, assignment) of the plan's done and claimed runs that have no input key yet."""
    return [(r[0], r[1]) for r in conn.execute(
        f"SELECT r.run_id, r.assignment FROM run r WHERE r.plan_id = ? AND r.status IN ('done', {_ACTIVE})"
        " AND r.assignment IS NOT NULL AND NOT EXISTS (SELECT 1 FROM run_cache c WHERE c.run_id = r.run_id)",
        (plan_id,))]


def done_with_key(conn: sqlite3.Connection, plan_id: str, input_key: str, exclude: str) -> list[str]:
    """Done runs of the plan with this input key whose outputs carry no bad mark (knitctl.marks) and were not
    dropped by gc (knitctl.retention): those that executed first, then the newest first."""
    return [r[0] for r in conn.execute(
        "SELECT c.run_id FROM run_cache c JOIN run r ON r.run_id = c.run_id"
        " WHERE c.plan_id = ? AND c.input_key = ? AND r.status = 'done' AND c.run_id != ?"
        " AND NOT EXISTS (SELECT 1 FROM data d JOIN bad_data b ON b.knit_id = d.knit_id WHERE d.run_id = c.run_id)"
        " AND NOT EXISTS (SELECT 1 FROM data d JOIN data_drop x ON x.knit_id = d.knit_id WHERE d.run_id = c.run_id)"
        " ORDER BY c.reused_run IS NOT NULL, r.finished_ms DESC, r.run_id", (plan_id, input_key, exclude))]


def live_with_key(conn: sqlite3.Connection, plan_id: str, input_key: str, exclude: str) -> list[str]:
    """Claimed, unfinished runs of the plan with this input key (one of them may yet give a result to reuse)."""
    return [r[0] for r in conn.execute(
        "SELECT c.run_id FROM run_cache c JOIN run r ON r.run_id = c.run_id"
        f" WHERE c.plan_id = ? AND c.input_key = ? AND r.status IN ({_ACTIVE}) AND c.run_id != ?",
        (plan_id, input_key, exclude))]


# -- a cached finish ----------------------------------------------------------------------------


def outputs(conn: sqlite3.Connection, run_id: str) -> dict[str, tuple[str, str | None, int | None, int | None]]:
    """output path -> (knit id, digest, size, file count) of a run's outputs (the log's path is 'log')."""
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in conn.execute(
        "SELECT output_path, knit_id, digest, size, file_count FROM data WHERE run_id = ?", (run_id,))}


def set_reused(conn: sqlite3.Connection, run_id: str, source: str | None) -> None:
    conn.execute("UPDATE run_cache SET reused_run = ? WHERE run_id = ?", (source, run_id))


def set_execute(conn: sqlite3.Connection, run_id: str) -> None:
    """A retried run executes for real next time (a retry asks for the work to be done again)."""
    conn.execute("UPDATE run_cache SET reused_run = NULL, execute = 1 WHERE run_id = ?", (run_id,))


def reused(conn: sqlite3.Connection, run_ids: Sequence[str]) -> dict[str, str]:
    """run id -> the run whose outputs it reused, for those of `run_ids` that are cached."""
    out: dict[str, str] = {}
    for i in range(0, len(run_ids), CHUNK):
        chunk = list(run_ids[i : i + CHUNK])
        out.update((r[0], r[1]) for r in conn.execute(
            f"SELECT run_id, reused_run FROM run_cache WHERE reused_run IS NOT NULL"
            f" AND run_id IN ({','.join('?' * len(chunk))})", chunk))
    return out


def reused_by(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """The runs that reused this run's outputs, oldest first."""
    return [r[0] for r in conn.execute(
        "SELECT c.run_id FROM run_cache c JOIN run r ON r.run_id = c.run_id WHERE c.reused_run = ?"
        " ORDER BY r.created_ms, r.run_id", (run_id,))]
