"""Pieces every command group shares."""

from __future__ import annotations

import contextlib
from typing import Iterator

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn, TimeRemainingColumn

from ..session import Session
from .output import _no_color

OutputOpt = typer.Option(None, "-o", "--output", help="table, json or yaml (default: table on a terminal, tab-separated when piped)")

PROGRESS_MIN_BYTES = 64 << 20


def open_session() -> Session:
    return Session.open()


@contextlib.contextmanager
def transfer_progress(total: int, label: str) -> Iterator:
    """A progress bar on stderr for large transfers; a no-op for small ones or without a terminal."""
    from rich.console import Console

    console = Console(stderr=True, no_color=_no_color())
    if total < PROGRESS_MIN_BYTES or not console.is_terminal:
        yield None
        return
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=console, transient=True,
    ) as p:
        task = p.add_task(label, total=total)
        yield lambda n: p.advance(task, n)


def tree_size(paths) -> int:
    import os
    from pathlib import Path

    total = 0
    for path in paths:
        p = Path(path)
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            for dirpath, _, files in os.walk(p):
                for f in files:
                    with contextlib.suppress(OSError):
                        total += os.lstat(os.path.join(dirpath, f)).st_size
    return total
