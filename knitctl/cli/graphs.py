"""Shared options and printing for graph commands."""

from __future__ import annotations

import shutil
import subprocess
import sys
from enum import Enum

from .. import render
from ..controlchars import escape
from ..errors import KnitError, UsageError

MAX_DEPTH = 1_000_000


class GraphFormat(str, Enum):
    dot = "dot"
    mermaid = "mermaid"
    json = "json"
    tree = "tree"
    svg = "svg"
    png = "png"


PICTURES = (GraphFormat.svg, GraphFormat.png)
DOT_TIMEOUT_S = 120


def parse_depth(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"--numbers: {text!r} is not a depth; give a number (e.g. 3) or 'all'") from None
    if n < 0:
        raise UsageError("--numbers: the depth can't be negative")
    if n > MAX_DEPTH:
        raise UsageError(f"--numbers: {text} is more hops than any graph here has; give at most {MAX_DEPTH} or 'all'")
    return n


def print_graph(graph: dict, fmt: GraphFormat) -> None:
    if fmt in PICTURES:
        write_picture(escape(render.to_dot(graph), keep_lines=True), fmt.value)
        return
    out = {
        GraphFormat.dot: render.to_dot,
        GraphFormat.mermaid: render.to_mermaid,
        GraphFormat.json: render.to_json,
        GraphFormat.tree: render.to_tree,
    }[fmt](graph)
    sys.stdout.write(escape(out, keep_lines=True))


def picture(dot_text: str, kind: str) -> bytes:
    """The graph drawn by Graphviz's `dot` as `kind` (svg, png)."""
    exe = shutil.which("dot")
    if exe is None:
        raise KnitError(f"-o {kind} needs Graphviz's `dot`, which is not on PATH: install Graphviz "
                        "(apt-get install graphviz), or use -o dot and draw it elsewhere")
    try:
        proc = subprocess.run([exe, f"-T{kind}"], input=dot_text.encode(), capture_output=True,
                              timeout=DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise KnitError(f"-o {kind}: {exe} drew nothing in {DOT_TIMEOUT_S} s; use -o dot and draw it elsewhere") from None
    if proc.returncode != 0 or not proc.stdout:
        why = proc.stderr.decode(errors="replace").strip().splitlines()
        raise KnitError(f"-o {kind}: {exe} failed (exit {proc.returncode}): {escape(why[0]) if why else 'no message'}")
    return proc.stdout


def write_picture(dot_text: str, kind: str) -> None:
    """Draw the graph and write it to stdout; a PNG only where stdout is not a terminal."""
    if kind == "png" and sys.stdout.isatty():
        raise UsageError("-o png writes an image: send it to a file (e.g. knitctl plan graph ID -o png > graph.png)")
    data = picture(dot_text, kind)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
