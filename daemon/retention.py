"""knitd applies the retention rules (knitctl.retention) on a schedule: the config's `retention.every`.

At start it finishes what a killed gc left `dropping` (whatever the config says); then, when `every` is set,
it applies the rules that often, re-reading the config each time (an edit takes effect at the next pass).
Like the other GC (daemon/gc.py), nothing is deleted unless the catalog is paired with this store:
`retention.gc` refuses otherwise, and this thread logs why.
"""

from __future__ import annotations

import logging
import threading

from knitctl import config, retention
from knitctl.errors import KnitError
from knitctl.home import Home
from knitctl.session import Session

log = logging.getLogger("knitd")
IDLE_SECONDS = 60.0   # how often an unscheduled knitd looks again at the config for `every`


def one_pass(session: Session, rules: retention.Retention) -> retention.Report | None:
    try:
        report = retention.gc(session, rules)
    except KnitError as e:
        log.error("retention: %s", e.message)
        return None
    except Exception:  # noqa: BLE001 — a pass that fails is logged; the next one tries again
        log.exception("retention: the gc pass failed")
        return None
    if report.drops:
        log.info("retention: dropped %d datum(s), %d bytes freed: %s", len(report.drops), report.size,
                 ", ".join(f"{d.knit_id} ({d.rule})" for d in report.drops[:10]))
    return report


def serve(home: Home, stop: threading.Event) -> None:
    with Session.open(home, reclaim=False) as session:
        one_pass(session, retention.Retention())   # finish a killed gc's `dropping` data; choose nothing new
        while not stop.is_set():
            try:
                rules = retention.parse(config.load().retention)
            except KnitError as e:
                log.error("retention: the config's rules can't be used: %s", e.message)
                rules = retention.Retention()
            if rules.every_ms is None or not rules.rules:
                stop.wait(IDLE_SECONDS)
                continue
            one_pass(session, rules)
            stop.wait(rules.every_ms / 1000)
