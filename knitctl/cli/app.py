"""The Typer app: the one definition of knitctl's commands, options and help.

`knitctl.cli.main.run` (the console script) imports this only when a command needs
Typer; the one-liners in `fast.py` run from a description of this app cached by an
earlier run, so they start without Typer. Keep the root callback to handling its
own options: the fast path does not call it for the one-liners (it takes them only
when no root option is given).
"""

from __future__ import annotations

import os
import sys

import typer
import typer.core

from ..projectdefaults import enable as enable_project_defaults
from ..session import Session
from . import context, daemon, data, explain, helpstyle, metadata, plan, plugin, watch
from . import hook as hook_cmd
from . import run as run_cmd
from .backup import register as register_backup
from .config import app as config_app
from .gc import gc as gc_command
from .output import message
from .tui import tui as tui_command

# Help and usage errors are plain text (no boxes, no escape sequences) unless a terminal that
# takes them reads them: piped, TERM=dumb or NO_COLOR.
if not sys.stdout.isatty() or os.environ.get("TERM") == "dumb" or "NO_COLOR" in os.environ:
    typer.core.HAS_RICH = False
helpstyle.apply()

app = typer.Typer(
    name="knitctl",
    help="knit: tagged data, plans that run on it, and the lineage between them.",
    no_args_is_help=False,  # `knitctl` alone: the root callback prints the help and exits 0
    invoke_without_command=True,
    pretty_exceptions_show_locals=False,
    add_completion=True,
)
app.add_typer(data.app, name="data")
app.add_typer(plan.app, name="plan")
app.add_typer(run_cmd.app, name="run")
app.add_typer(explain.app, name="explain")
app.add_typer(watch.app, name="watch")
app.add_typer(context.app, name="context")
app.add_typer(config_app, name="config")
app.add_typer(metadata.app, name="metadata")
app.add_typer(hook_cmd.app, name="hook")
app.add_typer(plugin.app, name="plugin")
app.command("up")(daemon.up)
app.command("down")(daemon.down)
app.command("status")(daemon.status)
app.command("quickstart")(daemon.quickstart)
app.command("doctor")(daemon.doctor)
app.command("tui")(tui_command)
app.command("gc")(gc_command)
register_backup(app)  # backup, restore


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("knit")
        except PackageNotFoundError:
            v = "unknown (not installed)"
        typer.echo(f"knitctl {v}")
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
    context_: str | None = typer.Option(
        None, "--context", help="Run in this context (over $KNIT_CONTEXT and the config's current-context).",
        envvar=None,
    ),
    version_: bool = typer.Option(False, "--version", is_eager=True, callback=_version, help="Print knitctl's version and exit."),
):
    """knit: tagged data, plans that run on it, and the lineage between them."""
    if context_:
        os.environ["KNIT_CONTEXT"] = context_
    enable_project_defaults()  # a knit.yaml's context counts here (under --context and $KNIT_CONTEXT)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


@app.command("init")
def init():
    """Create KNIT_HOME (catalog and store) if it does not exist."""
    with Session.open() as s:
        message(f"knit home ready at {s.home.root}")


helpstyle.add_examples(app)  # an example or two under each command's help
