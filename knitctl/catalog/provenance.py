"""Provenance in the catalog: who made an upload or run, with which knit and which exact image, and
the git commit an upload came from (table `provenance`, one row per run; an upload's datum reads its
run's row). The rules — what is recorded, the MLMD property names — are `knitctl.provenance`'s."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .db import now_ms

FIELDS = ("user", "host", "knit_version", "image", "image_id", "repo_digest", "git_commit", "git_dirty")


def record(conn: sqlite3.Connection, run_id: str, values: dict, *, at_ms: int | None = None) -> None:
    """Set the run's provenance to `values` (keys of FIELDS; others absent), replacing an earlier attempt's."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"not provenance fields: {sorted(unknown)}")
    row = [values.get(f) for f in FIELDS]
    if row[FIELDS.index("git_dirty")] is not None:
        row[FIELDS.index("git_dirty")] = int(bool(values["git_dirty"]))
    conn.execute("DELETE FROM provenance WHERE run_id = ?", (run_id,))
    conn.execute(
        f"INSERT INTO provenance(run_id, {', '.join(FIELDS)}, recorded_ms) VALUES (?, {', '.join('?' * len(FIELDS))}, ?)",
        (run_id, *row, at_ms if at_ms is not None else now_ms()),
    )


def forget(conn: sqlite3.Connection, run_id: str) -> None:
    conn.execute("DELETE FROM provenance WHERE run_id = ?", (run_id,))


def update(conn: sqlite3.Connection, run_id: str, values: dict) -> bool:
    """Fill in fields of an existing row (e.g. the image id a pod reported when its task ended). Returns
    whether the run had a row."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"not provenance fields: {sorted(unknown)}")
    if not values:
        return False
    names = sorted(values)
    cur = conn.execute(
        f"UPDATE provenance SET {', '.join(f'{n} = ?' for n in names)} WHERE run_id = ?",
        (*(values[n] for n in names), run_id),
    )
    return cur.rowcount > 0


def of_run(conn: sqlite3.Connection, run_id: str) -> dict | None:
    """The run's provenance as {field: value} (None values left out), or None when none was recorded."""
    row = conn.execute(
        f"SELECT {', '.join(FIELDS)}, recorded_ms FROM provenance WHERE run_id = ?", (run_id,)
    ).fetchone()
    if row is None:
        return None
    return _as_dict(tuple(row))


def of_datum(conn: sqlite3.Connection, knit_id: str) -> dict | None:
    """The provenance of the run that made the datum."""
    row = conn.execute(
        f"SELECT {', '.join('p.' + f for f in FIELDS)}, p.recorded_ms FROM data d"
        " JOIN provenance p ON p.run_id = d.run_id WHERE d.knit_id = ?", (knit_id,)
    ).fetchone()
    if row is None:
        return None
    return _as_dict(tuple(row))


def of_runs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> dict[str, dict]:
    """Provenance of several runs, by run id (runs without a row left out)."""
    out: dict[str, dict] = {}
    for i in range(0, len(run_ids), 500):
        chunk = list(run_ids[i : i + 500])
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT run_id, {', '.join(FIELDS)}, recorded_ms FROM provenance WHERE run_id IN ({marks})", chunk
        ):
            out[row[0]] = _as_dict(tuple(row)[1:])
    return out


def verify_facts(conn: sqlite3.Connection, run_id: str) -> dict | None:
    """What `run verify` needs of a run: plan, status, its assignment as recorded ({path: knit id}), and
    its committed outputs but the log ({path: (knit id, digest)})."""
    row = conn.execute("SELECT plan_id, status, assignment FROM run WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    assignment = dict(line.split("=", 1) for line in (row[2] or "").split("\n") if "=" in line)
    outputs = {p: (k, d) for p, k, d in conn.execute(
        "SELECT output_path, knit_id, digest FROM data WHERE run_id = ? AND output_path <> 'log' ORDER BY output_path",
        (run_id,))}
    present = {k for (k,) in conn.execute(
        f"SELECT knit_id FROM data WHERE knit_id IN ({','.join('?' * len(assignment))})", list(assignment.values())
    )} if assignment else set()
    return {"plan_id": row[0], "status": row[1], "assignment": assignment, "outputs": outputs,
            "missing_inputs": sorted(k for k in assignment.values() if k not in present)}


def _as_dict(row: tuple) -> dict:
    d = {f: v for f, v in zip(FIELDS, row[: len(FIELDS)]) if v is not None}
    if "git_dirty" in d:
        d["git_dirty"] = bool(d["git_dirty"])
    d["recorded_ms"] = row[len(FIELDS)]
    return d
