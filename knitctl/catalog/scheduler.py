"""What knitd asks of the catalog and writes to it: runs to claim, live runs to re-attach, stop and
abort requests, a run's job, the commit of a run's outputs, and GC's vouching.

Every function takes the connection first and runs inside the caller's transaction (if any). The
loop's questions are asked on every tick, so each is one query; none is asked per row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from .. import runstate
from .mlmd import EV_INPUT


def _quoted(statuses: Iterable[str]) -> str:
    """A status set as SQL literals (known words, formatted once at import)."""
    return ", ".join(f"'{s}'" for s in sorted(statuses))


_ACTIVE = _quoted(runstate.ACTIVE)
_STARTED = _quoted(runstate.ACTIVE - runstate.PRESTART)
_ENDING = _quoted(runstate.ENDING)
GC_CHUNK = 500


# -- the loop: claiming, re-attaching, requests -------------------------------------------------


def active_runs(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(run id, status) of every run whose task may exist."""
    return [(r[0], r[1]) for r in conn.execute(f"SELECT run_id, status FROM run WHERE status IN ({_ACTIVE})")]


def active_contexts(conn: sqlite3.Connection) -> set[str]:
    """The contexts (`local` for none) of the runs whose task may exist."""
    return {r[0] for r in conn.execute(
        f"SELECT DISTINCT coalesce(context, 'local') FROM run WHERE status IN ({_ACTIVE})")}


def started_run_contexts(conn: sqlite3.Connection) -> dict[str, str]:
    """run id -> context (`local` for none) of the runs whose task was started."""
    return {r[0]: r[1] for r in conn.execute(
        f"SELECT run_id, coalesce(context, 'local') FROM run WHERE status IN ({_STARTED})")}


def ending_among(conn: sqlite3.Connection, run_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(run id, status) of those of `run_ids` asked to end (completing or aborting)."""
    marks = ",".join("?" * len(run_ids))
    return [(r[0], r[1]) for r in conn.execute(
        f"SELECT run_id, status FROM run WHERE run_id IN ({marks}) AND status IN ({_ENDING})", list(run_ids))]


def any_waiting(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM run WHERE status = 'waiting' LIMIT 1").fetchone() is not None


def oldest_waiting(conn: sqlite3.Connection, limit: int) -> list[tuple[str, str, str | None]]:
    """(run id, the plan's resources as JSON, the run's context) of waiting runs, oldest first."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT r.run_id, p.resources, r.context FROM run r JOIN plan p ON p.plan_id = r.plan_id"
        " WHERE r.status = 'waiting' ORDER BY r.created_ms, r.run_id LIMIT ?",
        (limit,),
    )]


def claim_context(conn: sqlite3.Connection, run_id: str, context: str) -> None:
    """Record the context a claimed run runs on, unless it already names one."""
    conn.execute("UPDATE run SET context = coalesce(context, ?) WHERE run_id = ?", (context, run_id))


def context_of(conn: sqlite3.Connection, run_id: str) -> str | None:
    """The run's context (None: none recorded, or no such run)."""
    row = conn.execute("SELECT context FROM run WHERE run_id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def resources_and_context(conn: sqlite3.Connection, run_id: str) -> tuple[str, str | None] | None:
    """The run's plan's resources (JSON) and the run's context; None when there is no such run."""
    row = conn.execute(
        "SELECT p.resources, r.context FROM run r JOIN plan p ON p.plan_id = r.plan_id WHERE r.run_id = ?", (run_id,)
    ).fetchone()
    return (row[0], row[1]) if row else None


# -- one run: its job and its clock (its status: knitctl.catalog.runs.status) ---------------------


def plan_of(conn: sqlite3.Connection, run_id: str) -> str:
    return conn.execute("SELECT plan_id FROM run WHERE run_id = ?", (run_id,)).fetchone()[0]


def input_mounts(conn: sqlite3.Connection, run_id: str) -> list[tuple[str, str]]:
    """(mount path, knit id) of the run's inputs, by path."""
    return [(r[0], r[1]) for r in conn.execute(
        f"""SELECT ep.step_key, d.knit_id FROM run r JOIN Event e ON e.execution_id = r.execution_id AND e.type = {EV_INPUT}
               JOIN EventPath ep ON ep.event_id = e.id JOIN data d ON d.artifact_id = e.artifact_id
               WHERE r.run_id = ? ORDER BY ep.step_key""",
        (run_id,),
    )]


def started_ms(conn: sqlite3.Connection, run_id: str) -> int | None:
    """When the run's task started running (None: not yet)."""
    return conn.execute("SELECT started_ms FROM run WHERE run_id = ?", (run_id,)).fetchone()[0]


# -- finishing: the run's outputs ---------------------------------------------------------------


def uncommitted_outputs(conn: sqlite3.Connection, run_id: str) -> list[tuple[str, str]]:
    """(knit id, output path) of the run's outputs not committed yet (no digest), by path."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT knit_id, output_path FROM data WHERE run_id = ? AND digest IS NULL ORDER BY output_path", (run_id,)
    )]


def commit_output(conn: sqlite3.Connection, knit_id: str, *, digest: str, size: int, file_count: int, uri: str) -> None:
    """A published output's digest, size and file count, and its MLMD artifact's URI."""
    conn.execute(
        "UPDATE data SET digest = ?, size = ?, file_count = ? WHERE knit_id = ?",
        (digest, size, file_count, knit_id),
    )
    conn.execute(
        "UPDATE Artifact SET uri = ? WHERE id = (SELECT artifact_id FROM data WHERE knit_id = ?)", (uri, knit_id)
    )


# -- GC: does the catalog vouch for the store, which ids does it know ------------------------------


def quick_check(conn: sqlite3.Connection) -> str:
    """SQLite's quick check: 'ok', or its first finding."""
    return conn.execute("PRAGMA quick_check").fetchone()[0]


def data_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM data").fetchone()[0]


def known_data_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    """Those of `ids` that are data in the catalog (asked in chunks of GC_CHUNK)."""
    out: set[str] = set()
    for i in range(0, len(ids), GC_CHUNK):
        chunk = list(ids[i : i + GC_CHUNK])
        out.update(r[0] for r in conn.execute(
            f"SELECT knit_id FROM data WHERE knit_id IN ({','.join('?' * len(chunk))})", chunk))
    return out
