"""knitd's process from the outside: is it running, start it, stop it.

knitctl never imports the daemon; it talks to it through the pid file (held
under an exclusive lock while knitd lives) and the catalog.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import KnitError
from .home import Home


def running_pid(home: Home) -> int | None:
    """knitd's pid when it holds its lock, else None."""
    path = home.daemon_pid
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = Path(path).read_text().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class PidLock:
    """Held by a running knitd: one daemon per KNIT_HOME."""

    def __init__(self, home: Home):
        self.path = home.daemon_pid
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            other = Path(self.path).read_text().strip()
            raise KnitError(f"knitd is already running for this KNIT_HOME (pid {other}); `knitctl down` stops it") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        os.fsync(fd)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _systemd_unit_installed() -> bool:
    if not shutil.which("systemctl"):
        return False
    r = subprocess.run(["systemctl", "--user", "is-enabled", "knitd.service"], capture_output=True, text=True)
    return r.returncode == 0


def start(home: Home, args: Sequence[str] = (), *, wait: float = 15.0) -> int:
    """Start knitd in the background (through the systemd user unit when installed)."""
    pid = running_pid(home)
    if pid:
        return pid
    if "KNIT_HOME" not in os.environ and _systemd_unit_installed() and not args:
        subprocess.run(["systemctl", "--user", "start", "knitd.service"], check=False)
    else:
        cmd = [sys.executable, "-m", "daemon", "--home", str(home.root), *args]
        env = dict(os.environ)
        err_fd = os.open(home.root / "knitd.err", os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        try:
            subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_fd,
                start_new_session=True, env=env, cwd=str(home.root),
            )
        finally:
            os.close(err_fd)
    from . import health

    deadline = time.monotonic() + wait
    seen = None
    while time.monotonic() < deadline:
        pid = running_pid(home)
        if pid and (health.read(home) or {}).get("pid") == pid:
            return pid  # past its checks (catalog, store, executor) and serving
        if seen and not pid:
            break  # it held its lock and let go: it refused to start
        seen = seen or pid
        time.sleep(0.05)
    err = home.root / "knitd.err"
    tail = err.read_text(errors="replace").strip().splitlines()[-1:] if err.exists() else []
    if running_pid(home):
        raise KnitError(f"knitd (pid {running_pid(home)}) started but has not reported in {wait:.0f}s; "
                        f"see {home.daemon_log}")
    raise KnitError("knitd did not start" + (f": {tail[0]}" if tail else "") + f"; see {home.daemon_log}")


def stop(home: Home, *, wait: float = 30.0) -> int | None:
    """SIGTERM knitd and wait until it has let go of its lock. Running containers keep running."""
    pid = running_pid(home)
    if not pid:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return pid
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not running_pid(home):
            return pid
        time.sleep(0.05)
    raise KnitError(f"knitd (pid {pid}) did not stop within {wait:.0f}s; `kill -9 {pid}` ends it (nothing is lost)")
