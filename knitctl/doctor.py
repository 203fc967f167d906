"""`knitctl doctor`: what works, what doesn't, and how to fix it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from . import knitd
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


def home_checks(home: Home, *, digests: bool) -> list[dict]:
    out = []
    if not home.catalog.exists():
        return [check("catalog", False, f"no catalog at {home.catalog}", "create it: knitctl init")]
    free = shutil.disk_usage(home.root).free
    out.append(check("disk", free >= MIN_FREE_BYTES, f"{free / 2**30:.1f} GiB free in {home.root}",
                     "free some space, or move KNIT_HOME to a bigger disk"))
    from .session import Session

    with Session.open(home, reclaim=False) as s:
        result = s.catalog.one("PRAGMA integrity_check")[0]
        out.append(check("catalog", result == "ok", f"integrity check: {result}",
                         "restore catalog.db from a backup; keep the damaged file for inspection"))
        if digests:
            bad = []
            rows = s.catalog.query("SELECT knit_id, digest FROM data WHERE digest IS NOT NULL")
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
            out.append(check("store", not bad, f"{len(rows) - len(bad)} of {len(rows)} data match their digests"
                             + (f"; damaged: {', '.join(bad[:10])}" if bad else ""),
                             "damaged data can't be repaired; `knitctl run retry` remakes run outputs, uploads need a new push"))
    pid = knitd.running_pid(home)
    out.append(check("knitd", bool(pid), f"running (pid {pid})" if pid else "not running",
                     "start it: knitctl up"))
    return out


def run(home: Home, *, digests: bool = False, context: str | None = None) -> list[dict]:
    if context:
        return executor_checks(only=context)
    return executor_checks() + home_checks(home, digests=digests)
