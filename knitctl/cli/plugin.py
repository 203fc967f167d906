"""`knitctl plugin ls`: the extension commands (`knitctl-NAME` programs on PATH) knitctl finds."""

from __future__ import annotations

import os

import typer

from .. import plugins
from .common import OutputOpt
from .output import Format, emit

app = typer.Typer(
    help="Plugins: `knitctl NAME ...` runs the program knitctl-NAME from PATH when NAME is not a knitctl command.",
    no_args_is_help=True,
)

COLUMNS = [
    ("name", lambda r: r["name"]),
    ("path", lambda r: r["path"]),
    ("note", lambda r: r["note"] or "-"),
]


@app.command("ls", epilog="Examples:\n\n\b\n  knitctl plugin ls\n  knitctl plugin ls -o json")
def ls(output: Format | None = OutputOpt):
    """The knitctl-NAME programs on PATH, in PATH order; the note says why one would not run."""
    from .fast import builtin_names

    found = plugins.discover(os.environ.get("PATH"), builtin_names())
    emit([p.to_dict() for p in found], output, COLUMNS)
