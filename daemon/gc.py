"""Garbage collection at knitd's start: directories in the store the catalog no longer knows.

retry and rm drop outputs from the catalog first and delete their directories after the
commit; a process killed between the two leaves a directory behind, which this finds.
A push in flight holds its id's claim and is left alone (see `Store.sweep`).
"""

from __future__ import annotations

import logging

from knitctl.session import Session

log = logging.getLogger("knitd")


def sweep(session: Session) -> list[str]:
    def known(ids: list[str]) -> set[str]:
        out: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            out.update(r[0] for r in session.catalog.query(
                f"SELECT knit_id FROM data WHERE knit_id IN ({','.join('?' * len(chunk))})", chunk))
        return out

    swept = session.store.sweep(known)
    if swept:
        log.info("gc: removed %d director%s the catalog no longer knows: %s", len(swept),
                 "y" if len(swept) == 1 else "ies", ", ".join(swept[:10]))
    return swept
