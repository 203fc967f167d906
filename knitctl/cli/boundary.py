"""The last line of the CLI's error boundary: what is said for errors no command expected.

A command turns everything it foresees into a KnitError. What is left — SQLite
finding the catalog damaged, or a bug — is still one line on the terminal,
never a traceback: the line says what happened and where the details went.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
import traceback
from pathlib import Path

# SQLite's words for a file that isn't (or is no longer) a sound database
_DAMAGE = ("not a database", "malformed", "corrupt", "disk image", "file is encrypted", "unsupported file format")


def catalog_path() -> str:
    try:
        from ..home import Home

        return str(Home.resolve().catalog)
    except Exception:  # noqa: BLE001 - only naming the file; the home itself may be what's wrong
        return "KNIT_HOME/catalog.db"


def is_damage(e: sqlite3.DatabaseError) -> bool:
    """True when SQLite says the file is damaged, not merely busy or unwritable."""
    text = str(e).lower()
    return not isinstance(e, sqlite3.OperationalError) or any(w in text for w in _DAMAGE)


def database_error(e: sqlite3.DatabaseError) -> str:
    """The line for an SQLite error no command foresaw."""
    path = catalog_path()
    if is_damage(e):
        return f"knitctl: error: the catalog at {path} is damaged ({e}): run `knitctl doctor`"
    return f"knitctl: error: the catalog at {path} could not be used ({e}); `knitctl doctor` checks it"


def _details_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "knit" / "crashes"


def write_details(e: BaseException, argv: list[str]) -> str | None:
    """The traceback in a private file (its path), or None when no file could be written."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    text = (
        f"knitctl {' '.join(repr(a) if len(a) < 200 else repr(a[:200]) + '...' for a in argv)}\n"
        f"python {sys.version.split()[0]}, {stamp}Z\n\n"
        + "".join(traceback.format_exception(type(e), e, e.__traceback__))
    )
    for d in (_details_dir(), Path(tempfile.gettempdir())):
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = d / f"knitctl-{stamp}-{os.getpid()}.log"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
                f.write(text)
            return str(path)
        except Exception:  # noqa: BLE001 - try the next place; never fail while reporting a failure
            continue
    return None


def unexpected(e: BaseException, argv: list[str]) -> str:
    """The line for an exception nothing handled: what it was and where its traceback is."""
    if isinstance(e, RecursionError):
        what = "the input is nested too deeply to handle"
    elif isinstance(e, MemoryError):
        what = "ran out of memory (is an input file far larger than it should be?)"
    else:
        what = f"unexpected {type(e).__name__}: {str(e)[:200]}"
    where = write_details(e, argv)
    details = f"details in {where}" if where else "no details could be written"
    return f"knitctl: error: {what}; {details} — please report it if the input was sound"
