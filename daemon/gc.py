"""Garbage collection at knitd's start: directories in the store the catalog no longer knows.

retry and rm drop outputs from the catalog first and delete their directories after the
commit; a process killed between the two leaves a directory behind, which this finds.
A push in flight holds its id's claim and is left alone (see `Store.sweep`).

GC deletes what the catalog does not know, so it runs only when the catalog positively
vouches for the store: it belongs to this store (knitctl.pairing), passes SQLite's quick
check, and knows some data if the store holds any. Otherwise it logs why and removes nothing.
Names that are not data ids (the store's id file, anything a user put there) are never touched.
"""

from __future__ import annotations

import logging
import sqlite3

from knitctl import pairing
from knitctl.catalog import scheduler
from knitctl.ids import ID_RE
from knitctl.session import Session

log = logging.getLogger("knitd")


def unsafe(session: Session) -> str | None:
    """Why GC must not run now (one clause), or None when the catalog vouches for the store."""
    try:
        paired, why = pairing.status(session.home, session.catalog)
        if not paired:
            return why
        check = scheduler.quick_check(session.catalog.conn)
        if check != "ok":
            return f"the catalog fails SQLite's quick check ({check})"
        if pairing.store_data(session.home.data) and not scheduler.data_count(session.catalog.conn):
            return "the catalog knows no data while the store holds some"
    except sqlite3.DatabaseError as e:
        return f"the catalog can't be read ({e})"
    return None


def sweep(session: Session) -> list[str]:
    why = unsafe(session)
    if why:
        log.error("gc: skipped, nothing removed: %s; `knitctl doctor` explains what to do", why)
        return []

    def known(ids: list[str]) -> set[str]:
        out: set[str] = {i for i in ids if not ID_RE.match(i)}   # not data: never swept
        return out | scheduler.known_data_ids(session.catalog.conn, [i for i in ids if ID_RE.match(i)])

    swept = session.store.sweep(known)
    if swept:
        log.info("gc: removed %d director%s the catalog no longer knows: %s", len(swept),
                 "y" if len(swept) == 1 else "ies", ", ".join(swept[:10]))
    return swept
