"""Watched folders (DESIGN §8): what is an item, its tags, when it has settled,
and ingesting or rejecting it. knitd's watcher calls these; the rules are pure.

Below a watched root, a directory named `key=value` is a path segment (a tag
for everything beneath it); any other directory or file is an item that
becomes one datum. Dotfiles, `*.partial` and `<item>.tags` sidecars are not
items.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from . import data as data_api, tags as tagrules
from .config import WatchRule
from .errors import KnitError
from .session import Session
from .store import _make_writable, _walk
from .tags import Tag

SIDECAR_SUFFIX = ".tags"
PARTIAL_SUFFIX = ".partial"
REJECTED = ".rejected"
_SEGMENT_RE = re.compile(r"^([^=]+)=(.*)$")


class Rejected(Exception):
    """The item can't become a datum; the message says why and how to fix it."""


# -- pure rules ----------------------------------------------------------------


def is_ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith(PARTIAL_SUFFIX) or name.endswith(SIDECAR_SUFFIX)


def is_segment(name: str) -> bool:
    return _SEGMENT_RE.match(name) is not None


def segment_tags(relative_parent: Path) -> list[Tag]:
    """Tags from the `key=value` directories between the root and an item."""
    out = []
    for part in relative_parent.parts:
        m = _SEGMENT_RE.match(part)
        if m:
            try:
                out.append(tagrules.parse_user(f"{m.group(1)}:{m.group(2)}", where=f"folder {part!r}"))
            except KnitError as e:
                raise Rejected(e.message) from None
    return out


def parse_sidecar(text: str, where: str) -> list[Tag]:
    """One `key:value` a line; blank lines and `#` comments are skipped."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(tagrules.parse_user(line, where=f"{where} line {n}"))
        except KnitError as e:
            raise Rejected(e.message) from None
    return out


# -- looking at the folder -------------------------------------------------------


def items(root: Path) -> list[Path]:
    """Every item below a watched root, segments descended into."""
    out: list[Path] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for e in entries:
            if is_ignored(e.name):
                continue
            p = Path(e.path)
            if e.is_dir(follow_symlinks=False) and is_segment(e.name):
                stack.append(p)
            else:
                out.append(p)
    return out


def sidecar_of(item: Path) -> Path:
    return item.with_name(item.name + SIDECAR_SUFFIX)


def signature(item: Path) -> tuple:
    """What must stay unchanged for the settle time: entries, sizes, mtimes (and the sidecar's)."""
    parts = []
    paths = [item]
    if item.is_dir() and not item.is_symlink():
        try:
            paths += list(_walk(item))
        except OSError as e:  # unreadable inside: settles like anything else, then is rejected
            parts.append((str(item) + "\0unreadable", e.errno or 0, 0))
    side = sidecar_of(item)
    if side.exists():
        paths.append(side)
    for p in paths:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        parts.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(sorted(parts))


def ingest_key(item: Path, sig: tuple) -> str:
    return "sha256:" + hashlib.sha256(repr((str(item), sig)).encode()).hexdigest()


def item_tags(root: Path, item: Path, rule: WatchRule) -> list[Tag]:
    tags: list[Tag] = []
    for t in rule.tags:
        try:
            tags.append(tagrules.parse_user(t, where=f"watch rule {rule.path}"))
        except KnitError as e:
            raise Rejected(e.message) from None
    tags += segment_tags(item.parent.relative_to(root))
    tags.append(Tag("name", item.name))
    side = sidecar_of(item)
    if side.exists():
        try:
            text = side.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise Rejected(f"{side.name}: can't be read ({e.__class__.__name__}); make it a readable text file") from None
        tags += parse_sidecar(text, side.name)
    return list(dict.fromkeys(tags))


def _check(root: Path, item: Path) -> None:
    from .store import check_source

    if item.is_symlink():
        target = os.readlink(item)
        raise Rejected(f"{item.name} is a symbolic link (to {target}); drop the file or directory itself")
    try:
        check_source(item)
    except KnitError as e:
        raise Rejected(e.message.replace(str(item.parent) + "/", "").replace("push again", "drop it again")) from None
    except PermissionError as e:  # a directory that can't be listed
        raise Rejected(_denied(item, e)) from None
    if item.is_file() and not os.access(item, os.R_OK):
        raise Rejected(f"{item.name}: is not readable; fix its permissions (chmod u+r) and drop it again")


def _within(filename, item: Path) -> bool:
    return bool(filename) and (Path(filename) == item or item in Path(filename).parents)


def _denied(item: Path, e: OSError) -> str:
    where = e.filename and Path(e.filename)
    where = where.relative_to(item.parent) if where and where.is_relative_to(item.parent) else item.name
    return f"{where}: can't be read ({e.strerror or e}); fix its permissions (chmod u+rx) and drop it again"


# -- acting --------------------------------------------------------------------------


@dataclass
class Result:
    item: Path
    knit_id: str | None = None
    rejected: str | None = None
    already: bool = False        # an identical item had been ingested before (a leftover)


def ingest(session: Session, rule: WatchRule, root: Path, item: Path, sig: tuple) -> Result:
    """Turn one settled item into a datum, or move it to `.rejected/` saying why."""
    key = ingest_key(item, sig)
    done = data_api.ingested(session, key)
    if done:
        if rule.mode == "move":
            _remove(item)
            sidecar_of(item).unlink(missing_ok=True)
        return Result(item, done, already=True)
    try:
        _check(root, item)
        tags = item_tags(root, item, rule)
    except Rejected as e:
        reject(root, item, str(e))
        return Result(item, rejected=str(e))
    same_fs = os.stat(item, follow_symlinks=False).st_dev == os.stat(session.home.staging).st_dev
    # A directory changes parent only if it is writable itself (its `..`); a read-only one is copied.
    movable = not item.is_dir() or os.access(item, os.W_OK)
    move = rule.mode == "move" and same_fs and movable
    upload = data_api.Upload(item, tags, move=move, source=str(item), ingest_key=key)
    try:
        knit_id = data_api.commit_uploads(session, [upload])[0]
    except (KnitError, PermissionError) as e:  # nothing was committed; a moved item is back in place
        if isinstance(e, PermissionError) and not _within(e.filename, item):
            raise  # the store's trouble, not the item's: it stays (moved back) and is tried again
        why = e.message if isinstance(e, KnitError) else _denied(item, e)
        if item.exists() or item.is_symlink():
            reject(root, item, why)
        return Result(item, rejected=why)
    if rule.mode == "move":
        if item.exists():
            _remove(item)  # copied across filesystems: now remove the original
        sidecar_of(item).unlink(missing_ok=True)
    return Result(item, knit_id)


def reject(root: Path, item: Path, reason: str) -> Path:
    """Move an item (and its sidecar) to `<root>/.rejected/` with `<name>.error`."""
    rejected = root / REJECTED
    rejected.mkdir(exist_ok=True, mode=0o700)
    name = item.name
    n = 1
    while (rejected / name).exists() or (rejected / name).is_symlink():
        n += 1
        name = f"{item.name}.{n}"
    _rename(item, rejected / name)
    side = sidecar_of(item)
    if side.exists():
        os.rename(side, rejected / (name + SIDECAR_SUFFIX))
    (rejected / (name + ".error")).write_text(reason.rstrip() + "\n")
    return rejected / name


def _rename(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except PermissionError:
        if not src.is_dir() or src.is_symlink():
            raise
        # a directory moves to another parent only if writable itself (its `..` changes)
        mode = stat.S_IMODE(os.lstat(src).st_mode)
        os.chmod(src, mode | stat.S_IWUSR | stat.S_IXUSR)
        os.rename(src, dst)
        os.chmod(dst, mode)


def _remove(item: Path) -> None:
    if item.is_dir() and not item.is_symlink():
        _make_writable(item)
        shutil.rmtree(item, ignore_errors=True)
    else:
        item.unlink(missing_ok=True)


def rules_with_inbox(home_inbox: Path, rules: list[WatchRule], inbox_on: bool) -> list[WatchRule]:
    out = list(rules)
    if inbox_on and not any(Path(r.path).resolve() == home_inbox.resolve() for r in rules):
        out.insert(0, WatchRule(str(home_inbox)))
    return out
