"""Progress on long transfers (a bar on stderr), and the bytes a push will copy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .output import _no_color

PROGRESS_MIN_BYTES = 64 << 20


@contextlib.contextmanager
def transfer_progress(total: int, label: str) -> Iterator:
    """A progress bar on stderr for large transfers; a no-op for small ones or without a terminal."""
    if total < PROGRESS_MIN_BYTES:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    console = Console(stderr=True, no_color=_no_color())
    if not console.is_terminal:
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
