"""`knitctl tui`: the terminal UI (the `tui` package, imported only when asked for)."""

from __future__ import annotations

import typer


def tui(
    context: str | None = typer.Option(None, "--context", help="Show this context as the current one."),
):
    """Browse runs, data, plans, logs and lineage in a live terminal UI."""
    from knitctl.home import Home

    try:
        from tui.app import run
    except ImportError as e:  # pragma: no cover - a broken install
        from ..errors import KnitError

        raise KnitError(f"the TUI could not be loaded ({e}); reinstall knit (./install.sh)") from None
    run(Home.resolve(), context=context)
