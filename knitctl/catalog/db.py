"""Opening the catalog: WAL, busy timeout, foreign keys, migrations, writers.

Every writer goes through `Catalog.write()`, which holds one `BEGIN IMMEDIATE`
transaction: the write lock is taken up front, so two writers queue on the
busy timeout instead of failing half-way with "database is locked".
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import KnitError
from ..pairing import RECOVER, check_new_catalog
from . import openfiles, preflight
from .mlmd_tables import SYSTEM_TYPES
from .schema import DOWNGRADES, LATEST, MIGRATIONS

BUSY_TIMEOUT_MS = 60_000


def now_ms() -> int:
    return int(time.time() * 1000)


class Transactions:
    """`write()` and `read()` over `self.conn`: what the knit catalog and an ml-metadata file share.

    Subclasses set `conn` and may refuse writes in `_check_writable`.
    """

    conn: sqlite3.Connection
    _depth = 0

    def _check_writable(self) -> None:
        """Raise when this connection may not write (a read-only store)."""

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; nested calls join the outer one."""
        self._check_writable()
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        if self._depth:
            yield self.conn
            return
        self.conn.execute("BEGIN")
        self._depth = 1
        try:
            yield self.conn
        finally:
            self._depth = 0
            self.conn.execute("COMMIT")



class Catalog(Transactions):
    """One connection to a catalog file (or ':memory:')."""

    conn: sqlite3.Connection  # set by _open(); absent while it fails (the error path looks for it)
    _held: tuple[int, int] | None  # the file's identity while this process has it open (openfiles)

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False, create: bool = True):
        self.path = str(path)
        if self.path != ":memory:":
            p = Path(self.path)
            if not p.exists() and (readonly or not create):
                raise KnitError(f"no catalog at {p}; create one with `knitctl init`")
            if not readonly:
                check_new_catalog(p)  # never a fresh catalog beside a store that holds data
            if not p.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
        try:
            self._open(readonly)
        except BaseException as e:
            openfiles.closed(getattr(self, "_held", None))
            self._held = None
            if not isinstance(e, sqlite3.DatabaseError):
                raise
            if getattr(self, "conn", None) is not None:
                self.conn.close()
            raise damaged(self.path, e) from None
        self._depth = 0
        self._migrate(readonly)

    def _open(self, readonly: bool) -> None:
        uri = self.path if self.path == ":memory:" else f"file:{self.path}{'?mode=ro' if readonly else ''}"
        conn = sqlite3.connect(
            uri,
            uri=self.path != ":memory:",
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        self.conn = conn
        self._held = openfiles.opened(self.path) if self.path != ":memory:" else None
        self._refuse_newer(conn)  # before anything writes to the file
        preflight.refuse_foreign(conn, self.path)  # another application's database, an ml-metadata store
        if not readonly:
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")

    # -- schema -------------------------------------------------------------

    def _refuse_newer(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > LATEST:
            conn.close()
            raise KnitError(
                f"the catalog at {self.path} has schema version {version}, newer than this knit "
                f"understands ({LATEST}); upgrade knit (./install.sh) before using it"
            )

    def _migrate(self, readonly: bool) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version == LATEST:
            return
        if readonly:
            raise KnitError(f"the catalog at {self.path} needs a migration; open it read-write once")
        # A migration that rebuilds tables (a function, not SQL text) renames old tables aside: foreign keys
        # are off while it runs (they can only be switched outside a transaction), checked before it commits.
        rebuilds = any(callable(m) for m in MIGRATIONS[version:])
        if rebuilds:
            self.conn.execute("PRAGMA foreign_keys = OFF")
            self.conn.execute("PRAGMA legacy_alter_table = ON")
        try:
            with self.write() as c:
                version = c.execute("PRAGMA user_version").fetchone()[0]
                dangling = _dangling(c) if rebuilds else 0
                for i in range(version, LATEST):
                    step = MIGRATIONS[i]
                    if callable(step):
                        step(c)
                    else:
                        for stmt in _statements(step):
                            c.execute(stmt)
                if rebuilds and _dangling(c) > dangling:
                    raise KnitError(f"the catalog at {self.path} could not be upgraded: its rows point at rows that are "
                                    f"missing (PRAGMA foreign_key_check); nothing was changed. {RECOVER}")
                c.execute(f"PRAGMA user_version = {LATEST}")
        finally:
            if rebuilds:
                self.conn.execute("PRAGMA legacy_alter_table = OFF")
                self.conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                f = Path(self.path + suffix)
                if f.exists():
                    os.chmod(f, 0o600)

    def downgrade(self, to: int, where: str) -> None:
        """Take the schema back to version `to` (an older knit's), in one transaction (schema.DOWNGRADES).

        Version 0 is before knit's first schema: only a catalog holding nothing goes there (its
        application_id marks it as knit's, so the next open sees an old store, not a new file)."""
        missing = [v for v in range(max(to, 1) + 1, LATEST + 1) if v not in DOWNGRADES]
        if missing:
            raise KnitError(f"schema version {missing[-1]} has no downgrade; the store stays at {LATEST}")
        rebuilds = any(callable(DOWNGRADES.get(v)) for v in range(LATEST, to, -1))
        if rebuilds:
            self.conn.execute("PRAGMA foreign_keys = OFF")
            self.conn.execute("PRAGMA legacy_alter_table = ON")
        try:
            with self.write() as c:
                if to == 0:
                    _empty_to_schema_zero(c, where)
                    return
                for v in range(c.execute("PRAGMA user_version").fetchone()[0], to, -1):
                    step = DOWNGRADES[v]
                    if callable(step):
                        step(c)
                    else:
                        for stmt in _statements(step):
                            c.execute(stmt)
                c.execute(f"PRAGMA user_version = {int(to)}")
        finally:
            if rebuilds:
                self.conn.execute("PRAGMA legacy_alter_table = OFF")
                self.conn.execute("PRAGMA foreign_keys = ON")

    @property
    def db(self):
        """The same connection as a sqlite-utils Database, for ad-hoc queries and scripts (imported on first use)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def query(self, sql: str, params=()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params=()):
        return self.conn.execute(sql, params).fetchone()

    def data_version(self) -> int:
        """Changes when another connection commits (PRAGMA data_version)."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        self.conn.close()
        openfiles.closed(getattr(self, "_held", None))
        self._held = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid an INSERT just made. sqlite3 types `lastrowid` as optional (it is None before any
    INSERT on the cursor); after one it is always set."""
    rowid = cur.lastrowid
    if rowid is None:
        raise TypeError("inserted_id() needs the cursor of an INSERT")
    return rowid


def plain_rows(conn: sqlite3.Connection, sql: str, params=()) -> list[tuple]:
    """Rows as plain tuples (no sqlite3.Row per row: listings that only print)."""
    cur = conn.cursor()
    cur.row_factory = None
    return cur.execute(sql, params).fetchall()


class CatalogDamaged(KnitError):
    """The catalog file can't be read as a database (exit 1)."""


def damaged(path: str, e: BaseException) -> KnitError | sqlite3.OperationalError:
    """An sqlite3 error that means the file itself is bad, as one clear line; others pass through."""
    if isinstance(e, sqlite3.OperationalError) and ("locked" in str(e) or "busy" in str(e)):
        return e  # contention, not damage: the CLI's boundary reports it
    return CatalogDamaged(f"the catalog at {path} is damaged ({e}); run `knitctl doctor` for a report. "
                          f"To recover: {RECOVER}")


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (once; it persists). The switch needs the file to itself and SQLite
    answers "locked" at once rather than waiting, so several processes opening a brand-new
    catalog together retry until one of them has done it."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


# what a catalog holds that schema 0 would lose: (label, count query)
_HOLDERS = (
    ("type", f"SELECT count(*) FROM Type WHERE name NOT IN ({', '.join(repr(n) for n in SYSTEM_TYPES)})"),
    *((t.lower(), f"SELECT count(*) FROM {t}") for t in ("Artifact", "Execution", "Context", "data", "plan", "run")),
)


def _empty_to_schema_zero(c: sqlite3.Connection, where: str) -> None:
    held = {label: c.execute(sql).fetchone()[0] for label, sql in _HOLDERS}
    held = {t: n for t, n in held.items() if n}
    if held:
        raise KnitError(
            f"{where} cannot go back to schema 0: that is before knit's first schema, and the store holds "
            f"{', '.join(f'{n} {t} rows' for t, n in held.items())} that would be lost; downgrade to 1 at most"
        )
    tables = [r[0] for r in c.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid DESC")]
    for t in tables:  # the last made first: a table goes before those its foreign keys name
        c.execute(f'DROP TABLE "{t}"')
    if c.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        c.execute("DELETE FROM sqlite_sequence")  # SQLite's own: it can't be dropped
    c.execute("PRAGMA user_version = 0")
    c.execute(f"PRAGMA application_id = {preflight.KNIT_APPLICATION_ID}")


def _dangling(conn: sqlite3.Connection) -> int:
    """How many rows point at rows that are missing (an old catalog may have some; a migration adds none)."""
    return len(conn.execute("PRAGMA foreign_key_check").fetchall())


def _statements(script: str) -> list[str]:
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return [s for s in out if s]
