"""`knitctl data compare` (and the TUI's Compare view): which data, their lineage upstream, the
files read from the store. The rules — key-values, places, varying columns, sorting — are
`knitctl/compare.py`'s; the catalog queries `knitctl/catalog/compare.py`'s."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from . import compare as rules
from . import data as data_api
from .catalog import compare as q
from .catalog import data as data_q
from .errors import NotFound, UsageError
from .runstate import data_status

if TYPE_CHECKING:
    import sqlite3

    from .session import Session

MAX_DEPTH = 100     # runs walked up from a compared datum (a guard; lineages are far shallower)


def compare(
    session: Session,
    ids: Sequence[str] = (),
    tags: Sequence[str] = (),
    *,
    files: Iterable[str] = (),
) -> rules.Table:
    """The comparison of the data given by id, or of those carrying every tag (committed ones, as
    `data find`), in that order: the inputs and parameters that vary between them, then their metrics."""
    globs = rules.check_globs(files)
    if ids and tags:
        raise UsageError("give data ids or -t tags, not both")
    if not ids and not tags:
        raise UsageError("give the data to compare: their ids, or -t key:value (e.g. -t type:metrics)")
    with session.catalog.read() as conn:
        if ids:
            chosen = list(dict.fromkeys(data_api.resolve_id(session, i) for i in ids))
        else:
            chosen = [r["knit_id"] for r in data_q.find(conn, data_api._filter(tags, "no", None, None))]
            if not chosen:
                raise NotFound(f"no committed data carry {' '.join(tags)}; list data with `knitctl data find`")
        facts, places = _walk(conn, chosen)
        differ = rules.differing([rules.Subject(k, "", {}, {}, upstream=places[k]) for k in chosen])
        tags_of = data_q.tags_of(conn, chosen + sorted({places[k][c] for k in chosen for c in differ if c in places[k]}))
    names = rules.labels(differ)
    data_root = os.fspath(session.home.data)
    subjects = []
    for k in chosen:
        plan_id, status, _, file_count = facts[k]
        metrics, why = _read(data_root, k, status, file_count, globs)
        subjects.append(rules.Subject(k, plan_id, rules.tags_by_key(tags_of[k]), metrics,
                                      None if metrics else why, places[k]))
    # The farthest places first: a place's files are read only when nothing above it shows what varies.
    upstream: dict[str, rules.Upstream] = {}
    with_files: set[str] = set()
    showing: set[rules.Chain] = set()
    for c in sorted(differ, key=len, reverse=True):
        files_too = not rules.explained(c, showing)
        for u in {s.upstream[c] for s in subjects if c in s.upstream}:
            if u in upstream and (u in with_files or not files_too):
                continue
            values: dict[str, rules.Value] = {}
            if files_too:
                _, status, _, file_count = facts[u]
                values, _ = _read(data_root, u, status, file_count, globs)
                with_files.add(u)
            upstream[u] = rules.Upstream(rules.tags_by_key(tags_of[u]), values)
        if rules.place_columns(subjects, c, names[c], upstream):
            showing.add(c)
    return rules.shape(subjects, upstream)


def _walk(conn: sqlite3.Connection, chosen: list[str]) -> tuple[dict, dict[str, dict[rules.Chain, str]]]:
    """The producing run's facts of every datum met, and for each compared datum the datum at each
    place upstream (a datum met twice keeps the place it was first met at, nearest first)."""
    facts: dict[str, tuple[str, str, str | None, int | None]] = {}
    places: dict[str, dict[rules.Chain, str]] = {k: {} for k in chosen}
    seen: dict[str, set[str]] = {k: {k} for k in chosen}
    frontier: list[tuple[str, rules.Chain, str]] = [(k, (), k) for k in chosen]
    depth = 0
    while frontier and depth <= MAX_DEPTH:
        wanted = list({kid for _, _, kid in frontier if kid not in facts})
        for kid, plan_id, status, assignment, file_count in q.producers(conn, wanted):
            facts[kid] = (plan_id, status, assignment, file_count)
        nxt = []
        for root, chain, kid in frontier:
            for path, up in rules.parse_assignment(facts[kid][2]) if kid in facts else ():
                if up in seen[root]:
                    continue
                seen[root].add(up)
                places[root][(*chain, path)] = up
                nxt.append((root, (*chain, path), up))
        frontier = nxt
        depth += 1
    missing = [k for k in chosen if k not in facts]
    if missing:
        raise NotFound(f"datum {missing[0]} is gone (its run was retried or removed); list data with `knitctl data find`")
    return facts, places


def _read(data_root: str, knit_id: str, run_status: str, file_count: int | None,
          globs: Sequence[str]) -> tuple[dict[str, rules.Value], str]:
    """The datum's key-values from its matching files, and (when there are none) why."""
    root = os.path.join(data_root, knit_id)
    if data_status(run_status) == "processing":
        return {}, f"not committed yet (its run is {run_status})"
    if file_count is not None and file_count > rules.MAX_SCAN:
        return {}, f"holds {file_count:,} files, more than the {rules.MAX_SCAN:,} looked through for metric files"
    found = _matching(root, globs)
    if found is None:
        return {}, "its files are not in the store"
    if not found:
        return {}, f"no file matches {' '.join(globs)} (choose files with --files)"
    if len(found) > rules.MAX_FILES:
        return {}, f"{len(found):,} files match {' '.join(globs)}, more than the {rules.MAX_FILES} read; narrow --files"
    per_file: list[tuple[str, dict[str, rules.Value]]] = []
    problems = []
    for rel in found:
        try:
            text = _text(os.path.join(root, rel))
            values = rules.parse_file(rel, text)
        except rules.Unreadable as e:
            problems.append(f"{rel}: {e}")
            continue
        if values:
            per_file.append((rel, values))
        else:
            problems.append(f"{rel}: holds no key-values")
    merged = rules.merge(per_file)
    if len(merged) > rules.MAX_KEYS:
        merged = dict(list(merged.items())[: rules.MAX_KEYS])
    return merged, "; ".join(problems)


def _matching(root: str, globs: Sequence[str]) -> list[str] | None:
    """The paths inside the datum of its regular files matching a pattern, sorted (links are not
    followed); None when the datum has no directory."""
    match = rules.matcher(tuple(globs))
    out = []
    stack = [("", root)]
    while stack:
        prefix, d = stack.pop()
        try:
            with os.scandir(d) as listing:
                for e in listing:
                    rel = prefix + e.name
                    if e.is_dir(follow_symlinks=False):
                        stack.append((rel + "/", e.path))
                    elif match(rel) and e.is_file(follow_symlinks=False):
                        out.append(rel)
        except FileNotFoundError:
            if d == root:
                return None
        except OSError:
            continue
    return sorted(out)


def _text(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        raise rules.Unreadable(f"can't be opened ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise rules.Unreadable("not a regular file")
        if st.st_size > rules.MAX_FILE_BYTES:
            raise rules.Unreadable(f"{st.st_size:,} bytes, more than the {rules.MAX_FILE_BYTES:,} a metric file is read up to")
        raw = os.read(fd, rules.MAX_FILE_BYTES + 1)
    except OSError as e:
        raise rules.Unreadable(f"can't be read ({e.strerror})") from None
    finally:
        os.close(fd)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise rules.Unreadable(f"not UTF-8 text (byte {e.start})") from None
