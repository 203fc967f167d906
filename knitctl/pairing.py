"""The catalog and the store know each other: one random id, in both.

The store holds it in `KNIT_HOME/store-id` (beside `data/`), the catalog in its `store_pairing` table.
A catalog that is missing, empty, damaged or belongs to another store, beside a store that
holds data, is never silently re-created or adopted: every command refuses with what is
wrong and how to recover, and GC (which deletes what the catalog doesn't know) never runs.

`verdict` is the rule (pure); `inspect_file`, `store_state`, `read_store_id` and `pair`
are the I/O at its edges.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .errors import KnitError
from .ids import ID_RE

STORE_ID_FILE = "store-id"   # in KNIT_HOME, beside data/ (data/ holds only data)
SQLITE_MAGIC = b"SQLite format 3\x00"

RECOVER = ("restore catalog.db from a backup (with knitd stopped), or run `knitctl doctor --repair` "
           "to rebuild a catalog for this store; the store itself is untouched")


class CatalogRefused(KnitError):
    """The catalog can't be trusted beside this store (exit 1)."""


# -- the rule --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    ok: bool
    action: str = ""       # "" | "create" | "adopt-store-id" | "write-store-id" | "new-id"
    problem: str = ""      # what is wrong, when not ok


def verdict(*, file_state: str, catalog_id: str | None, store_id: str | None, store_data: int,
            catalog_data: int | None = None) -> Verdict:
    """What to do with a catalog beside a store.

    file_state: "missing" | "empty" | "damaged" | "sqlite" (see `inspect_file`);
    store_data: how many data directories the store holds; catalog_data: how many data the catalog knows.
    """
    if file_state in ("missing", "empty"):
        if store_data:
            return Verdict(False, problem=f"the catalog is {file_state} but the store holds {store_data} data")
        return Verdict(True, "create")
    if file_state == "damaged":
        return Verdict(False, problem="the catalog is damaged (not an SQLite database)")
    if catalog_id and store_id:
        if catalog_id != store_id:
            return Verdict(False, problem=f"the catalog belongs to another store (store id {catalog_id}, "
                                          f"this store's is {store_id})")
        return Verdict(True)
    if catalog_id:  # the store has no id
        if store_data:
            return Verdict(False, problem=f"the store holds {store_data} data but has lost its id file "
                                          f"({STORE_ID_FILE}); the catalog's is {catalog_id}")
        return Verdict(True, "write-store-id")
    # a catalog from before pairing (or a brand-new one): adopt, unless that would hide a mismatch
    if store_id and store_data:
        return Verdict(False, problem=f"the catalog carries no store id but the store holds {store_data} data "
                                      f"under id {store_id}")
    if store_data and not catalog_data:
        return Verdict(False, problem=f"the catalog knows no data but the store holds {store_data}")
    return Verdict(True, "adopt-store-id" if store_id else "new-id")


# -- the edges -------------------------------------------------------------------------------


def inspect_file(path: Path) -> str:
    """"missing", "empty", "damaged" (no SQLite header) or "sqlite"."""
    from .catalog.openfiles import read_head

    try:
        head = read_head(path, len(SQLITE_MAGIC))
    except FileNotFoundError:
        return "missing"
    except IsADirectoryError:
        return "damaged"
    if head is None:  # this process has it open: a database, and must not be opened again (openfiles)
        return "sqlite"
    if not head:
        return "empty"
    return "sqlite" if head == SQLITE_MAGIC else "damaged"


def store_data(data_dir: Path) -> int:
    """How many data directories (entries named like ids) the store holds."""
    try:
        return sum(1 for e in os.scandir(data_dir) if ID_RE.match(e.name))
    except FileNotFoundError:
        return 0


def read_store_id(root: Path) -> str | None:
    """The store's id, kept in KNIT_HOME (`root`)."""
    try:
        text = (root / STORE_ID_FILE).read_text(errors="replace").strip()
    except FileNotFoundError:
        return None
    return text or None


def write_store_id(root: Path, store_id: str) -> str:
    """Create the store's id file in KNIT_HOME (`root`); if another process made it first, its id wins (returned)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = root / STORE_ID_FILE
    tmp = root / f".{STORE_ID_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, (store_id + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces an id another process wrote
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return read_store_id(root) or store_id


def catalog_id(conn: sqlite3.Connection) -> str | None:
    from .catalog import upkeep

    return upkeep.store_id(conn)


def new_store_id() -> str:
    return os.urandom(16).hex()  # secrets.token_hex(16), without importing secrets on every start


def refusal(home, problem: str) -> CatalogRefused:
    return CatalogRefused(f"{problem} — catalog {home.catalog}, store {home.data}; nothing was changed. "
                          f"To recover: {RECOVER}")


def check_new_catalog(path: Path) -> None:
    """Before a catalog file is created (or an empty one filled): refuse beside a store that holds data."""
    if path.name != "catalog.db":
        return
    n = store_data(path.parent / "data")
    if n and inspect_file(path) in ("missing", "empty"):
        from .home import Home

        state = inspect_file(path)
        raise refusal(Home(path.parent), f"the catalog is {state} but the store holds {n} data")


def pair(home, catalog, *, file_state: str) -> None:
    """Check the catalog against the store, pairing them when that is safe; raises CatalogRefused."""
    from .catalog import upkeep
    from .catalog.db import now_ms

    cid = catalog_id(catalog.conn)
    sid = read_store_id(home.root)
    if cid and sid and cid == sid:
        return  # the common case: one read of each, no scan of the store, no write
    n = store_data(home.data)
    known = upkeep.data_count(catalog.conn) if not cid else None
    v = verdict(file_state=file_state, catalog_id=cid, store_id=sid, store_data=n, catalog_data=known)
    if not v.ok:
        raise refusal(home, v.problem)
    with catalog.write() as c:  # serialised: two processes pairing a home at once agree on one id
        cid = catalog_id(c)
        sid = read_store_id(home.root)
        if cid is None:
            sid = sid or write_store_id(home.root, new_store_id())
            upkeep.pair(c, sid, now_ms())
        elif sid is None:
            sid = write_store_id(home.root, cid)
        if cid is not None and sid != cid:
            raise refusal(home, f"the catalog belongs to another store (store id {cid}, this store's is {sid})")


def status(home, catalog) -> tuple[bool, str]:
    """(paired, a sentence) for doctor and GC: never writes."""
    from .catalog import upkeep

    cid = catalog_id(catalog.conn)
    sid = read_store_id(home.root)
    n = store_data(home.data)
    if cid and cid == sid:
        return True, f"catalog and store belong together (store id {cid[:12]}…, {n} data in the store)"
    v = verdict(file_state="sqlite", catalog_id=cid, store_id=sid, store_data=n,
                catalog_data=upkeep.data_count(catalog.conn))
    return False, v.problem or "not paired yet (the next command pairs them)"
