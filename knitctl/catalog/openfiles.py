"""Which database files this process has open through SQLite, so that nothing else closes them.

POSIX record locks belong to a process and a file, not to a descriptor: closing *any* descriptor
of a file drops every lock the process holds on it. SQLite guards against that among its own
connections, but a plain `open()` and `close()` of a catalog — to read its header — while a
connection is open in the same process silently drops that connection's locks. Another process
closing its own connection then believes it is the last one and deletes the WAL from under the
first, whose reads go stale and whose commits are lost (knitd stopped seeing new runs this way).

So every header read goes through `read_head`, which reads nothing from a file this process has
open (it is a database: it was checked when it was opened), and every connection that knit
opens on a file registers here for its lifetime.
"""

from __future__ import annotations

import os
import threading
from collections import Counter

_lock = threading.Lock()
_open: Counter[tuple[int, int]] = Counter()


def _key(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def opened(path: str | os.PathLike) -> tuple[int, int] | None:
    """Record a connection on `path`; returns the token `closed` takes."""
    key = _key(path)
    if key is not None:
        with _lock:
            _open[key] += 1
    return key


def closed(key: tuple[int, int] | None) -> None:
    if key is None:
        return
    with _lock:
        _open[key] -= 1
        if _open[key] <= 0:
            del _open[key]


def is_open(path: str | os.PathLike) -> bool:
    key = _key(path)
    with _lock:
        return key is not None and key in _open


def read_head(path: str | os.PathLike, n: int) -> bytes | None:
    """The first `n` bytes of `path`, or None when this process has it open (read nothing then).

    Raises what `open` raises (FileNotFoundError for a missing file, …).
    """
    if is_open(path):
        return None
    with open(path, "rb") as f:
        return f.read(n)
