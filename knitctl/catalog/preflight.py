"""Before a catalog file is used: is it one this knit may open, and open this way?

Refusals happen here, before anything writes to the file: no journal-mode switch,
no table created, no migration. Two steps:

- `check_file(path, readonly)` reads only the file's 100-byte header (no SQLite
  connection, so not even a `-wal`/`-shm` beside it is made): not an SQLite
  file, truncated, a format this SQLite can't read, a newer knit schema, or a
  read-only file opened read-write.
- `check_tables(conn, path)` looks at the tables of an open connection: a knit
  catalog (any schema this knit knows), an empty database (a new catalog), or
  refused: an ml-metadata store, or a database of something else.

The rules themselves (`header_problem`, `tables_problem`) are pure functions.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import struct
from pathlib import Path

from ..errors import KnitError
from .openfiles import read_head
from .schema import LATEST

MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
# Tables every knit catalog has had since its first schema.
KNIT_TABLES = frozenset({"type", "artifact", "execution", "context", "event", "data", "tag", "plan", "run"})
MLMD_ENV_TABLE = "mlmdenv"  # ml-metadata keeps its schema version there
# Set on a knit store taken back to schema 0 (emptied), so it reads as knit's and not as a new file.
KNIT_APPLICATION_ID = 0x6B6E6974  # "knit"


class Refused(KnitError):
    """A file this knit will not open (as asked); `reason` is one of
    not-sqlite, damaged, newer, read-only, ml-metadata, foreign."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def header_problem(header: bytes, size: int) -> tuple[str, str] | None:
    """(reason, what is wrong) for an SQLite file's first bytes and its size; None if it may be opened.

    An empty file is a new database (fine). The user_version is checked against LATEST.
    """
    if size == 0:
        return None
    if size < HEADER_SIZE or not header.startswith(MAGIC):
        if header.startswith(MAGIC[: min(len(header), len(MAGIC))]) and size < HEADER_SIZE:
            return "damaged", f"it is only {size} bytes, shorter than an SQLite header (truncated)"
        return "not-sqlite", f"it is not an SQLite database (it starts with {header[:16]!r})"
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return "damaged", f"its header names an impossible page size ({page_size})"
    if header[19] > 2:
        return "newer", f"its file format (read version {header[19]}) is newer than this SQLite reads"
    change_counter, pages = struct.unpack(">II", header[24:32])
    valid_for = struct.unpack(">I", header[92:96])[0]
    if pages and change_counter == valid_for and pages * page_size > size:
        return "damaged", f"it is {size} bytes but its header says {pages} pages of {page_size} bytes (truncated)"
    user_version = struct.unpack(">i", header[60:64])[0]
    if user_version > LATEST:
        return "newer", f"it has schema version {user_version}, newer than this knit understands ({LATEST})"
    return None


def tables_problem(tables: set[str], user_version: int) -> tuple[str, str] | None:
    """(reason, what is wrong) for a database's table names (lower case) and user_version; None if knit's or empty."""
    if not tables and user_version == 0:
        return None
    if MLMD_ENV_TABLE in tables and not tables >= KNIT_TABLES:
        return "ml-metadata", "it is an ml-metadata store (its own tables, not knit's catalog)"
    if tables >= KNIT_TABLES and 1 <= user_version <= LATEST:
        return None
    shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
    return "foreign", f"it is an SQLite database of something else (tables: {shown or 'none'}; schema version {user_version})"


_FIX = {
    "not-sqlite": "point at a knit catalog, or at a new path to create one",
    "damaged": "restore it from a backup, or point at a new path",
    "newer": "upgrade knit (./install.sh) before using it",
    "ml-metadata": "read it with ml-metadata itself, or point at a knit catalog or a new path",
    "foreign": "point at a knit catalog, or at a new path to create one",
}


def _refuse(path: str, reason: str, what: str) -> Refused:
    return Refused(f"cannot open {path}: {what}; {_FIX[reason]}", reason)


def check_file(path: str | os.PathLike, readonly: bool) -> None:
    """Refuse (Refused) a file that is no catalog by its header, or a read-only file opened read-write."""
    p = Path(path)
    try:
        st = p.stat()
        header = read_head(p, HEADER_SIZE)
    except FileNotFoundError:
        return
    except OSError as e:
        raise Refused(f"cannot open {p}: {e.strerror}; check the path and its permissions", "read-only") from None
    problem = header_problem(header, st.st_size) if header is not None else None  # None: open here already
    if problem:
        raise _refuse(str(p), *problem)
    if not readonly and (not os.access(p, os.W_OK) or not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)):
        raise Refused(
            f"cannot open {p} to write: the file is read-only (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"open it read-only, or make it writable (chmod u+w {p})",
            "read-only",
        )


def check_tables(conn: sqlite3.Connection, path: str) -> None:
    """Refuse (Refused) a database whose tables are not knit's (nor none at all); a damaged one too.

    `conn` is closed when it refuses (nothing else may use it then).
    """
    if path == ":memory:":
        return
    try:
        _check_tables(conn, path)
    except Refused:
        conn.close()
        raise


def _check_tables(conn: sqlite3.Connection, path: str) -> None:
    try:
        _refuse_foreign(conn, path)
    except sqlite3.DatabaseError as e:
        text = str(e)
        if "not a database" in text:
            raise _refuse(path, "not-sqlite", "it is not an SQLite database") from None
        raise _refuse(path, "damaged", f"it is damaged ({text})") from None


def _refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    tables = {r[0].lower() for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    user_version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables.discard("sqlite_sequence")
    problem = tables_problem(tables, user_version)
    if problem:
        raise _refuse(path, *problem)


def refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    """For the catalog's own connection, before it switches the file to WAL or migrates it: refuse
    (Refused, the connection closed) another application's database or an ml-metadata store. SQLite
    errors (a damaged file) pass through, for the catalog's own handling."""
    if path == ":memory:":
        return
    try:
        _refuse_foreign(conn, path)
    except Refused:
        conn.close()
        raise


def check(path: str | os.PathLike, readonly: bool) -> tuple[int, int] | None:
    """Both checks for a file about to be opened as a catalog, the tables one through a short read-only
    connection of its own (it writes nothing; a file that does not exist yet passes). Returns the
    file's (user_version, application_id), None for a file that does not exist or is empty."""
    p = Path(path)
    check_file(p, readonly)
    if not p.exists() or p.stat().st_size == 0:
        return None
    # A WAL file that no one has open (no -wal beside it) is read as immutable: SQLite would
    # otherwise leave a -wal and -shm beside a file it then refuses.
    head = read_head(p, HEADER_SIZE)
    wal_mode = head is not None and head[18:19] == b"\x02"
    quiet = "&immutable=1" if wal_mode and not Path(f"{p}-wal").exists() else ""
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro{quiet}", uri=True)
    except sqlite3.Error as e:
        raise _refuse(str(p), "damaged", f"it can't be read ({e})") from None
    try:
        check_tables(conn, str(p))
        return conn.execute("PRAGMA user_version").fetchone()[0], conn.execute("PRAGMA application_id").fetchone()[0]
    finally:
        conn.close()
