"""Shared options and printing for graph commands."""

from __future__ import annotations

import sys
from enum import Enum

from .. import render
from ..controlchars import escape
from ..errors import UsageError

MAX_DEPTH = 1_000_000


class GraphFormat(str, Enum):
    dot = "dot"
    mermaid = "mermaid"
    json = "json"
    tree = "tree"


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
    out = {
        GraphFormat.dot: render.to_dot,
        GraphFormat.mermaid: render.to_mermaid,
        GraphFormat.json: render.to_json,
        GraphFormat.tree: render.to_tree,
    }[fmt](graph)
    sys.stdout.write(escape(out, keep_lines=True))
