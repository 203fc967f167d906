"""`knitctl doctor`: what works, what doesn't, and how to fix it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from . import knitd
from .catalog import upkeep
from .home import Home

MIN_FREE_BYTES = 2 << 30


def check(name: str, ok: bool, detail: str, fix: str = "") -> dict:
    return {"check": name, "ok": ok, "detail": detail, "fix": "" if ok else fix}


def executor_checks(contexts: bool = True, only: str | None = None) -> list[dict]:
    cmd = [sys.executable, "-m", "daemon.doctor"] + (["--context", only] if only else ["--contexts"] if contexts else [])
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return json.loads(r.stdout)
    except (subprocess.SubprocessError, json.JSONDecodeError, OSError) as e:
        return [check("executors", False, f"the checks could not run ({e})", "reinstall knit (./install.sh)")]


REPAIR = "stop knitd (`knitctl down`), then `knitctl doctor --repair` (it keeps the old file aside and never deletes store data), or restore catalog.db from a backup"


def home_checks(home: Home, *, digests: bool) -> list[dict]:
    """Each check survives what it diagnoses: a damaged catalog is a finding, never a traceback."""
    out = []
    for name, fn in (("disk", _disk), ("catalog", _catalog), ("store", _store), ("watcher", _components)):
        try:
            out += fn(home)
        except Exception as e:  # noqa: BLE001 — a check that breaks is itself the finding
            out.append(check(name, False, f"could not be checked ({type(e).__name__}: {e})", REPAIR))
    healthy = all(r["ok"] for r in out if r["check"] in ("catalog", "pairing"))
    if digests and healthy:
        try:
            out.append(_digests(home))
        except Exception as e:  # noqa: BLE001
            out.append(check("digests", False, f"could not be checked ({type(e).__name__}: {e})", REPAIR))
    pid = knitd.running_pid(home)
    out.append(check("knitd", bool(pid), f"running (pid {pid})" if pid else "not running",
                     "start it: knitctl up"))
    return out


def _disk(home: Home) -> list[dict]:
    if not home.root.exists():
        return []
    free = shutil.disk_usage(home.root).free
    return [check("disk", free >= MIN_FREE_BYTES, f"{free / 2**30:.1f} GiB free in {home.root}",
                  "free some space, or move KNIT_HOME to a bigger disk")]


def _ro(home: Home):
    from .catalog.repair import open_untouched

    return open_untouched(home.catalog)


def _catalog(home: Home) -> list[dict]:
    """SQLite's quick check of the file, then the pairing of the catalog with the store."""
    import sqlite3

    from . import pairing

    state = pairing.inspect_file(home.catalog)
    n = pairing.store_data(home.data)
    if state in ("missing", "empty"):
        if not n:
            return [check("catalog", True, f"no catalog yet at {home.catalog}; the first command creates it")]
        return [check("catalog", False, f"the catalog at {home.catalog} is {state} but the store holds {n} data", REPAIR)]
    if state == "damaged":
        return [check("catalog", False, f"{home.catalog} is damaged: not an SQLite database", REPAIR)]
    try:
        conn = _ro(home)
    except sqlite3.DatabaseError as e:
        return [check("catalog", False, f"{home.catalog} can't be opened ({e})", REPAIR)]
    try:
        result = upkeep.quick_check(conn, 5)
        ok = result == ["ok"]
        out = [check("catalog", ok, f"{home.catalog}: SQLite quick check: {'; '.join(result)[:300]}", REPAIR)]
        if not ok:
            return out
        try:
            cid = pairing.catalog_id(conn)
        except sqlite3.OperationalError:
            cid = None
        known = upkeep.data_count(conn)
    finally:
        conn.close()
    sid = pairing.read_store_id(home.root)
    v = pairing.verdict(file_state="sqlite", catalog_id=cid, store_id=sid, store_data=n, catalog_data=known)
    if not v.ok:
        out.append(check("pairing", False, v.problem, REPAIR))
    elif cid and cid == sid:
        out.append(check("pairing", True, f"the catalog and the store belong together (store id {cid[:12]})"))
    else:
        out.append(check("pairing", True, "not paired yet; the next command pairs the catalog with the store"))
    return out


def _store(home: Home) -> list[dict]:
    """Committed data missing from the store, and store directories the catalog doesn't know."""
    import os
    import sqlite3

    from .ids import ID_RE

    if pairing_state_bad(home):
        return []
    try:
        conn = _ro(home)
        with conn:
            committed, known = upkeep.data_ids(conn)
        conn.close()
    except sqlite3.DatabaseError:
        return []  # the catalog check says why
    try:
        present = {e.name for e in os.scandir(home.data) if ID_RE.match(e.name)}
    except FileNotFoundError:
        present = set()
    missing, extra = sorted(committed - present), sorted(present - known)
    detail = f"{len(present)} data directories; {len(committed)} committed in the catalog"
    out = [check("store", not missing, detail + (f"; missing from the store: {', '.join(missing[:10])}" if missing else ""),
                 "missing data can't be brought back: `knitctl run retry` remakes run outputs, uploads need a new push")]
    if extra:
        out.append(check("store extras", True, f"{len(extra)} directories the catalog doesn't know "
                         f"({', '.join(extra[:10])}); knitd's GC removes them at its next start"))
    return out


def pairing_state_bad(home: Home) -> bool:
    from . import pairing

    return pairing.inspect_file(home.catalog) != "sqlite"


def _components(home: Home) -> list[dict]:
    from . import health

    if not knitd.running_pid(home):
        return []
    return [check(f"knitd {c['name']}", c["ok"], c["detail"], c.get("fix") or "restart knitd: knitctl down && knitctl up; "
                  f"see {home.daemon_log}") for c in health.components(home)]


def _digests(home: Home) -> dict:
    from .session import Session

    with Session.open(home, reclaim=False) as s:
        bad = []
        rows = upkeep.digests(s.catalog.conn)
        for kid, digest in rows:
            try:
                if digest == "deferred":  # a --move not hashed yet: hash it now, nothing to compare
                    from .data import ensure_digest

                    ensure_digest(s, kid)
                    continue
                if s.store.manifest(s.store.path_of(kid)).digest != digest:
                    bad.append(kid)
            except OSError:
                bad.append(kid)
    return check("digests", not bad, f"{len(rows) - len(bad)} of {len(rows)} data match their digests"
                 + (f"; damaged: {', '.join(bad[:10])}" if bad else ""),
                 "damaged data can't be repaired; `knitctl run retry` remakes run outputs, uploads need a new push")


def run(home: Home, *, digests: bool = False, context: str | None = None) -> list[dict]:
    if context:
        return executor_checks(only=context)
    return executor_checks() + home_checks(home, digests=digests)
