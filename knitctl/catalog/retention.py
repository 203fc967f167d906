"""Retention in the catalog (the rules are `knitctl.retention`): the facts a gc decides on, and `data_drop`,
which records the data whose bytes were freed (their metadata stays)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence

DROPPING, DROPPED = "dropping", "dropped"


def _chunks(items: Sequence[str], n: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


def candidates(conn: sqlite3.Connection, deferred: str) -> list[tuple[str, str, int, int, str]]:
    """(knit_id, producing run's status, finished_ms, size, user tags as sorted 'k:v' lines each ending in a newline
    after a leading newline — '\\n' for none — so a tag is found as '\\nk:v\\n') of every committed
    datum of a done or failed run that was not dropped (data whose digest is still `deferred` are left out),
    in no particular order. (Three scans joined here: SQLite's join of data and run by run_id was half the time.)"""
    # plain tuples (no sqlite3.Row per row), dict(cursor) builds each map in C; rows joined in comprehensions
    cur = conn.cursor()
    cur.row_factory = None
    done = dict(cur.execute("SELECT run_id, coalesce(finished_ms, 0) FROM run WHERE status = 'done'"))
    failed = dict(cur.execute("SELECT run_id, coalesce(finished_ms, 0) FROM run WHERE status = 'failed'"))
    gone = {r[0] for r in cur.execute("SELECT knit_id FROM data_drop")}
    tags = dict(cur.execute(
        "SELECT knit_id, char(10) || group_concat(kv, char(10)) || char(10) FROM"
        " (SELECT knit_id, key || ':' || value AS kv FROM tag ORDER BY knit_id, key, value) GROUP BY knit_id"))
    rows = cur.execute(
        "SELECT knit_id, run_id, coalesce(size, 0) FROM data WHERE digest IS NOT NULL AND digest != ?", (deferred,)
    ).fetchall()
    out = [(k, "done", done[r], n, tags.get(k, "\n")) for k, r, n in rows if r in done and k not in gone]
    out += [(k, "failed", failed[r], n, tags.get(k, "\n")) for k, r, n in rows if r in failed and k not in gone]
    return out


def with_tag(conn: sqlite3.Connection, key: str, value: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT knit_id FROM tag WHERE key = ? AND value = ?", (key, value))]


def producers(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> list[str | None]:
    """The canonical assignments ('path=id' lines; None for uploads) of the runs that made these data."""
    out: list[str | None] = []
    for chunk in _chunks(list(knit_ids)):
        out += [r[0] for r in conn.execute(
            f"SELECT r.assignment FROM data d JOIN run r ON r.run_id = d.run_id WHERE d.knit_id IN ({','.join('?' * len(chunk))})",
            chunk)]
    return out


def live_assignments(conn: sqlite3.Connection, statuses: Iterable[str]) -> list[str]:
    """The canonical assignments of the runs in these (unfinished) statuses."""
    st = list(statuses)
    return [r[0] for r in conn.execute(
        f"SELECT assignment FROM run WHERE assignment IS NOT NULL AND status IN ({','.join('?' * len(st))})", st)]


# -- data_drop -------------------------------------------------------------------------------------


def begin(conn: sqlite3.Connection, drops: Sequence[tuple[str, str, int]], at_ms: int) -> None:
    """(knit_id, rule, size) are being dropped: chosen, their bytes about to be deleted."""
    conn.executemany(
        f"INSERT INTO data_drop(knit_id, state, rule, size, started_ms) VALUES (?, '{DROPPING}', ?, ?, ?)",
        [(k, rule, size, at_ms) for k, rule, size in drops],
    )


def finish(conn: sqlite3.Connection, knit_ids: Sequence[str], at_ms: int) -> None:
    conn.executemany(
        f"UPDATE data_drop SET state = '{DROPPED}', dropped_ms = ? WHERE knit_id = ? AND state = '{DROPPING}'",
        [(at_ms, k) for k in knit_ids],
    )


def dropping(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(knit_id, rule, size) of data a gc chose and did not finish dropping."""
    return [tuple(r) for r in conn.execute(
        f"SELECT knit_id, rule, size FROM data_drop WHERE state = '{DROPPING}' ORDER BY knit_id")]


def drop_of(conn: sqlite3.Connection, knit_id: str) -> tuple[str, str, int, int, int | None] | None:
    """(state, rule, size, started_ms, dropped_ms) of a dropped (or dropping) datum, or None."""
    row = conn.execute(
        "SELECT state, rule, size, started_ms, dropped_ms FROM data_drop WHERE knit_id = ?", (knit_id,)).fetchone()
    return None if row is None else tuple(row)


def drops_of(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> dict[str, tuple[str, str, int, int, int | None]]:
    out = {}
    for chunk in _chunks(list(knit_ids)):
        for k, *rest in conn.execute(
            f"SELECT knit_id, state, rule, size, started_ms, dropped_ms FROM data_drop WHERE knit_id IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            out[k] = tuple(rest)
    return out


def dropped_fitting(conn: sqlite3.Connection, tags: Sequence[tuple[str, str]]) -> int:
    """How many dropped data carry every one of these tags (explain: why an input has fewer data)."""
    if not tags:
        return 0
    sub = " INTERSECT ".join("SELECT knit_id FROM tag WHERE key = ? AND value = ?" for _ in tags)
    return conn.execute(
        f"SELECT count(*) FROM data_drop WHERE knit_id IN ({sub})", [x for kv in tags for x in kv]).fetchone()[0]


def stored_only(conn: sqlite3.Connection, alias: str = "data") -> str:
    """An SQL condition leaving out data whose bytes gc freed or is freeing (`alias.knit_id`), for the questions
    about the store (doctor, backup); empty on a catalog older than data_drop."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'data_drop'").fetchone() is None:
        return ""
    return f" AND NOT EXISTS (SELECT 1 FROM data_drop x WHERE x.knit_id = {alias}.knit_id)"


def still_candidates(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> set[str]:
    """Which of these are still committed data of done or failed runs that no gc chose."""
    out: set[str] = set()
    for chunk in _chunks(list(knit_ids), 900):
        out.update(r[0] for r in conn.execute(
            f"""SELECT d.knit_id FROM data d JOIN run r ON r.run_id = d.run_id
                WHERE d.knit_id IN ({','.join('?' * len(chunk))}) AND r.status IN ('done', 'failed')
                  AND d.digest IS NOT NULL AND NOT EXISTS (SELECT 1 FROM data_drop x WHERE x.knit_id = d.knit_id)""",
            chunk))
    return out


def sharing_files(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> set[str]:
    """Those of the data whose files may be hard links shared with other data: the outputs of a cached run
    and of a run whose outputs a cached run reused (knitctl.reuse). Every other datum's files are its own."""
    out: set[str] = set()
    for chunk in _chunks(list(knit_ids)):
        marks = ",".join("?" * len(chunk))
        out.update(r[0] for r in conn.execute(
            f"SELECT d.knit_id FROM data d WHERE d.knit_id IN ({marks}) AND d.run_id IN"
            f" (SELECT run_id FROM run_cache WHERE reused_run IS NOT NULL"
            f"  UNION SELECT reused_run FROM run_cache WHERE reused_run IS NOT NULL)", chunk))
    return out
