"""`knitctl doctor --repair`: a catalog rebuilt from what can still be read, paired with this store.

The damaged file is never changed: it is renamed aside (catalog.db.damaged-<timestamp>, its
-wal and -shm with it) and a new catalog is built beside it, table by table and row by row:
rows are read by rowid in batches, and a batch that can't be read is retried one rowid at a
time, so a corrupt page costs only the rows on it. Rows whose parents were lost are dropped
(foreign keys hold in the new catalog). Store data are never deleted: directories the new
catalog doesn't know are moved to KNIT_HOME/lost+found/, out of GC's reach.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import pairing
from ..errors import Conflict
from ..home import Home
from .db import Catalog, now_ms

BATCH = 500
MAX_ROWID_SCAN = 5_000_000   # when a table's largest rowid can't be read
RECOVER_TIMEOUT = 600


@dataclass
class Report:
    kept_aside: list[str] = field(default_factory=list)
    copied: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)   # rows (or batches) that could not be read
    dropped: dict[str, int] = field(default_factory=dict)      # rows whose parents were lost
    lost_found: list[str] = field(default_factory=list)
    note: str = ""
    method: str = "row by row"

    def lines(self) -> list[str]:
        out = [self.note] if self.note else []
        if self.kept_aside:
            out.append("kept the old catalog aside: " + ", ".join(self.kept_aside))
        if self.copied:
            out.append(f"recovered rows ({self.method}): " + ", ".join(f"{t} {n}" for t, n in self.copied.items() if n))
        if any(self.unreadable.values()):
            out.append("unreadable, lost: " + ", ".join(f"{t} {n}" for t, n in self.unreadable.items() if n))
        if any(self.dropped.values()):
            out.append("dropped (their parent rows were lost): " + ", ".join(f"{t} {n}" for t, n in self.dropped.items() if n))
        if self.lost_found:
            out.append(f"{len(self.lost_found)} store director{'y' if len(self.lost_found) == 1 else 'ies'} the catalog "
                       f"no longer knows moved (not deleted) to lost+found/: {', '.join(self.lost_found[:10])}; "
                       "look inside and push what you need again (knitctl data push lost+found/ID -t ...)")
        return out


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"


def open_untouched(path: Path, timeout: float = 10) -> sqlite3.Connection:
    """A read-only connection that leaves the file as it is: without a -wal beside it, SQLite would
    make one (and a -shm) even read-only, so then the file is opened immutable (there is no WAL to read)."""
    wal = Path(str(path) + "-wal")
    uri = f"file:{path}?mode=ro" + ("" if wal.exists() else "&immutable=1")
    conn = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _open_old(path: Path) -> sqlite3.Connection | None:
    for opener in (open_untouched, lambda p: sqlite3.connect(f"file:{p}?immutable=1", uri=True)):
        try:
            conn = opener(path)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.DatabaseError:
            continue
    return None


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def _has_rowid(conn: sqlite3.Connection, table: str) -> bool:
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    return not (sql and sql[0] and "WITHOUT ROWID" in sql[0].upper())


def _max_rowid(old: sqlite3.Connection, table: str) -> int:
    for sql in (f'SELECT max(rowid) FROM "{table}"', f'SELECT rowid FROM "{table}" ORDER BY rowid DESC LIMIT 1'):
        try:
            row = old.execute(sql).fetchone()
            return (row[0] or 0) if row else 0
        except sqlite3.DatabaseError:
            continue
    return MAX_ROWID_SCAN


def copy_table(old: sqlite3.Connection, new: sqlite3.Connection, table: str, cols: list[str]) -> tuple[int, int]:
    """Copy what can be read of one table; (rows copied, rows or batches unreadable)."""
    names = ", ".join(f'"{c}"' for c in cols)
    insert = f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({", ".join("?" * len(cols))})'
    copied = unreadable = 0
    if not _has_rowid(new, table):
        # no rowid to step over a bad page by: read forwards, then backwards from the other end
        seen: set = set()
        for order in ("ASC", "DESC"):
            try:
                for row in old.execute(f'SELECT {names} FROM "{table}" ORDER BY {names.split(", ")[0]} {order}'):
                    if row not in seen:
                        seen.add(row)
                        copied += new.execute(insert, row).rowcount
                else:
                    break
            except sqlite3.DatabaseError:
                unreadable += 1
        return copied, unreadable
    top = _max_rowid(old, table)
    start = 1 if top > 0 else top
    lo = min(start, _min_rowid(old, table))
    for a in range(lo, top + 1, BATCH):
        b = a + BATCH - 1
        try:
            rows = old.execute(f'SELECT {names} FROM "{table}" WHERE rowid BETWEEN ? AND ?', (a, b)).fetchall()
        except sqlite3.DatabaseError:
            rows = []
            for rid in range(a, b + 1):
                try:
                    rows += old.execute(f'SELECT {names} FROM "{table}" WHERE rowid = ?', (rid,)).fetchall()
                except sqlite3.DatabaseError:
                    unreadable += 1
        for row in rows:
            copied += new.execute(insert, row).rowcount
    return copied, unreadable


def _min_rowid(old: sqlite3.Connection, table: str) -> int:
    try:
        row = old.execute(f'SELECT min(rowid) FROM "{table}"').fetchone()
        return row[0] if row and row[0] is not None else 1
    except sqlite3.DatabaseError:
        return 1


def _drop_orphans(new: sqlite3.Connection, tables: list[str]) -> dict[str, int]:
    """Delete rows whose parent rows were lost (by each foreign key, WITHOUT ROWID tables too)."""
    dropped: dict[str, int] = {}
    for _ in range(20):  # dropping a parent may orphan its children: until none is left
        total = 0
        for table in tables:
            for fk in new.execute(f'PRAGMA foreign_key_list("{table}")').fetchall():
                parent, col, to = fk[2], fk[3], fk[4]
                if to is None:
                    to = next((r[1] for r in new.execute(f'PRAGMA table_info("{parent}")') if r[5] == 1), "rowid")
                n = new.execute(f'DELETE FROM "{table}" WHERE "{col}" IS NOT NULL AND "{col}" NOT IN '
                                f'(SELECT "{to}" FROM "{parent}")').rowcount
                if n > 0:
                    dropped[table] = dropped.get(table, 0) + n
                    total += n
        if not total:
            break
    return dropped


def sqlite_recover(old_path: Path, out_path: Path) -> bool:
    """SQLite's own `.recover` (the sqlite3 tool, when installed) into out_path; False when unavailable or failed."""
    exe = shutil.which("sqlite3")
    if not exe:
        return False
    try:
        dump = subprocess.run([exe, "-readonly", str(old_path), ".recover"], capture_output=True,
                              timeout=RECOVER_TIMEOUT, stdin=subprocess.DEVNULL)
        if not dump.stdout:
            return False
        load = subprocess.run([exe, str(out_path)], input=dump.stdout, capture_output=True, timeout=RECOVER_TIMEOUT)
        return load.returncode == 0 and out_path.exists()
    except (OSError, subprocess.SubprocessError):
        return False


def _copy_all(old: sqlite3.Connection, new: sqlite3.Connection, tables: list[str], report: Report, *, count_unreadable: bool) -> None:
    for table in tables:
        try:
            old_cols = set(_columns(old, table))
        except sqlite3.DatabaseError:
            old_cols = set()
        cols = [c for c in _columns(new, table) if c in old_cols]
        if not cols:
            continue
        try:
            copied, unreadable = copy_table(old, new, table, cols)
        except sqlite3.DatabaseError:
            copied, unreadable = 0, 1
        report.copied[table] = report.copied.get(table, 0) + copied
        if count_unreadable:
            report.unreadable[table] = report.unreadable.get(table, 0) + unreadable


def rebuild(old_path: Path, new_path: Path, report: Report) -> None:
    """A fresh catalog at new_path holding what can be read of old_path: first what SQLite's `.recover`
    gets back (when the sqlite3 tool is installed), then, row by row, anything it missed."""
    Catalog(new_path).close()                      # the current schema, empty
    new = sqlite3.connect(new_path, isolation_level=None)
    recovered = Path(str(new_path) + ".recovered")
    try:
        new.execute("PRAGMA foreign_keys = OFF")
        tables = [r[0] for r in new.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'store_pairing'")]
        sources = []
        if old_path.exists() and sqlite_recover(old_path, recovered):
            sources.append((_open_old(recovered), False))
            report.method = "sqlite3 .recover, then row by row"
        if old_path.exists():
            sources.append((_open_old(old_path), not sources))
        new.execute("BEGIN")
        for old, count_unreadable in sources:
            if old is not None:
                _copy_all(old, new, tables, report, count_unreadable=count_unreadable)
                old.close()
        report.dropped = _drop_orphans(new, tables)
        new.execute("COMMIT")
        new.execute("PRAGMA journal_mode = DELETE")  # one file to move into place
    finally:
        new.close()
        recovered.unlink(missing_ok=True)


def _set_aside(home: Home, stamp: str) -> list[str]:
    moved = []
    for suffix in ("", "-wal", "-shm"):
        f = Path(str(home.catalog) + suffix)
        if f.exists() or f.is_symlink():
            to = home.root / f"catalog.db.damaged-{stamp}{suffix}"
            os.rename(f, to)
            moved.append(to.name)
    return moved


def _to_lost_found(home: Home, known: set[str]) -> list[str]:
    lost = home.root / "lost+found"
    moved = []
    for e in sorted(os.scandir(home.data), key=lambda e: e.name):
        if not pairing.ID_RE.match(e.name) or e.name in known:
            continue
        lost.mkdir(mode=0o700, exist_ok=True)
        src = Path(e.path)
        mode = src.lstat().st_mode
        if e.is_dir(follow_symlinks=False):
            os.chmod(src, (mode & 0o7777) | 0o200)  # moving a directory rewrites its '..'
        os.rename(src, lost / e.name)
        if e.is_dir(follow_symlinks=False):
            os.chmod(lost / e.name, mode & 0o7777)
        moved.append(e.name)
    return moved


def diagnose(home: Home) -> tuple[bool, str]:
    """(healthy, why not): the catalog reads, passes the quick check and is paired with this store."""
    state = pairing.inspect_file(home.catalog)
    n = pairing.store_data(home.data)
    if state in ("missing", "empty"):
        return (not n), f"the catalog is {state}" + (f" beside a store holding {n} data" if n else "")
    if state == "damaged":
        return False, "the catalog is not an SQLite database"
    conn = _open_old(home.catalog)
    if conn is None:
        return False, "the catalog can't be opened"
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            return False, f"the catalog fails SQLite's quick check ({check})"
        try:
            cid = pairing.catalog_id(conn)
        except sqlite3.OperationalError:
            cid = None   # from before pairing: the next command pairs it
        known = conn.execute("SELECT count(*) FROM data").fetchone()[0]
        v = pairing.verdict(file_state="sqlite", catalog_id=cid, store_id=pairing.read_store_id(home.root),
                            store_data=n, catalog_data=known)
        return v.ok, v.problem
    except sqlite3.DatabaseError as e:
        return False, f"the catalog can't be read ({e})"
    finally:
        conn.close()


def repair(home: Home) -> Report:
    """Rebuild the catalog if it needs it; raises Conflict while knitd runs."""
    from .. import knitd

    pid = knitd.running_pid(home)
    if pid:
        raise Conflict(f"knitd (pid {pid}) is using the catalog; stop it first (`knitctl down`), then repair")
    report = Report()
    healthy, why = diagnose(home)
    if healthy:
        report.note = "the catalog is healthy and paired with this store; nothing to repair"
        return report
    report.note = f"repaired: {why}"
    stamp = _stamp()
    tmp = home.root / f".catalog.db.repair-{stamp}"
    try:
        rebuild(home.catalog, tmp, report)
        report.kept_aside = _set_aside(home, stamp)
        os.rename(tmp, home.catalog)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(home.catalog, isolation_level=None)
    try:
        known = {r[0] for r in conn.execute("SELECT knit_id FROM data")}
        report.lost_found = _to_lost_found(home, known)
        sid = pairing.read_store_id(home.root) or pairing.write_store_id(home.root, pairing.new_store_id())
        conn.execute("INSERT OR REPLACE INTO store_pairing (one, store_id, paired_ms) VALUES (1, ?, ?)", (sid, now_ms()))
    finally:
        conn.close()
    os.chmod(home.catalog, 0o600)
    return report
