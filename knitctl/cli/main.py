"""The `knitctl` entry point: the Typer app and its error boundary."""

from __future__ import annotations

import os
import sqlite3
import sys
from typing import Optional

import typer

from ..errors import KnitError
from ..session import Session
from . import context, daemon, data, explain, plan, run as run_cmd, watch
from . import metadata
from .tui import tui as tui_command
from .output import message

app = typer.Typer(
    name="knitctl",
    help="knit: tagged data, plans that run on it, and the lineage between them.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=True,
)
app.add_typer(data.app, name="data")
app.add_typer(plan.app, name="plan")
app.add_typer(run_cmd.app, name="run")
app.add_typer(explain.app, name="explain")
app.add_typer(watch.app, name="watch")
app.add_typer(context.app, name="context")
app.add_typer(metadata.app, name="metadata")
app.command("up")(daemon.up)
app.command("down")(daemon.down)
app.command("status")(daemon.status)
app.command("quickstart")(daemon.quickstart)
app.command("doctor")(daemon.doctor)
app.command("tui")(tui_command)


@app.callback()
def main(
    context_: Optional[str] = typer.Option(
        None, "--context", help="Run in this context (over $KNIT_CONTEXT and the config's current-context).",
        envvar=None,
    ),
):
    """knit: tagged data, plans that run on it, and the lineage between them."""
    if context_:
        os.environ["KNIT_CONTEXT"] = context_


@app.command("init")
def init():
    """Create KNIT_HOME (catalog and store) if it does not exist."""
    with Session.open() as s:
        message(f"knit home ready at {s.home.root}")


def run() -> None:
    """Console script: user errors become one line on stderr and an exit code."""
    try:
        rc = app(standalone_mode=False)  # click returns a typer.Exit's code here instead of raising
        sys.exit(rc if isinstance(rc, int) else 0)
    except KnitError as e:
        message(f"knitctl: error: {e.message}")
        sys.exit(e.exit_code)
    except typer.Abort:
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
    except sqlite3.OperationalError as e:
        message(f"knitctl: error: the catalog could not be used ({e}); `knitctl doctor` checks it")
        sys.exit(1)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # the command-line parser's own usage errors (click's, vendored by typer)
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        raise
