"""Data in the catalog: reading them, listing them with find's filters, their tags and digests."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import mlmd
from .db import plain_rows
from .where import Where

DATUM_SELECT = """
SELECT d.knit_id, d.run_id, d.output_path, d.digest, d.size, d.file_count, d.source,
       r.status AS run_status, r.finished_ms, r.plan_id
FROM data d JOIN run r ON r.run_id = d.run_id
"""

# A listing's rows, ready to print: one query, the user tags aggregated in SQL in Tag order (key, then
# value: SQLite's binary collation orders UTF-8 as Python orders code points). An ordered subquery feeds
# the aggregate (SQLite does not flatten it into an aggregate, so its order is the aggregate's).
_USER_TAGS = "(SELECT {agg} FROM (SELECT key || ':' || value AS kv FROM tag WHERE knit_id = d.knit_id ORDER BY key, value))"
TAGS_TEXT = _USER_TAGS.format(agg="group_concat(kv, ' ')")  # the tags cell's user part, as one string
TAGS_JSON = _USER_TAGS.format(agg="json_group_array(kv)")    # a JSON array: any character round-trips

_LISTING_SELECT = """
SELECT d.knit_id, r.status, r.finished_ms, d.run_id, r.plan_id, d.output_path, d.digest, d.size,
       d.file_count, d.source, {marks}, {tags}
FROM data d JOIN run r ON r.run_id = d.run_id
"""
# the roots whose bad mark a datum carries (knitctl.marks), space-separated, or NULL: a listing's column before the tags
MARKS_TEXT = "(SELECT group_concat(root_id, ' ') FROM (SELECT root_id FROM bad_data WHERE knit_id = d.knit_id ORDER BY root_id))"


@dataclass
class DataFilter:
    """find's filters, checked. An empty field does not filter."""

    knit_ids: list[str] = field(default_factory=list)           # knit#id
    done_at_ms: list[int] = field(default_factory=list)         # knit#timestamp: finished done at this time
    run_statuses: list[str] | None = None                       # knit#transient: the producing run's status is one of
    user_tags: list[tuple[str, str]] = field(default_factory=list)  # carries every one
    done: bool | None = None                                    # True: committed (done) only; False: not done only
    finished_from_ms: int | None = None
    finished_before_ms: int | None = None
    marked: bool | None = None                                  # True: marked bad only; False: unmarked only
    bad_roots: list[str] = field(default_factory=list)          # knit#bad: carries each root's mark


def find_query(select: str, f: DataFilter) -> tuple[str, list]:
    """`select` (over data d JOIN run r) with the filters, oldest first."""
    w = Where()
    for kid in f.knit_ids:
        w.add("d.knit_id = ?", kid)
    for t in f.done_at_ms:
        w.add("r.finished_ms = ? AND r.status = 'done'", t)
    if f.run_statuses is not None:
        w.any_of("r.status", f.run_statuses)
    if f.user_tags:
        sub = " INTERSECT ".join("SELECT knit_id FROM tag WHERE key = ? AND value = ?" for _ in f.user_tags)
        w.add(f"d.knit_id IN ({sub})", *[x for kv in f.user_tags for x in kv])
    if f.done is True:
        w.add("r.status = 'done'")
    elif f.done is False:
        w.add("r.status != 'done'")
    if f.marked is not None:
        w.add(("" if f.marked else "NOT ") + "EXISTS (SELECT 1 FROM bad_data b WHERE b.knit_id = d.knit_id)")
    for root in f.bad_roots:
        w.add("d.knit_id IN (SELECT knit_id FROM bad_data WHERE root_id = ?)", root)
    w.window("r.finished_ms", f.finished_from_ms, f.finished_before_ms)
    return select + w.sql() + " ORDER BY r.created_ms, d.knit_id", w.params


def find(conn: sqlite3.Connection, f: DataFilter) -> list[sqlite3.Row]:
    """Rows of DATUM_SELECT's columns."""
    return conn.execute(*find_query(DATUM_SELECT, f)).fetchall()


def listing(conn: sqlite3.Connection, f: DataFilter, user_tags: str = TAGS_TEXT) -> list[tuple]:
    """Tuples (knit_id, run status, finished_ms, run_id, plan_id, output_path, digest, size, file_count,
    source, bad-mark roots as MARKS_TEXT has them, user tags as `user_tags` (TAGS_TEXT or TAGS_JSON) aggregates them)."""
    return plain_rows(conn, *find_query(_LISTING_SELECT.format(tags=user_tags, marks=MARKS_TEXT), f))


def by_id(conn: sqlite3.Connection, knit_id: str) -> list[sqlite3.Row]:
    return conn.execute(DATUM_SELECT + " WHERE d.knit_id = ?", (knit_id,)).fetchall()


def ids_with_prefix(conn: sqlite3.Connection, prefix: str, limit: int = 6) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT knit_id FROM data WHERE knit_id >= ? AND knit_id < ? LIMIT ?", (prefix, prefix + "g", limit))]


def tags_of(conn: sqlite3.Connection, knit_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {k: [] for k in knit_ids}
    for i in range(0, len(knit_ids), 500):
        chunk = list(knit_ids[i : i + 500])
        for kid, key, value in conn.execute(
            f"SELECT knit_id, key, value FROM tag WHERE knit_id IN ({','.join('?' * len(chunk))})", chunk
        ):
            out[kid].append((key, value))
    return out


def downstream(conn: sqlite3.Connection, knit_id: str) -> list[tuple[str, str, str, str]]:
    """(run_id, plan_id, input path, status) of the runs taking the datum as input, oldest first."""
    return [tuple(r) for r in conn.execute(
        f"""SELECT r.run_id, r.plan_id, ep.step_key, r.status
            FROM data d JOIN Event e ON e.artifact_id = d.artifact_id AND e.type = {mlmd.EV_INPUT}
            JOIN EventPath ep ON ep.event_id = e.id
            JOIN run r ON r.execution_id = e.execution_id
            WHERE d.knit_id = ? ORDER BY r.created_ms""",
        (knit_id,),
    )]


def is_committed(conn: sqlite3.Connection, knit_id: str) -> bool:
    return conn.execute("SELECT 1 FROM data WHERE knit_id = ? AND digest IS NOT NULL", (knit_id,)).fetchone() is not None


# -- digests -------------------------------------------------------------------------


def digest_of(conn: sqlite3.Connection, knit_id: str) -> tuple[bool, str | None]:
    """(whether the datum exists, its digest)."""
    row = conn.execute("SELECT digest FROM data WHERE knit_id = ?", (knit_id,)).fetchone()
    return (False, None) if row is None else (True, row[0])


def replace_digest(conn: sqlite3.Connection, knit_id: str, old: str, new: str) -> None:
    """Set the digest where it is still `old` (a deferred digest computed later)."""
    conn.execute("UPDATE data SET digest = ? WHERE knit_id = ? AND digest = ?", (new, knit_id, old))


def with_digest(conn: sqlite3.Connection, digest: str, limit: int) -> list[str]:
    return [r[0] for r in conn.execute("SELECT knit_id FROM data WHERE digest = ? LIMIT ?", (digest, limit))]


# -- a watched folder's items ---------------------------------------------------------


def set_custom_string(conn: sqlite3.Connection, knit_id: str, name: str, value: str) -> None:
    """A custom property on the datum's MLMD artifact (e.g. the ingest key of a watched-folder item)."""
    conn.execute(
        "INSERT INTO ArtifactProperty(artifact_id, name, is_custom_property, string_value)"
        " SELECT artifact_id, ?, 1, ? FROM data WHERE knit_id = ?",
        (name, value, knit_id),
    )


def with_custom_string(conn: sqlite3.Connection, name: str, value: str) -> str | None:
    row = conn.execute(
        "SELECT d.knit_id FROM ArtifactProperty ap JOIN data d ON d.artifact_id = ap.artifact_id"
        " WHERE ap.name = ? AND ap.is_custom_property = 1 AND ap.string_value = ?",
        (name, value),
    ).fetchone()
    return None if row is None else row[0]


def latest_with_custom(conn: sqlite3.Connection, name: str, limit: int) -> list[tuple[str, str | None, int]]:
    """(knit_id, source, finished_ms) of the data carrying the custom property, newest first."""
    return [tuple(r) for r in conn.execute(
        """SELECT d.knit_id, d.source, r.finished_ms FROM ArtifactProperty ap
           JOIN data d ON d.artifact_id = ap.artifact_id JOIN run r ON r.run_id = d.run_id
           WHERE ap.name = ? AND ap.is_custom_property = 1 ORDER BY r.finished_ms DESC LIMIT ?""",
        (name, limit),
    )]
