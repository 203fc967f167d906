"""The rules of `knitctl data compare` (pure): reading key-values out of metric files, naming the
places upstream where compared data differ, which columns vary, sorting, and the cells shown.

The I/O — which data, their lineage, their files — is `knitctl/comparison.py`'s; it hands the
facts here as `Subject`s (the compared data) and `Upstream`s (the data above them that differ).

Columns, in order: `id` (the compared datum); `plan` and `tag:KEY` of the compared data where they
vary; then for each place upstream whose datum differs between the rows (named by the input mount
paths leading to it, shortened to the shortest unambiguous tail, e.g. `params`), its tags
`LABEL:KEY` and the values read from its files `LABEL/KEY` where they vary, or its id `LABEL` when
nothing read there or above it varies; then every metric (the compared data's own key-values). The
files of a place are read only when no place above it shows what varies (`explained`): the
parameters that made a model are shown, not the model's own files.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import io
import json
import math
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .errors import UsageError

Value = str | int | float | bool | None
Chain = tuple[str, ...]          # the input mount paths from a compared datum up to an upstream one

DEFAULT_FILES = ("*.json", "*.yaml", "*.yml", "*.csv")
MAX_FILE_BYTES = 1 << 20         # a metrics or parameter file is small; bigger files are not read
MAX_FILES = 100                  # matching files read from one datum
MAX_SCAN = 10_000                # files a datum may hold for its files to be looked through
MAX_KEYS = 1_000                 # key-values kept from one datum

KIND_INPUT, KIND_PARAMETER, KIND_METRIC = "input", "parameter", "metric"


class Unreadable(Exception):
    """A file that gives no key-values, and why (one phrase)."""


# -- files -> key-values ------------------------------------------------------------------------


def check_globs(globs: Iterable[str]) -> list[str]:
    """--files patterns, checked: relative, no `..`, not empty. A pattern without `/` matches a file
    name at any depth; with `/`, the last parts of the path inside the datum."""
    out = []
    for g in globs:
        shown = repr(g)
        if not g.strip():
            raise UsageError("--files: the pattern is empty; give one such as '*.json' or 'eval/*.yaml'")
        if any(ord(c) < 32 or ord(c) == 127 for c in g):
            raise UsageError(f"--files {shown}: holds a control character; give a pattern such as '*.json'")
        if g.startswith("/"):
            raise UsageError(f"--files {shown}: is absolute; patterns match paths inside each datum, e.g. 'eval/*.json'")
        parts = g.rstrip("/").split("/")
        if ".." in parts or "" in parts:
            raise UsageError(f"--files {shown}: is not a path pattern inside a datum (no '..' or empty parts); e.g. 'eval/*.json'")
        if g.count("[") != g.count("]"):
            raise UsageError(f"--files {shown}: a '[' has no matching ']' (or the reverse); write [[] for a literal '['")
        out.append(g.rstrip("/"))
    return out or list(DEFAULT_FILES)


def matches(rel: str, globs: Sequence[str]) -> bool:
    """Whether the file at `rel` (a posix path inside the datum) matches one of the patterns:
    each of the pattern's parts matches the same part of the path's end, as `PurePath.match` has it."""
    return matcher(tuple(globs))(rel)


@functools.lru_cache(maxsize=64)
def matcher(globs: tuple[str, ...]) -> Callable[[str], bool]:
    """`matches` for these patterns, compiled once: one regular expression for the patterns of a
    file name alone (the usual ones), a part-by-part match for those with a `/`."""
    names = [g for g in globs if "/" not in g]
    name_re = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in names)) if names else None
    paths = [tuple(re.compile(fnmatch.translate(part)) for part in g.split("/")) for g in globs if "/" in g]

    def match(rel: str) -> bool:
        if name_re is not None and name_re.match(rel.rpartition("/")[2]):
            return True
        if paths:
            parts = rel.split("/")
            return any(len(ps) <= len(parts) and all(p.match(x) for p, x in zip(ps, parts[-len(ps):])) for ps in paths)
        return False

    return match


def flatten(doc: object, prefix: str = "") -> Iterator[tuple[str, Value]]:
    """Dotted keys to scalars: {"a": {"b": 1}, "c": [2, 3]} -> a.b=1, c.0=2, c.1=3."""
    if isinstance(doc, (dict, Mapping)):        # dict first: the abstract check is the slow one
        for k, v in doc.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(doc, (list, tuple)):
        for i, v in enumerate(doc):
            yield from flatten(v, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, scalar(doc)


def scalar(v: object) -> Value:
    """A value as a cell holds it: numbers stay numbers (not-a-number and infinities become text)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    return str(v)


_INT = re.compile(r"^[+-]?\d+$")


def from_text(cell: str) -> Value:
    """A CSV cell: an integer or a finite number when it reads as one, else the text."""
    s = cell.strip()
    if _INT.match(s):
        return int(s)
    try:
        f = float(s)
    except ValueError:
        return cell
    return f if math.isfinite(f) else cell


def parse_file(name: str, text: str) -> dict[str, Value]:
    """Key-values of one file by its extension: JSON or YAML (a mapping, flattened), or a one-row CSV
    (a header and one row). Other names are tried as JSON, then YAML. Raises Unreadable."""
    suffix = posixpath.splitext(name)[1].lower()
    if suffix == ".csv":
        return _csv(text)
    if suffix == ".json":
        doc = _json(text)
    elif suffix in (".yaml", ".yml"):
        doc = _yaml(text, name)
    else:
        try:
            doc = _json(text)
        except Unreadable:
            doc = _yaml(text, name)
    if not isinstance(doc, (dict, Mapping)):
        raise Unreadable(f"holds {_what(doc)}, not key-values")
    return dict(flatten(doc))


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise Unreadable(f"not valid JSON (line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise Unreadable("nested too deeply to read") from None


def _yaml(text: str, name: str) -> object:
    from . import safeyaml

    try:
        return safeyaml.load(text, name)
    except safeyaml.YamlError as e:
        raise Unreadable(e.message.removeprefix(f"{name}: ")) from None


def _csv(text: str) -> dict[str, Value]:
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except csv.Error as e:
        raise Unreadable(f"not valid CSV ({e})") from None
    if len(rows) != 2:
        raise Unreadable(f"{len(rows)} non-empty rows; a one-row CSV (a header and one row) is read")
    header, row = rows
    if len(header) != len(row):
        raise Unreadable(f"its header has {len(header)} columns and its row {len(row)}")
    return {(h.strip() or str(i)): from_text(c) for i, (h, c) in enumerate(zip(header, row)) if c.strip()}


def _what(doc: object) -> str:
    if isinstance(doc, list):
        return "a list"
    if doc is None:
        return "nothing"
    return f"a single {type(doc).__name__} value"


def merge(per_file: Sequence[tuple[str, dict[str, Value]]]) -> dict[str, Value]:
    """One datum's key-values from its files (in path order). A key two files both hold is named
    `FILE:KEY` for each of them."""
    seen: dict[str, int] = {}
    for _, values in per_file:
        for k in values:
            seen[k] = seen.get(k, 0) + 1
    out: dict[str, Value] = {}
    for path, values in per_file:
        for k, v in values.items():
            out[f"{path}:{k}" if seen[k] > 1 else k] = v
    return out


# -- the lineage's places -----------------------------------------------------------------------


def parse_assignment(text: str | None) -> list[tuple[str, str]]:
    """A run's canonical assignment ('path=id' lines) as (mount path, knit id), by path."""
    if not text:
        return []
    out = []
    for line in text.split("\n"):
        path, _, knit_id = line.rpartition("=")
        if path:
            out.append((path, knit_id))
    return sorted(out)


def labels(chains: Iterable[Chain]) -> dict[Chain, str]:
    """A short name for each place: the last parts (mount paths' base names, joined by '.') that
    tell it from every other place: ('/in/model', '/in/params') -> 'params'."""
    chains = sorted(set(chains), key=lambda c: (len(c), c))
    names = {c: tuple(PurePosixPath(p).name or p for p in c) for c in chains}
    out: dict[Chain, str] = {}
    for c in chains:
        n = names[c]
        k = 1
        while k < len(n) and any(o != c and names[o][-k:] == n[-k:] for o in chains):
            k += 1
        out[c] = ".".join(n[-k:])
    taken: dict[str, int] = {}
    for c in chains:
        taken[out[c]] = taken.get(out[c], 0) + 1
    for c in chains:  # base names alike from different paths: the full paths then
        if taken[out[c]] > 1:
            out[c] = ">".join(c)
    return out


# -- the table ----------------------------------------------------------------------------------


@dataclass
class Subject:
    """A compared datum: what it is, its metrics, and the data upstream of it by place."""

    knit_id: str
    plan_id: str
    tags: dict[str, str]
    metrics: dict[str, Value]
    unreadable: str | None = None                          # why it has no metrics
    upstream: dict[Chain, str] = field(default_factory=dict)


@dataclass
class Upstream:
    """What was read of an upstream datum that differs between the rows."""

    tags: dict[str, str]
    values: dict[str, Value]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str         # input | parameter | metric


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[Value]]
    unreadable: list[tuple[str, str]]    # (knit id, why) of the compared data with no metrics

    def index(self, name: str) -> int:
        return [c.name for c in self.columns].index(name)

    def to_dict(self) -> dict[str, object]:
        names = [c.name for c in self.columns]
        return {
            "columns": [{"name": c.name, "kind": c.kind} for c in self.columns],
            "rows": [dict(zip(names, r)) for r in self.rows],
            "unreadable": [{"knit_id": k, "reason": why} for k, why in self.unreadable],
        }


def tags_by_key(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Tags as {key: value}; a key with several values holds them sorted, comma-separated."""
    by: dict[str, list[str]] = {}
    for k, v in pairs:
        by.setdefault(k, []).append(v)
    return {k: ",".join(sorted(vs)) for k, vs in sorted(by.items())}


def varies(values: Sequence[Value]) -> bool:
    return any(v != values[0] or type(v) is not type(values[0]) for v in values[1:])


def differing(subjects: Sequence[Subject]) -> list[Chain]:
    """The places upstream whose datum is not the same in every row (missing counts), nearest first."""
    chains = {c for s in subjects for c in s.upstream}
    out = [c for c in chains if varies([s.upstream.get(c) for s in subjects])]
    return sorted(out, key=lambda c: (len(c), c))


def shape(subjects: Sequence[Subject], upstream: Mapping[str, Upstream]) -> Table:
    """The table: the inputs and parameters that vary, then the metrics."""
    cols: list[tuple[Column, list[Value]]] = [(Column("id", KIND_INPUT), [s.knit_id for s in subjects])]

    def add_if_varies(name: str, kind: str, values: list[Value]) -> None:
        if varies(values):
            cols.append((Column(name, kind), values))

    add_if_varies("plan", KIND_INPUT, [s.plan_id for s in subjects])
    for key in _keys(s.tags for s in subjects):
        add_if_varies(f"tag:{key}", KIND_INPUT, [s.tags.get(key) for s in subjects])
    places = differing(subjects)
    names = labels(places)
    read = {c: place_columns(subjects, c, names[c], upstream) for c in places}
    for c in places:
        # A place whose tags and files show nothing that varies shows its ids instead, unless a
        # place above it shows why it differs (a model differs because its parameters do).
        if read[c]:
            cols.extend(read[c])
        elif not explained(c, {o for o in places if read[o]}):
            cols.append((Column(names[c], KIND_INPUT), [s.upstream.get(c) for s in subjects]))
    taken = {col.name for col, _ in cols}
    for key in _keys(s.metrics for s in subjects):
        name = key if key not in taken else f"metric:{key}"
        cols.append((Column(name, KIND_METRIC), [s.metrics.get(key) for s in subjects]))
    rows = [[values[i] for _, values in cols] for i in range(len(subjects))]
    return Table([c for c, _ in cols], rows, [(s.knit_id, s.unreadable) for s in subjects if s.unreadable])


def place_columns(subjects: Sequence[Subject], c: Chain, name: str,
                  upstream: Mapping[str, Upstream]) -> list[tuple[Column, list[Value]]]:
    """The columns of the place `c` that vary between the rows: its data's tags (`NAME:KEY`), then
    the values read from their files (`NAME/KEY`)."""
    ups = [upstream.get(s.upstream[c]) if c in s.upstream else None for s in subjects]
    found: list[tuple[Column, list[Value]]] = []
    for key in _keys(u.tags for u in ups if u):
        tagged: list[Value] = [u.tags.get(key) if u else None for u in ups]
        if varies(tagged):
            found.append((Column(f"{name}:{key}", KIND_INPUT), tagged))
    for key in _keys(u.values for u in ups if u):
        values: list[Value] = [u.values.get(key) if u else None for u in ups]
        if varies(values):
            found.append((Column(f"{name}/{key}", KIND_PARAMETER), values))
    return found


def explained(c: Chain, showing: Iterable[Chain]) -> bool:
    """Whether a place above `c` (further up the same path) shows a column that varies: then what
    differs at `c` follows from it, and `c`'s files need not be read nor its ids shown."""
    return any(len(o) > len(c) and o[: len(c)] == c for o in showing)


def _keys(dicts: Iterable[Mapping[str, object]]) -> list[str]:
    """Every key, in the order first seen."""
    out: dict[str, None] = {}
    for d in dicts:
        for k in d:
            out.setdefault(k, None)
    return list(out)


# -- sorting ------------------------------------------------------------------------------------


def find_column(table: Table, key: str) -> int:
    """The column `key` names: its whole name, else the one column whose name ends in `/key`,
    `:key` or `.key`. Raises UsageError naming the columns there are."""
    names = [c.name for c in table.columns]
    if key in names:
        return names.index(key)
    tails = [i for i, n in enumerate(names) if any(n.endswith(sep + key) for sep in "/:.")]
    if len(tails) == 1:
        return tails[0]
    shown = ", ".join(names)
    if len(tails) > 1:
        raise UsageError(f"--sort {key!r}: is the end of several columns ({', '.join(names[i] for i in tails)}); give the whole name")
    raise UsageError(f"--sort {key!r}: no such column; the columns are {shown}")


def sort_key(v: Value) -> tuple[int, float, str]:
    """Numbers (and booleans) by value, then text; empty cells last."""
    if v is None:
        return (2, 0.0, "")
    if isinstance(v, (int, float)):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def sort(table: Table, spec: str | None, *, descending: bool = False) -> Table:
    """Rows ordered by the column `spec` names (`-NAME`: descending); empty cells stay last."""
    if spec is None:
        return table
    if spec.startswith("-") and spec not in [c.name for c in table.columns]:
        spec, descending = spec[1:], True
    if not spec.strip():
        raise UsageError(f"--sort: give a column to sort by (-NAME: highest first); the columns are {', '.join(c.name for c in table.columns)}")
    i = find_column(table, spec)
    present = [r for r in table.rows if r[i] is not None]
    empty = [r for r in table.rows if r[i] is None]
    present.sort(key=lambda r: sort_key(r[i]), reverse=descending)
    return Table(table.columns, present + empty, table.unreadable)


# -- cells --------------------------------------------------------------------------------------


def cell(v: Value) -> str:
    """A value as a table shows it: numbers to 6 significant digits, booleans as true/false."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def csv_text(table: Table) -> str:
    """The table as CSV: a header of column names, then the rows (numbers in full)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.name for c in table.columns])
    for r in table.rows:
        w.writerow(["" if v is None else ("true" if v is True else "false" if v is False else repr(v) if isinstance(v, float) else str(v)) for v in r])
    return buf.getvalue()


def chart(table: Table, metric: str, against: str, *, width: int = 40) -> list[str]:
    """A bar chart of `metric` against `against`: one line per row, ordered by `against`. The bars
    start a tenth of the metric's range below its smallest value (so close values still differ),
    which the title says; rows without a number for the metric say so."""
    mi, ai = table.index(metric), table.index(against)
    rows = sorted(table.rows, key=lambda r: sort_key(r[ai]))
    nums = [float(v) for r in rows if isinstance(v := r[mi], (int, float))]
    smallest, high = (min(nums), max(nums)) if nums else (0.0, 0.0)
    if high > smallest:
        low = smallest - (high - smallest) / 10
    else:
        low = min(0.0, smallest - 1)
    span = (high - low) or 1.0
    label_w = min(24, max([len(cell(r[ai])) for r in rows] + [1]))
    lines = [f"{metric} by {against} (bars from {cell(low)})"]
    for r in rows:
        label = cell(r[ai]) or "–"
        label = label if len(label) <= label_w else label[: label_w - 1] + "…"
        v = r[mi]
        if isinstance(v, (int, float)):
            n = round((float(v) - low) / span * width)
            lines.append(f"{label:>{label_w}} │{'█' * n}{' ' * (width - n)} {cell(v)}")
        else:
            lines.append(f"{label:>{label_w}} │{' ' * width} {'(no number)' if v is None else cell(v)}")
    return lines
