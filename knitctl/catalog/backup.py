"""What a backup and a restore ask of the catalog: a consistent copy of a live catalog file, the data
that copy knows as committed, its terminal runs, and the data URIs moved to a restored home.

The copy is SQLite's online backup in one step: the source is read inside one read transaction,
so the copy is the catalog as of one commit, and writers (WAL) go on meanwhile.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Committed:
    knit_id: str
    digest: str
    size: int
    file_count: int


def online_copy(source: sqlite3.Connection, dest: str | os.PathLike[str]) -> None:
    """Copy the database behind `source` (it may be live, written by others) into a new file `dest`,
    created 0600, and flush it to disk. The copy is left in rollback-journal mode with no -wal beside
    it, so it is one self-contained file."""
    fd = os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    target = sqlite3.connect(os.fspath(dest), isolation_level=None)
    try:
        source.backup(target)  # pages=-1: every page in one step, one read transaction on the source
        target.execute("PRAGMA journal_mode = DELETE")
    finally:
        target.close()
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_file(path: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """`online_copy` from a catalog file no one writes (a backup's), opened read-only."""
    source = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True)
    try:
        online_copy(source, dest)
    finally:
        source.close()


def committed(conn: sqlite3.Connection) -> list[Committed]:
    """Every datum the catalog knows as committed (its directory is in the store: not dropped by gc), by id."""
    from .retention import stored_only

    return [
        Committed(r[0], r[1], r[2] or 0, r[3] or 0)
        for r in conn.execute(
            "SELECT knit_id, digest, size, file_count FROM data WHERE digest IS NOT NULL" + stored_only(conn) + " ORDER BY knit_id"
        )
    ]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many data, runs and plans the catalog holds (for a backup's report)."""
    return {
        "data": conn.execute("SELECT count(*) FROM data").fetchone()[0],
        "runs": conn.execute("SELECT count(*) FROM run").fetchone()[0],
        "plans": conn.execute("SELECT count(*) FROM plan").fetchone()[0],
    }


def terminal_runs(conn: sqlite3.Connection, statuses: frozenset[str]) -> list[str]:
    """Ids of the runs in one of `statuses` (the finished ones, whose logs are complete)."""
    marks = ", ".join("?" * len(statuses))
    return [r[0] for r in conn.execute(f"SELECT run_id FROM run WHERE status IN ({marks})", tuple(sorted(statuses)))]


def rebase_uris(conn: sqlite3.Connection, old_prefix: str, new_prefix: str) -> int:
    """Point the data artifacts' URIs under `old_prefix` (the backed-up home's data/) at `new_prefix`
    (the restored home's); how many changed."""
    if old_prefix == new_prefix:
        return 0
    cur = conn.execute(
        "UPDATE Artifact SET uri = ? || substr(uri, ?) "
        "WHERE substr(uri, 1, ?) = ? AND id IN (SELECT artifact_id FROM data)",
        (new_prefix, len(old_prefix) + 1, len(old_prefix), old_prefix),
    )
    return cur.rowcount
