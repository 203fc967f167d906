"""`knitctl tui`: the terminal UI (the `tui` package, imported only when asked for)."""

from __future__ import annotations

from pathlib import Path

import typer


def tui(
    context: str | None = typer.Option(None, "--context", help="Show this context as the current one."),
    mlmd: Path | None = typer.Option(
        None, "--mlmd", metavar="FILE",
        help="Browse this ml-metadata SQLite store instead (read-only; only the Metadata view).",
    ),
):
    """Browse runs, data, plans, logs and lineage in a live terminal UI.

    Key 5 shows ML Metadata's types and nodes; with --mlmd FILE, only those, of an ml-metadata SQLite store.
    """
    from knitctl.home import Home

    try:
        from tui.app import run
    except ImportError as e:  # pragma: no cover - a broken install
        from ..errors import KnitError

        raise KnitError(f"the TUI could not be loaded ({e}); reinstall knit (./install.sh)") from None
    if mlmd is not None:  # a missing or foreign file: the metadata API's one-line error (a KnitError)
        run(mlmd=mlmd)
        return
    run(Home.resolve(), context=context)
