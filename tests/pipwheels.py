"""Installing knit the way users do, fast and offline: a wheelhouse of knit's dependencies and build
backend, and the environment that makes pip use only it.

`wheelhouse(request, tmp_path_factory)` builds it once per test process (kept in pytest's cache when
the cache provider is on): offline from the previous wheelhouse when it still satisfies
pyproject.toml, else from the configured index, as the development install just did. `pip_env(wh,
cache)` is what points pip at it: `PIP_NO_INDEX=1`, `PIP_FIND_LINKS`, `PIP_CONFIG_FILE=/dev/null`, a
pip cache of the caller's. pip still resolves, builds and installs — only the download is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO

TIMEOUT = 600
_built: dict[str, Path] = {}


def fail_or_skip(msg: str):
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def wheelhouse(request, tmp_path_factory) -> Path:
    if "wh" in _built:
        return _built["wh"]
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    reqs = list(meta["project"]["dependencies"]) + list(meta["build-system"]["requires"]) + ["wheel"]
    cache = getattr(request.config, "cache", None)
    wh = Path(cache.mkdir("knit-install-wheelhouse")) if cache is not None else tmp_path_factory.mktemp("wheelhouse")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "-q", "-w", str(wh)]
    offline = subprocess.run([*pip, "--no-index", "--find-links", str(wh), *reqs], capture_output=True, text=True,
                             env={**os.environ, "PIP_CONFIG_FILE": os.devnull}, timeout=TIMEOUT)
    if offline.returncode != 0:
        online = subprocess.run([*pip, *reqs], capture_output=True, text=True, timeout=TIMEOUT)
        if online.returncode != 0:
            fail_or_skip(f"can't build the wheelhouse for the install tests:\n{online.stderr[-2000:]}")
    _built["wh"] = wh
    return wh


def pip_env(wh: Path, pip_cache: Path) -> dict[str, str]:
    return {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wh),
        "PIP_CACHE_DIR": str(pip_cache),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_COMPILE": "1",
    }
