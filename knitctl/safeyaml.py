"""YAML from files a user (or anyone) wrote, with bounds.

PyYAML builds nested collections recursively, so a document nested 100,000
deep ends in a RecursionError; and aliases make a few lines stand for billions
of nodes ("billion laughs") that any walk over the result would visit. This
module reads the event stream first — iteratively, nothing built — and refuses
a document nested deeper than `MAX_DEPTH`, or one that stands for more than
`MAX_NODES` nodes once its aliases are expanded, before anything is
constructed.

`read_text` is the one function here that touches the disk: it opens a file
as what it is, refusing a FIFO, a device or a directory before reading a byte,
and a file over its size bound.
"""

from __future__ import annotations

import yaml

from .errors import UsageError

MAX_DEPTH = 64
MAX_NODES = 100_000


class YamlError(UsageError):
    """A document that isn't YAML, or is YAML beyond the bounds."""


def _problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return f"{at}not valid YAML ({getattr(e, 'problem', None) or e})"


def check_bounds(text: str, source: str, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Raise YamlError when `text` nests deeper than `max_depth` or expands to more than `max_nodes` nodes."""
    sizes: list[int] = []           # per open collection: nodes inside it so far (expanded)
    anchors: list[str | None] = []
    anchored: dict[str, int] = {}
    total = 0

    def done(size: int, anchor: str | None, mark) -> None:
        nonlocal total
        if anchor:
            anchored[anchor] = size
        if sizes:
            sizes[-1] += size
        else:
            total += size
        if sum(sizes) + total > max_nodes:
            where = f"line {mark.line + 1}: " if mark else ""
            raise YamlError(
                f"{source}: {where}stands for more than {max_nodes:,} values once its aliases (*name) are expanded; "
                "write the values out or use fewer aliases"
            )

    try:
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(sizes) >= max_depth:
                    line = ev.start_mark.line + 1 if ev.start_mark else "?"
                    raise YamlError(
                        f"{source}: line {line}: nested more than {max_depth} levels deep; "
                        "no knit file needs that — check the brackets and indentation"
                    )
                sizes.append(1)
                anchors.append(ev.anchor)
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                done(sizes.pop(), anchors.pop(), ev.start_mark)
            elif isinstance(ev, yaml.ScalarEvent):
                done(1, ev.anchor, ev.start_mark)
            elif isinstance(ev, yaml.AliasEvent):
                done(anchored.get(ev.anchor, 1), None, ev.start_mark)
    except yaml.YAMLError as e:
        raise YamlError(f"{source}: {_problem(e)}") from None


def load(text: str, source: str, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES):
    """`yaml.safe_load(text)` within the bounds; every failure is one YamlError naming `source`."""
    check_bounds(text, source, max_depth=max_depth, max_nodes=max_nodes)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise YamlError(f"{source}: {_problem(e)}; check the indentation and quoting there") from None
    except (ValueError, TypeError, OverflowError) as e:  # a scalar PyYAML can't build: a date that doesn't exist, 5,000 digits
        detail = str(e).split(";")[0][:120]
        raise YamlError(f"{source}: a value can't be read ({detail}); quote it if it is text") from None
    except (RecursionError, MemoryError):  # the bounds above make this unreachable; never a traceback regardless
        raise YamlError(f"{source}: too large or deeply nested to read") from None


def read_text(path, *, max_bytes: int, what: str, hint: str) -> str:
    """A regular file's text, refused before reading when it isn't one (FIFO, device, directory) or is too big.

    `what` names the file in errors ("plan file", "kubeconfig"); `hint` says how to fix a missing one.
    """
    import os
    import stat

    shown = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UsageError(f"{shown}: no such file; {hint}") from None
    except IsADirectoryError:
        raise UsageError(f"{shown}: is a directory, not a {what}") from None
    except PermissionError:
        raise UsageError(f"{shown}: permission denied; make the {what} readable") from None
    except OSError as e:
        raise UsageError(f"{shown}: can't be opened ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{shown}: is a directory, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
            raise UsageError(f"{shown}: is {kind}, not a {what}; save it to a regular file and give that")
        if st.st_size > max_bytes:
            raise UsageError(f"{shown}: {st.st_size:,} bytes is larger than a {what} can be ({max_bytes:,}); check it's the right file")
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        raw = b"".join(chunks)
    except OSError as e:
        raise UsageError(f"{shown}: can't be read ({e.strerror})") from None
    finally:
        os.close(fd)
    if len(raw) > max_bytes:
        raise UsageError(f"{shown}: larger than a {what} can be ({max_bytes:,} bytes); check it's the right file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{shown}: not UTF-8 text (byte {e.start}); a {what} is YAML text") from None
