"""The `knitctl` entry point and its error boundary.

The Typer app (`app.py`) is the one definition of the CLI. It is imported when a
command needs it; the one-liners (`fast.py`) are answered without it, from a
description of it that an earlier run cached. `from knitctl.cli.main import app`
still gives the app.
"""

from __future__ import annotations

import os
import sqlite3
import sys

from ..errors import KnitError
from .output import message


def __getattr__(name: str):
    if name == "app":
        from .app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Never(Exception):
    """Stands for a Typer exception while Typer is not imported (so nothing can have raised one)."""


def _typer(name: str) -> type[BaseException]:
    typer = sys.modules.get("typer")
    return getattr(typer, name) if typer is not None else _Never


def _dispatch(argv: list[str]):
    if "_KNITCTL_COMPLETE" in os.environ:  # a TAB: catalog values are answered without Typer
        from . import complete

        if complete.serve():
            return 0
    from . import fast

    served, rc = fast.serve(argv)
    if served:
        return rc
    from .. import plugins
    from ..projectdefaults import enable as enable_project_defaults

    enable_project_defaults()  # a plugin sees a knit.yaml's context in KNIT_CONTEXT, as built-ins use it
    plugins.dispatch(argv, fast.builtin_names)  # `knitctl NAME` runs knitctl-NAME from PATH (never returns then)
    return fast.through_typer(argv)


def run() -> None:
    """Console script: user errors become one line on stderr and an exit code."""
    try:
        rc = _dispatch(sys.argv[1:])  # click returns a typer.Exit's code here instead of raising
        sys.exit(rc if isinstance(rc, int) else 0)
    except KnitError as e:
        message(f"knitctl: error: {e.message}")
        sys.exit(e.exit_code)
    except _typer("Abort"):
        message("knitctl: aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        message("knitctl: interrupted")
        sys.exit(130)
    except PermissionError as e:
        message(f"knitctl: error: permission denied: {e.filename}; check its owner and mode (knit's files belong to the user who runs it)")
        sys.exit(1)
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        message(f"knitctl: error: {e.strerror or e}{where}")
        sys.exit(1)
    except sqlite3.DatabaseError as e:  # locked, or a damaged file found mid-command
        from .boundary import database_error

        message(database_error(e))
        sys.exit(1)
    except _typer("Exit") as e:
        sys.exit(e.exit_code)  # type: ignore[attr-defined]  # typer.Exit, looked up only once typer is loaded
    except Exception as e:  # the command-line parser's own usage errors (click's, vendored by typer)
        show, code = getattr(e, "show", None), getattr(e, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        from .boundary import unexpected

        message(unexpected(e, sys.argv[1:]))  # anything else: one line, the traceback in a file
        sys.exit(1)
