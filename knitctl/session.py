"""An open KNIT_HOME: its catalog and store, with crash leftovers reclaimed."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from . import pairing
from .catalog import Catalog
from .catalog import data as data_rows
from .catalog import plans as plan_rows
from .catalog.db import CatalogDamaged, damaged
from .catalog.records import UPLOAD_PLAN, ensure_upload_plan
from .home import Home
from .store import Store


@dataclass
class Session:
    home: Home
    catalog: Catalog
    store: Store

    @classmethod
    def open(cls, home: Home | None = None, *, reclaim: bool = True) -> Session:
        home = home or Home.resolve()
        home.ensure()
        state = pairing.inspect_file(home.catalog)
        if state == "damaged":
            raise CatalogDamaged(f"the catalog at {home.catalog} is damaged (not an SQLite database); "
                                 f"run `knitctl doctor` for a report. To recover: {pairing.RECOVER}")
        catalog = Catalog(home.catalog)  # refuses to create one beside a store that holds data
        try:
            pairing.pair(home, catalog, file_state=state)
            if plan_rows.row(catalog.conn, UPLOAD_PLAN) is None:  # a read, not a write, each time
                with catalog.write() as c:
                    ensure_upload_plan(c)
        except sqlite3.DatabaseError as e:
            catalog.close()
            raise damaged(str(home.catalog), e) from None
        except BaseException:
            catalog.close()
            raise
        session = cls(home, catalog, Store(home))
        if reclaim:
            session.reclaim()
        return session

    @classmethod
    def reader(cls, home: Home) -> Session:
        """A read-only view of an existing KNIT_HOME (the TUI's): its catalog opened read-only, nothing
        paired, reclaimed or written."""
        return cls(home, Catalog(home.catalog, readonly=True), Store(home))

    def reclaim(self) -> list[str]:
        return self.store.reclaim(self.is_committed)

    def is_committed(self, knit_id: str) -> bool:
        return data_rows.is_committed(self.catalog.conn, knit_id)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
