"""knitd's components and how they are doing: KNIT_HOME/health.json (0600).

knitd's run loop and folder watcher each report (`Health.beat`) as they go round; the file is
rewritten atomically when a component's state changes, or at most every WRITE_SECONDS. Readers
(`knitctl status`, `doctor`) judge it with `judge`: a component is unhealthy when it says so,
or when it has not reported for STALE_SECONDS (stuck or dead without a word).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

FILE = "health.json"
WRITE_SECONDS = 5.0
STALE_SECONDS = 30.0
COMPONENTS = ("run loop", "folder watcher")


def path(home) -> Path:
    return home.root / FILE


class Health:
    """knitd's side: components beat; the file follows."""

    def __init__(self, home, pid: int | None = None):
        self.file = path(home)
        self.pid = pid or os.getpid()
        self.lock = threading.Lock()
        self.state: dict[str, dict] = {}
        self.written = 0.0

    def beat(self, name: str, state: str = "ok", detail: str = "", **extra) -> None:
        now = time.time()
        with self.lock:
            old = self.state.get(name, {})
            entry = {**old, **extra, "state": state, "detail": detail, "at": now}
            self.state[name] = entry
            changed = (old.get("state"), old.get("detail")) != (state, detail)
            if changed or now - self.written >= WRITE_SECONDS:
                self._write(now)

    def _write(self, now: float) -> None:
        doc = {"pid": self.pid, "written": now, "components": self.state}
        tmp = self.file.with_name(f".{FILE}.{self.pid}.tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f)
            os.replace(tmp, self.file)
            self.written = now
        except OSError:
            pass  # health is advisory: a full disk must not stop knitd's work


def read(home) -> dict | None:
    try:
        with open(path(home), "rb") as f:
            doc = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def judge(doc: dict | None, pid: int | None, now: float) -> list[dict]:
    """Each component as {name, ok, detail} (pure): stale, failed or never reported counts as unhealthy."""
    if not pid:
        return []
    if not doc or doc.get("pid") != pid or not isinstance(doc.get("components"), dict):
        return [{"name": n, "ok": False, "detail": "has not reported yet (knitd is starting, or is stuck)"}
                for n in COMPONENTS]
    out = []
    comps = doc["components"]
    for name in COMPONENTS:
        c = comps.get(name)
        if not isinstance(c, dict):
            out.append({"name": name, "ok": False, "detail": "has not reported (it never started)"})
            continue
        age = now - float(c.get("at") or 0)
        state, detail = str(c.get("state")), str(c.get("detail") or "")
        restarts = c.get("restarts") or 0
        suffix = f"; restarted {restarts} time(s)" if restarts else ""
        if state == "starting" and age <= STALE_SECONDS:
            out.append({"name": name, "ok": True, "detail": f"starting: {detail}"})
        elif state != "ok":
            out.append({"name": name, "ok": False, "detail": f"{state}: {detail}{suffix}"})
        elif age > STALE_SECONDS:
            out.append({"name": name, "ok": False, "detail": f"silent for {age:.0f}s (stuck?){suffix}"})
        else:
            out.append({"name": name, "ok": True, "detail": f"ok ({age:.0f}s ago){suffix}"})
    return out


def components(home) -> list[dict]:
    from . import knitd

    return judge(read(home), knitd.running_pid(home), time.time())


def metadata_port(home, pid: int | None) -> int | None:
    """The port knitd `pid` serves ML Metadata's gRPC service on (`--metadata-port`), if it does."""
    doc = read(home) if pid else None
    if not doc or doc.get("pid") != pid:
        return None
    served = (doc.get("components") or {}).get("metadata server")
    port = served.get("port") if isinstance(served, dict) else None
    return port if isinstance(port, int) and port > 0 else None
