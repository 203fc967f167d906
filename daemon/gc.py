"""Garbage collection at knitd's start: directories in the store the catalog no longer knows.

retry and rm drop outputs from the catalog first and delete their directories after the
commit; a process killed between the two leaves a directory behind, which this finds.
Directories whose id a live process has claimed (a push in flight) are left alone.
"""

from __future__ import annotations

import fcntl
import logging
import os

from knitctl.session import Session
from knitctl.store import LOCK_SUFFIX

log = logging.getLogger("knitd")


def sweep(session: Session) -> list[str]:
    data_dir = session.home.data
    if not data_dir.exists():
        return []
    names = [e.name for e in os.scandir(data_dir)]
    known: set[str] = set()
    for i in range(0, len(names), 500):
        chunk = names[i : i + 500]
        known.update(r[0] for r in session.catalog.query(
            f"SELECT knit_id FROM data WHERE knit_id IN ({','.join('?' * len(chunk))})", chunk))
    swept = []
    for name in names:
        if name in known or _claimed(session, name):
            continue
        session.store.discard_path(data_dir / name)
        swept.append(name)
    if swept:
        log.info("gc: removed %d director%s the catalog no longer knows: %s", len(swept),
                 "y" if len(swept) == 1 else "ies", ", ".join(swept[:10]))
    session.store.empty_trash()
    return swept


def _claimed(session: Session, knit_id: str) -> bool:
    lock = session.home.staging / (knit_id + LOCK_SUFFIX)
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
