"""What doctor and the catalog/store pairing ask of the catalog: its health, which data it knows, and
the store it is paired with."""

from __future__ import annotations

import sqlite3


def quick_check(conn: sqlite3.Connection, most: int = 5) -> list[str]:
    """SQLite's quick check: ['ok'], or up to `most` problems (one DatabaseError text when it can't run)."""
    try:
        return [r[0] for r in conn.execute(f"PRAGMA quick_check({int(most)})")]
    except sqlite3.DatabaseError as e:
        return [str(e)]


def data_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM data").fetchone()[0]


def data_ids(conn: sqlite3.Connection) -> tuple[set[str], set[str]]:
    """(ids of committed data, ids of every datum the catalog knows)."""
    from .retention import stored_only  # data gc dropped are not in the store, by design

    committed = {r[0] for r in conn.execute("SELECT knit_id FROM data WHERE digest IS NOT NULL" + stored_only(conn))}
    known = {r[0] for r in conn.execute("SELECT knit_id FROM data")}
    return committed, known


def digests(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(knit_id, digest) of every committed datum."""
    from .retention import stored_only

    return [tuple(r) for r in conn.execute("SELECT knit_id, digest FROM data WHERE digest IS NOT NULL" + stored_only(conn))]


def store_id(conn: sqlite3.Connection) -> str | None:
    """The id of the store this catalog is paired with (None: not paired yet)."""
    row = conn.execute("SELECT store_id FROM store_pairing WHERE one = 1").fetchone()
    return row[0] if row else None


def pair(conn: sqlite3.Connection, store: str, at_ms: int) -> None:
    conn.execute("INSERT INTO store_pairing (one, store_id, paired_ms) VALUES (1, ?, ?)", (store, at_ms))
