"""Data marked bad in the catalog (the rules are `knitctl.marks`): the roots a person marked with their reason
(`bad_root`), which data carry each root's mark (`bad_data`), and the plan inputs that ask for marked data
(`plan_input.pin_bad`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

ANY = "*"   # plan_input.pin_bad: the input takes data carrying any mark


def _chunks(items: Sequence[str], n: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


def put_root(conn: sqlite3.Connection, root_id: str, reason: str, at_ms: int) -> None:
    """Mark `root_id` (or give an existing mark its new reason and time)."""
    conn.execute(
        "INSERT INTO bad_root(root_id, reason, marked_ms) VALUES (?, ?, ?)"
        " ON CONFLICT(root_id) DO UPDATE SET reason = excluded.reason, marked_ms = excluded.marked_ms",
        (root_id, reason, at_ms),
    )


def add_marks(conn: sqlite3.Connection, root_id: str, knit_ids: Sequence[str]) -> int:
    """The data carry the root's mark. Returns how many did not before."""
    before = conn.total_changes
    conn.executemany("INSERT OR IGNORE INTO bad_data(knit_id, root_id) VALUES (?, ?)", [(k, root_id) for k in knit_ids])
    return conn.total_changes - before


def drop_root(conn: sqlite3.Connection, root_id: str) -> list[str]:
    """Remove a root's mark from every datum carrying it, and the root; returns those data."""
    ids = [r[0] for r in conn.execute("SELECT knit_id FROM bad_data WHERE root_id = ?", (root_id,))]
    conn.execute("DELETE FROM bad_data WHERE root_id = ?", (root_id,))
    conn.execute("DELETE FROM bad_root WHERE root_id = ?", (root_id,))
    return ids


def root(conn: sqlite3.Connection, root_id: str) -> tuple[str, int] | None:
    """(reason, marked_ms) of a marked root, or None."""
    row = conn.execute("SELECT reason, marked_ms FROM bad_root WHERE root_id = ?", (root_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def roots_of(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> dict[str, list[str]]:
    """The roots whose mark each datum carries (sorted; data without a mark are left out)."""
    out: dict[str, list[str]] = {}
    for chunk in _chunks(list(knit_ids)):
        for kid, rid in conn.execute(
            f"SELECT knit_id, root_id FROM bad_data WHERE knit_id IN ({','.join('?' * len(chunk))}) ORDER BY root_id",
            chunk,
        ):
            out.setdefault(kid, []).append(rid)
    return out


def marks_of(conn: sqlite3.Connection, knit_id: str) -> list[tuple[str, str, int]]:
    """(root id, reason, marked_ms) of each mark the datum carries."""
    return [tuple(r) for r in conn.execute(
        "SELECT b.root_id, r.reason, r.marked_ms FROM bad_data b JOIN bad_root r ON r.root_id = b.root_id"
        " WHERE b.knit_id = ? ORDER BY b.root_id", (knit_id,))]


def still_marked(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> set[str]:
    return set(roots_of(conn, knit_ids))


def run_inputs(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """The knit ids a run took as inputs (from its canonical assignment, `path=id` lines)."""
    row = conn.execute("SELECT assignment FROM run WHERE run_id = ?", (run_id,)).fetchone()
    if row is None or not row[0]:
        return []
    return [line.rsplit("=", 1)[1] for line in row[0].split("\n") if "=" in line]


def set_input_pin(conn: sqlite3.Connection, plan_id: str, path: str, pin_bad: str | None) -> None:
    """Which marked data a plan input asks for: a root id, ANY, or None (marked data are not nominated)."""
    conn.execute("UPDATE plan_input SET pin_bad = ? WHERE plan_id = ? AND path = ?", (pin_bad, plan_id, path))


def input_pins(conn: sqlite3.Connection, plan_id: str) -> dict[str, str]:
    """path -> pin_bad of a plan's inputs that ask for marked data."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT path, pin_bad FROM plan_input WHERE plan_id = ? AND pin_bad IS NOT NULL", (plan_id,))}


# The nomination condition on a datum `d.knit_id` for an input whose pin is `pin` (an SQL expression):
# unmarked data unless the input asks for marks; with a pin, only data carrying that mark (or any).
def nominatable_sql(pin: str) -> str:
    return (
        f"(CASE WHEN {pin} IS NULL THEN NOT EXISTS (SELECT 1 FROM bad_data bd WHERE bd.knit_id = d.knit_id)"
        f" WHEN {pin} = '{ANY}' THEN EXISTS (SELECT 1 FROM bad_data bd WHERE bd.knit_id = d.knit_id)"
        f" ELSE EXISTS (SELECT 1 FROM bad_data bd WHERE bd.knit_id = d.knit_id AND bd.root_id = {pin}) END)"
    )


def count_marked(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> int:
    return len(still_marked(conn, knit_ids))


def inherit(conn: sqlite3.Connection, run_id: str) -> int:
    """A run finishing from marked inputs: its outputs carry every mark its inputs carry. Returns marks added."""
    inputs = run_inputs(conn, run_id)
    if not inputs:
        return 0
    roots = sorted({r for rs in roots_of(conn, inputs).values() for r in rs})
    if not roots:
        return 0
    outputs = [r[0] for r in conn.execute("SELECT knit_id FROM data WHERE run_id = ?", (run_id,))]
    return sum(add_marks(conn, r, outputs) for r in roots)
