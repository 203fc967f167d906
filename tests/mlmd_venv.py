"""The real ml-metadata 1.17.1, in a virtualenv of its own, for tests that compare knit with it.

ml-metadata pins protobuf < 5 and attrs < 24, so it cannot share knit's environment. The first
test that needs it makes `$XDG_CACHE_HOME/knit-tests/mlmd-venv` (default `~/.cache/...`) with
Python 3.11 and pip-installs `ml-metadata==1.17.1`; later runs reuse it. `KNIT_MLMD_PYTHON`
names an interpreter that already has it instead.

`python()` gives that interpreter; `site_packages()` its site-packages (where the wheel's own
test suite lives); `run(code, ...)` runs a Python snippet with it and returns its stdout.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

VERSION = "1.17.1"
REQUIREMENTS = [f"ml-metadata=={VERSION}", "protobuf<5", "attrs<24"]
_CHECK = f"import ml_metadata, sys; sys.exit(0 if ml_metadata.__version__ == '{VERSION}' else 1)"


class Unavailable(RuntimeError):
    """ml-metadata 1.17.1 could not be made available (the message says why and what to do)."""


def venv_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "knit-tests" / "mlmd-venv"


def _works(py: Path) -> bool:
    return py.exists() and subprocess.run([str(py), "-c", _CHECK], capture_output=True).returncode == 0


def _base_python() -> str | None:
    """A Python 3.11 to build the virtualenv with (ml-metadata 1.17.1 ships cp311 wheels only)."""
    if sys.version_info[:2] == (3, 11):
        for candidate in (Path(sys.base_prefix) / "bin" / "python3.11", Path(sys.base_prefix) / "bin" / "python3"):
            if candidate.exists():
                return str(candidate)
    return shutil.which("python3.11")


_cached: Path | None = None


def python() -> Path:
    """The interpreter with ml-metadata 1.17.1, making its virtualenv on first use."""
    global _cached
    if _cached is not None:
        return _cached
    explicit = os.environ.get("KNIT_MLMD_PYTHON")
    if explicit:
        if not _works(Path(explicit)):
            raise Unavailable(f"KNIT_MLMD_PYTHON={explicit} has no ml-metadata {VERSION}")
        _cached = Path(explicit)
        return _cached
    venv = venv_dir()
    py = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "mlmd-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one maker at a time; the others then find it made
        if not _works(py):
            base = _base_python()
            if base is None:
                raise Unavailable(f"ml-metadata {VERSION} needs Python 3.11; install python3.11 and run again")
            r = subprocess.run([base, "-m", "venv", "--clear", str(venv)], capture_output=True, text=True)
            if r.returncode != 0:
                raise Unavailable(f"could not make {venv}: {r.stderr.strip()[-300:]}")
            r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *REQUIREMENTS],
                               capture_output=True, text=True)
            if r.returncode != 0 or not _works(py):
                tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
                raise Unavailable(f"pip could not install {' '.join(REQUIREMENTS)} into {venv}: {tail[0]}")
    _cached = py
    return py


def site_packages() -> Path:
    out = subprocess.run(
        [str(python()), "-c", "import ml_metadata, os; print(os.path.dirname(os.path.dirname(ml_metadata.__file__)))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    return Path(out)


def run(code: str, *args: str, timeout: float = 300) -> str:
    """Run `code` with ml-metadata's interpreter (argv[1:] = args); its stdout, or an AssertionError with stderr."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", GLOG_minloglevel="3")
    env.pop("PYTHONPATH", None)
    r = subprocess.run([str(python()), "-c", code, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        raise AssertionError(f"ml-metadata script failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    return r.stdout
