"""Watched folders (docs/ARCHITECTURE.md#watched-folders): what is an item, its tags, when it has settled,
and ingesting or rejecting it. knitd's watcher calls these; the rules are pure.

Below a watched root, a directory named `key=value` is a path segment (a tag
for everything beneath it); any other directory or file is an item that
becomes one datum. Dotfiles, `*.partial` and `<item>.tags` sidecars are not
items.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from . import data as data_api
from . import safefs
from . import tags as tagrules
from .config import WatchRule
from .errors import KnitError
from .session import Session
from .store import _make_writable, _walk
from .tags import Tag

SIDECAR_SUFFIX = ".tags"
PARTIAL_SUFFIX = ".partial"
REJECTED = ".rejected"
ERROR_SUFFIX = ".error"
MAX_SIDECAR_BYTES = 64 << 10
MAX_SIDECAR_LINE = 4096
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
        if len(line) > MAX_SIDECAR_LINE:
            raise Rejected(f"{where} line {n}: is {len(line)} characters long; a tag line may hold at most {MAX_SIDECAR_LINE}")
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


def _lstat(path: Path) -> os.stat_result | None:
    """lstat, or None when there is no such entry — a name too long to exist included."""
    try:
        return os.lstat(path)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
            return None
        raise


def _unlink_quiet(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
            raise


def read_sidecar(item: Path) -> str | None:
    """The text of an item's `<name>.tags`, or None when it has none. A sidecar must be a small
    regular text file: a link, FIFO, socket or device is refused without being opened for reading."""
    side = sidecar_of(item)
    st = _lstat(side)
    if st is None:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise Rejected(
            f"{side.name}: is {safefs.kind(st.st_mode)}; a sidecar must be a regular text file — "
            "replace it with one (links are not followed)"
        )
    if st.st_size > MAX_SIDECAR_BYTES:
        raise Rejected(
            f"{side.name}: is {st.st_size} bytes; a sidecar may hold at most {MAX_SIDECAR_BYTES // 1024} KiB of key:value lines"
        )
    try:
        fd = safefs.open_regular(side, max_size=MAX_SIDECAR_BYTES)
        with open(fd, "rb") as f:
            raw = f.read(MAX_SIDECAR_BYTES + 1)
        return raw.decode()
    except safefs.NotRegular as e:  # swapped since the lstat
        raise Rejected(f"{side.name}: is {e.what}; a sidecar must be a regular text file — replace it with one") from None
    except (OSError, UnicodeDecodeError) as e:
        raise Rejected(f"{side.name}: can't be read ({e.__class__.__name__}); make it a readable text file") from None


def signature(item: Path) -> tuple:
    """What must stay unchanged for the settle time: entries, sizes, mtimes (and the sidecar's)."""
    parts = []
    paths = [item]
    if item.is_dir() and not item.is_symlink():
        try:
            paths += list(_walk(item))
        except OSError as e:  # unreadable inside: settles like anything else, then is rejected
            parts.append((str(item) + "\0unreadable", e.errno or 0, 0))
    paths.append(sidecar_of(item))
    for p in paths:
        st = _lstat(p)
        if st is None:
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
    try:
        tags.append(tagrules.name_tag(item.name, where=f"the name of {item.name!r}"))
    except KnitError as e:  # control characters in a dropped name: refused, as for `data push -n`
        raise Rejected(e.message) from None
    text = read_sidecar(item)
    if text is not None:
        tags += parse_sidecar(text, sidecar_of(item).name)
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
            _unlink_quiet(sidecar_of(item))
        return Result(item, done, already=True)
    try:
        _check(root, item)
        tags = item_tags(root, item, rule)
    except Rejected as e:
        return Result(item, rejected=_reject_noting(root, item, str(e)))
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
            why = _reject_noting(root, item, why)
        return Result(item, rejected=why)
    if rule.mode == "move":
        if item.exists():
            _remove(item)  # copied across filesystems: now remove the original
        _unlink_quiet(sidecar_of(item))
    return Result(item, knit_id)


def _reject_noting(root: Path, item: Path, reason: str) -> str:
    """reject(); the reason, with why the item stayed where it is when it could not be moved aside."""
    try:
        reject(root, item, reason)
    except KnitError as e:
        return f"{reason} (left in place: {e.message})"
    return reason


def reject(root: Path, item: Path, reason: str) -> Path:
    """Move an item (and its sidecar) to `<root>/.rejected/` with `<name>.error`.

    Everything is done relative to a handle on `.rejected/` that is never a link: the error
    file is created new (never through a link planted there, never over a file), and names
    too long for `<name>.error` are shortened."""
    rejected = root / REJECTED
    try:
        os.mkdir(rejected, 0o700)
    except FileExistsError:
        pass
    try:
        rfd = safefs.open_dir(rejected)
    except OSError:
        what = safefs.kind(os.lstat(rejected).st_mode) if _lstat(rejected) else "missing"
        raise KnitError(
            f"{rejected} is {what}, not a directory; knit writes nothing through it — remove it and knitd makes a new one"
        ) from None
    try:
        # the item's folder: the watched root itself may be a link the user chose (followed)
        pfd = os.open(item.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            name = _claim_error_name(rfd, item.name, reason)
            try:
                _rename(item.name, name, pfd, rfd)
            except OSError:
                os.unlink(safefs.fit_name(name, ERROR_SUFFIX), dir_fd=rfd)  # no error file without its item
                raise
            side = item.name + SIDECAR_SUFFIX
            if _lstat(item.parent / side) is not None:
                os.rename(side, safefs.fit_name(name, SIDECAR_SUFFIX), src_dir_fd=pfd, dst_dir_fd=rfd)
        finally:
            os.close(pfd)
    finally:
        os.close(rfd)
    return rejected / name


def _claim_error_name(rfd: int, base: str, reason: str) -> str:
    """A name in `.rejected/` free for the item, its sidecar and its `.error` — the error
    file written (created new) as the claim."""
    for n in range(1, 10_000):
        name = base if n == 1 else safefs.fit_name(base, f".{n}")
        taken = [x for x in (name, safefs.fit_name(name, SIDECAR_SUFFIX)) if _exists_at(rfd, x)]
        if taken:
            continue
        try:
            safefs.create_new(safefs.fit_name(name, ERROR_SUFFIX), (reason.rstrip() + "\n").encode(), dir_fd=rfd)
        except FileExistsError:  # a file or link already there: never written through, another name taken
            continue
        return name
    raise KnitError("the inbox's .rejected/ holds too many items of this name; empty it")


def _exists_at(dir_fd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=dir_fd)
        return True
    except FileNotFoundError:
        return False


def _rename(name: str, new: str, src_fd: int, dst_fd: int) -> None:
    try:
        os.rename(name, new, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    except PermissionError:
        st = os.lstat(name, dir_fd=src_fd)
        if not stat.S_ISDIR(st.st_mode):
            raise
        # a directory moves to another parent only if writable itself (its `..` changes)
        mode = stat.S_IMODE(st.st_mode)
        os.chmod(name, mode | stat.S_IWUSR | stat.S_IXUSR, dir_fd=src_fd)
        os.rename(name, new, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        os.chmod(new, mode, dir_fd=dst_fd)


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
