"""knitd's background hashing of data whose push deferred the digest (`--move`)."""

from __future__ import annotations

import logging
import threading

from knitctl.data import deferred, ensure_digest
from knitctl.errors import KnitError
from knitctl.home import Home
from knitctl.session import Session

log = logging.getLogger("knitd")

IDLE_SECONDS = 5.0


def serve(home: Home, stop: threading.Event, wake: threading.Event) -> None:
    """Hash deferred data one at a time; sleep until woken (a catalog change) or a few seconds pass."""
    with Session.open(home, reclaim=False) as session:
        while not stop.is_set():
            for knit_id in deferred(session):
                if stop.is_set():
                    return
                try:
                    ensure_digest(session, knit_id)
                    log.info("hashed %s (pushed with --move)", knit_id)
                except FileNotFoundError:
                    log.warning("datum %s: its directory is missing; `knitctl doctor --digests` reports it", knit_id)
                except KnitError as e:  # e.g. a special file found in it: said once a pass, never opened
                    log.warning("datum %s: can't be hashed: %s", knit_id, e.message)
                except Exception:
                    log.exception("hashing %s failed", knit_id)
            wake.wait(IDLE_SECONDS)
            wake.clear()
