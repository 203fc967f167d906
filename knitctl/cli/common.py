"""Pieces every command group shares."""

from __future__ import annotations

import typer

from ..session import Session
from .progress import PROGRESS_MIN_BYTES, transfer_progress, tree_size  # noqa: F401 - re-exported

OutputOpt = typer.Option(None, "-o", "--output", help="table, json or yaml (default: table on a terminal, tab-separated when piped)")


def open_session() -> Session:
    return Session.open()
