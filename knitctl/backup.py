"""Backup and restore of a KNIT_HOME, while knitd runs and pushes go on (README: Backup and restore).

A backup is a directory that is itself a paired home:

    DEST/catalog.db    the catalog as of one commit (SQLite's online backup; knitctl/catalog/backup.py)
    DEST/store-id      the pairing (knitctl/pairing.py), the same id the copied catalog carries
    DEST/data/<id>/    every datum that catalog knows as committed: hard links to the store's files
                       when DEST is on the store's filesystem (committed data are immutable), else copies
    DEST/logs/         the logs of the runs that had finished
    DEST/config.yaml   the user's config file, when there is one (0600; never printed)
    DEST/backup.json   what the backup holds; written last

It is written into `DEST.partial` and renamed to DEST at the end, so a backup killed midway leaves no
DEST at all (and `DEST.partial` with a `.in-progress` marker, which the next backup clears).

Data removed from the store while a backup copies (`run rm`, `retry`) can't be copied: the catalog is
then copied again and the data the newer copy knows are added, until one copy's data are all there.

A restore goes the same way into `<KNIT_HOME>.restore-partial`, renamed onto KNIT_HOME at the end:
a restore killed midway leaves no home. Runs that were running or ending when the backup was taken
can't finish in the restored home (their containers belong to the old one): they are failed there,
with a message saying so, and `knitctl run retry` runs them again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import config as config_file
from . import pairing, runstate, safefs
from .catalog import Catalog, now_ms, preflight, scheduler
from .catalog import backup as rows
from .catalog import runs as run_rows
from .errors import Conflict, KnitError, UsageError
from .home import Home
from .store import _sync

MANIFEST = "backup.json"
FORMAT = "knit-backup"
VERSION = 1
IN_PROGRESS = ".in-progress"
PARTIAL = ".partial"
RESTORE_PARTIAL = ".restore-partial"
CONFIG = "config.yaml"
MAX_ROUNDS = 5
ACTIVE_NOTE = "restored from a backup taken while it ran"
ACTIVE_MESSAGE = ("it was in progress when the backup was taken; its outputs were not in the backup. "
                  "`knitctl run retry` runs it again")

Progress = Callable[[int], None]


# -- the rules (pure) ------------------------------------------------------------------------


def inside(path: Path, root: Path) -> bool:
    """Whether `path` is `root` or below it (both absolute and resolved)."""
    return path == root or root in path.parents


def dest_problem(home: Path, dest: Path, *, dest_exists: bool, dest_empty: bool, parent_is_dir: bool) -> str | None:
    """What is wrong with backing up the home at `home` into `dest` (both resolved), or None."""
    if inside(dest, home):
        return f"{dest}: is inside KNIT_HOME ({home}); a backup must go outside it — give a path elsewhere"
    if dest_exists and not dest_empty:
        return f"{dest}: already exists and is not empty; give a new path (or an empty directory)"
    if not dest_exists and not parent_is_dir:
        return f"{dest.parent}: no such directory; create it first, or give a path in an existing directory"
    return None


def manifest_problem(doc: object) -> str | None:
    """What is wrong with a backup.json's content, or None."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return f"its {MANIFEST} is not a knit backup's"
    if doc.get("version") != VERSION:
        return f"it is a backup of version {doc.get('version')!r}, which this knit does not read (it reads {VERSION})"
    if not isinstance(doc.get("store_id"), str) or not isinstance(doc.get("home"), str):
        return f"its {MANIFEST} lacks the store id or the home it came from"
    return None


# -- reports ---------------------------------------------------------------------------------


@dataclass
class Copied:
    """What went into a backup or a restored home."""

    link: bool                     # hard links were asked for (same filesystem, no --copy)
    data: int = 0
    files: int = 0
    bytes: int = 0
    linked: int = 0                # files hard-linked (the others were copied)
    logs: int = 0

    def add(self, other: Copied) -> None:
        self.data += other.data
        self.files += other.files
        self.bytes += other.bytes
        self.linked += other.linked

    @property
    def method(self) -> str:
        """hardlink, copy, or hardlink+copy (where the filesystem refused some links)."""
        if not self.files:
            return "hardlink" if self.link else "copy"
        return "hardlink" if self.linked == self.files else "copy" if not self.linked else "hardlink+copy"


@dataclass
class Report:
    action: str                    # backup | restore
    source: str
    dest: str
    store_id: str
    schema: int
    catalog: dict[str, int]
    copied: Copied
    config: str                    # what happened to the config file, in words
    rounds: int = 1
    failed_runs: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        c = self.copied
        return {
            "action": self.action, "source": self.source, "dest": self.dest, "store_id": self.store_id,
            "schema": self.schema, "catalog": dict(self.catalog),
            "data": {"directories": c.data, "files": c.files, "bytes": c.bytes, "method": c.method},
            "logs": c.logs, "config": self.config, "catalog_copies": self.rounds,
            "failed_runs": list(self.failed_runs), "seconds": round(self.seconds, 3),
        }


# -- copying the store -------------------------------------------------------------------------


class Vanished(Exception):
    """A datum's directory went away while it was being copied (removed from the store)."""


def same_filesystem(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def copy_datum(src: Path, dst: Path, *, link: bool, progress: Progress | None) -> Copied:
    """Copy the datum directory `src` to `dst` (which must not exist) with its modes: files hard-linked
    (`link`) or copied, links and directories made anew. Written as `dst`'s sibling `.<name>.part` and
    renamed at the end. Vanished when `src` goes away meanwhile."""
    part = dst.with_name(f".{dst.name}.part")
    if part.exists():
        _remove_tree(part)
    done = Copied(link)
    dirs: list[tuple[str, int]] = []
    try:
        top = os.lstat(src)
        if not stat.S_ISDIR(top.st_mode):
            raise KnitError(f"{src}: is not a directory; the store holds only directories (run `knitctl doctor`)")
        os.mkdir(part, 0o700)
        dirs.append((os.fspath(part), stat.S_IMODE(top.st_mode)))
        stack = [(os.fspath(src), os.fspath(part))]
        while stack:
            s, d = stack.pop()
            with os.scandir(s) as listing:
                for e in listing:
                    out = f"{d}/{e.name}"
                    st = e.stat(follow_symlinks=False)
                    if stat.S_ISLNK(st.st_mode):
                        os.symlink(os.readlink(e.path), out)
                    elif stat.S_ISDIR(st.st_mode):
                        os.mkdir(out, 0o700)
                        dirs.append((out, stat.S_IMODE(st.st_mode)))
                        stack.append((e.path, out))
                    elif stat.S_ISREG(st.st_mode):
                        if link and _link(e.path, out):
                            done.linked += 1
                        else:
                            _copy_file(e.path, out, st)
                        done.files += 1
                        done.bytes += st.st_size
                        if progress:
                            progress(st.st_size)
                    else:
                        raise KnitError(f"{e.path}: is a special file in the store; run `knitctl doctor`")
        for path, mode in reversed(dirs):  # what a directory holds before the directory
            os.chmod(path, mode)
        os.rename(part, dst)
    except FileNotFoundError:
        _remove_tree(part)
        if not src.exists():
            raise Vanished(src.name) from None
        raise
    except BaseException:
        _remove_tree(part)
        raise
    done.data = 1
    return done


LINK_REFUSED = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES)


def _link(src: str, dst: str) -> bool:
    """Hard-link `src` as `dst`; False where the system refuses (a bind mount of the same filesystem:
    EXDEV; protected hard links: EPERM; too many links: EMLINK), so the file is copied instead."""
    try:
        os.link(src, dst, follow_symlinks=False)
        return True
    except OSError as e:
        if e.errno in LINK_REFUSED:
            return False
        raise


def _copy_file(src: str, dst: str, st: os.stat_result) -> None:
    """A copy of a regular file with its mode and times (the kernel copies where it can)."""
    with open(src, "rb", buffering=0) as fi:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            if st.st_size:
                _kernel_copy(fi.fileno(), fd, st.st_size)
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd)


def _kernel_copy(fi: int, fo: int, size: int) -> None:
    try:
        left = size
        while left > 0:
            n = os.copy_file_range(fi, fo, left)
            if n == 0:
                break
            left -= n
        if left <= 0:
            return
    except OSError:  # EXDEV on old kernels, or a filesystem without it: plain reads and writes
        os.lseek(fi, 0, os.SEEK_SET)
        os.lseek(fo, 0, os.SEEK_SET)
        os.ftruncate(fo, 0)
    while chunk := os.read(fi, 1 << 20):
        while chunk:
            chunk = chunk[os.write(fo, chunk):]


def _remove_tree(path: Path) -> None:
    """Remove what this module wrote (its read-only directories made writable first)."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink():
        for dirpath, dirnames, _ in os.walk(path):
            for name in dirnames:
                p = os.path.join(dirpath, name)
                if not os.path.islink(p):
                    os.chmod(p, 0o700)
        os.chmod(path, 0o700)
        shutil.rmtree(path)
    else:
        path.unlink()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


# -- a directory being written ------------------------------------------------------------------


@contextlib.contextmanager
def partial_dir(path: Path, what: str) -> Iterator[Path]:
    """Create `path` (0700) with an `.in-progress` marker locked for as long as it is being written.

    A leftover of a killed writer (its marker no longer locked) is removed first; one being written
    now, or anything without the marker, is refused. On an error the directory is removed; on success
    the caller has removed the marker (`finish_partial`) and renamed it."""
    if path.exists() or path.is_symlink():
        marker = path / IN_PROGRESS
        if not path.is_symlink() and not marker.exists() and (path / MANIFEST).is_file():
            raise Conflict(f"{path}: holds a finished backup whose last step (its rename) was interrupted; "
                           "rename it to the path you meant, or remove it")
        if path.is_symlink() or not marker.is_file():
            raise Conflict(f"{path}: exists and was not left by knit; remove it, or give another path")
        fd = os.open(marker, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Conflict(f"{path}: another {what} is writing it now; wait for it to end") from None
        os.close(fd)
        _remove_tree(path)
    os.mkdir(path, 0o700)
    fd = os.open(path / IN_PROGRESS, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield path
    except BaseException:
        with contextlib.suppress(OSError):
            _remove_tree(path)
        raise
    finally:
        os.close(fd)


def finish_partial(path: Path, final: Path) -> None:
    """Flush everything written under `path`, drop its marker and rename it to `final` (an absent
    path or an empty directory), durably."""
    _sync(path)
    (path / IN_PROGRESS).unlink()
    os.rename(path, final)
    safefs.fsync_dir(final.parent)


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _dir_is_empty(path: Path) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


# -- backup ----------------------------------------------------------------------------------


class Backup:
    """`Backup(home, dest)` checks everything and takes nothing; `run(progress)` makes the backup."""

    def __init__(self, home: Home, dest: Path, *, copy: bool = False):
        self.home = home
        self.dest = Path(os.path.abspath(dest))
        if pairing.inspect_file(home.catalog) != "sqlite":
            raise UsageError(f"{home.root}: no knit catalog there (catalog.db); nothing to back up — "
                             "set KNIT_HOME to the home to back up")
        resolved = self.dest.resolve()
        exists = resolved.is_dir() or resolved.exists() or self.dest.is_symlink()
        if exists and not resolved.is_dir():
            raise UsageError(f"{self.dest}: already exists and is not a directory; give a new path")
        problem = dest_problem(home.root.resolve(), resolved, dest_exists=exists,
                               dest_empty=exists and _dir_is_empty(resolved), parent_is_dir=resolved.parent.is_dir())
        if problem:
            raise UsageError(problem)
        self.dest = resolved
        self.partial = resolved.with_name(resolved.name + PARTIAL)
        self.link = not copy and same_filesystem(home.data if home.data.exists() else home.root, resolved.parent)
        self.catalog = Catalog(home.catalog, readonly=True)
        try:
            with self.catalog.read() as conn:
                self.schema = self.catalog.version
                self.total = sum(c.size for c in rows.committed(conn))
                self._check_pairing(pairing.catalog_id(conn) or "")
        except BaseException:
            self.catalog.close()
            raise

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Backup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, progress: Progress | None = None) -> Report:
        started = time.monotonic()
        with partial_dir(self.partial, "backup") as out:
            data = out / "data"
            os.mkdir(data, 0o700)
            have: dict[str, Copied] = {}
            rounds = 0
            while True:
                rounds += 1
                snapshot = out / "catalog.db"
                if snapshot.exists():
                    snapshot.unlink()
                rows.online_copy(self.catalog.conn, snapshot)
                committed, counts, store_id, finished = _read_snapshot(snapshot)
                wanted = {c.knit_id for c in committed}
                for gone in sorted(set(have) - wanted):  # removed from the store since an earlier copy
                    _remove_tree(data / gone)
                    del have[gone]
                vanished = False
                for c in committed:
                    if c.knit_id in have:
                        continue
                    try:
                        have[c.knit_id] = copy_datum(self.home.data / c.knit_id, data / c.knit_id, link=self.link,
                                                     progress=progress)
                    except Vanished:
                        vanished = True
                if not vanished:
                    break
                if rounds == MAX_ROUNDS:
                    raise Conflict(f"the store changed faster than it could be copied ({MAX_ROUNDS} tries): data "
                                   "were removed while the backup copied them; try again when fewer are being removed")
            self._check_pairing(store_id)
            _write_private(out / pairing.STORE_ID_FILE, (store_id + "\n").encode())
            logs = _copy_logs(self.home.logs, out / "logs", finished)
            config = _copy_config(out / CONFIG)
            copied = Copied(self.link, logs=logs)
            for one in have.values():  # what the backup holds (not what an earlier round copied and dropped)
                copied.add(one)
            doc = {
                "format": FORMAT, "version": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "home": str(self.home.root), "store_id": store_id, "schema": self.schema, "catalog": counts,
                "data": {"directories": len(committed), "files": copied.files, "bytes": copied.bytes},
                "config": config is not None,
            }
            _write_private(out / MANIFEST, (json.dumps(doc, indent=2) + "\n").encode())
            if self.dest.exists():
                os.rmdir(self.dest)  # an empty directory given as DEST: the rename takes its place
            finish_partial(out, self.dest)
        return Report("backup", str(self.home.root), str(self.dest), store_id, self.schema, counts, copied,
                      f"copied from {config}" if config else "none to copy", rounds=rounds,
                      seconds=time.monotonic() - started)

    def _check_pairing(self, catalog_store_id: str) -> None:
        sid = pairing.read_store_id(self.home.root)
        if not catalog_store_id or sid != catalog_store_id:
            raise KnitError(f"{self.home.root}: the catalog and the store are not paired (catalog: "
                            f"{catalog_store_id or 'none'}, store: {sid or 'none'}); nothing was backed up. "
                            "Run `knitctl doctor` to see why")


def _read_snapshot(path: Path) -> tuple[list[rows.Committed], dict[str, int], str, list[str]]:
    """What a copied catalog knows: committed data, counts, its store id, its finished runs."""
    catalog = Catalog(path, readonly=True)
    try:
        with catalog.read() as conn:
            return (rows.committed(conn), rows.counts(conn), pairing.catalog_id(conn) or "",
                    rows.terminal_runs(conn, runstate.TERMINAL))
    finally:
        catalog.close()


def _copy_logs(logs: Path, dest: Path, runs: list[str]) -> int:
    os.mkdir(dest, 0o700)
    n = 0
    for run_id in runs:
        src = logs / f"{run_id}.log"
        try:
            with open(src, "rb") as f:
                _write_private(dest / src.name, f.read())
            n += 1
        except FileNotFoundError:
            continue
    return n


def _copy_config(dest: Path) -> Path | None:
    """The user's config file into `dest` (0600), when there is one; its path."""
    path = config_file.config_path()
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    _write_private(dest, data)
    return path


# -- restore ---------------------------------------------------------------------------------


def _not_a_backup(src: Path, why: str) -> UsageError:
    return UsageError(f"{src}: not a knit backup ({why}); give a directory written by `knitctl backup`")


def read_backup(src: Path) -> dict:
    """The manifest of the backup at `src`, after checking that it is one: UsageError when not."""
    if not src.is_dir():
        raise _not_a_backup(src, "no such directory" if not src.exists() else "not a directory")
    if (src / IN_PROGRESS).exists():
        raise _not_a_backup(src, "an unfinished backup, interrupted while it was written")
    try:
        doc = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise _not_a_backup(src, f"no {MANIFEST}") from None
    except (OSError, ValueError) as e:
        raise _not_a_backup(src, f"its {MANIFEST} can't be read: {e}") from None
    problem = manifest_problem(doc)
    if problem:
        raise _not_a_backup(src, problem)
    if pairing.read_store_id(src) != doc["store_id"]:
        raise _not_a_backup(src, f"its {pairing.STORE_ID_FILE} does not match {MANIFEST}")
    try:
        preflight.check(src / "catalog.db", readonly=True)
    except preflight.Refused as e:
        raise _not_a_backup(src, f"catalog.db: {e.message}") from None
    if not (src / "catalog.db").is_file():
        raise _not_a_backup(src, "no catalog.db")
    return doc


def home_is_empty(root: Path) -> bool:
    """Whether a home may be restored into: absent, or holding nothing but empty folders of knit's layout."""
    if not root.exists() and not root.is_symlink():
        return True
    if root.is_symlink() or not root.is_dir():
        return False
    for e in os.scandir(root):
        if not (e.is_dir(follow_symlinks=False) and e.name in ("data", "staging", "trash", "logs", "runs", "inbox")
                and _dir_is_empty(Path(e.path))):
            return False
    return True


class Restore:
    """`Restore(src, home)` checks everything and changes nothing; `run(progress)` restores."""

    def __init__(self, src: Path, home: Home, *, copy: bool = False):
        self.src = Path(os.path.abspath(src))
        self.home = home
        self.doc = read_backup(self.src)
        root = home.root.absolute()
        if inside(root.resolve() if root.exists() else root, self.src.resolve()):
            raise UsageError(f"KNIT_HOME ({root}) is inside the backup {self.src}; restore into a home elsewhere")
        if not home_is_empty(root):
            raise UsageError(f"{root}: KNIT_HOME is not empty; restore only into a new or empty home — "
                             "set KNIT_HOME to a new path (or move this one away)")
        self.partial = root.with_name(root.name + RESTORE_PARTIAL)
        self.link = not copy and same_filesystem(self.src / "data", _existing_ancestor(root.parent))
        self.committed = _backup_catalog(self.src / "catalog.db", self.doc["store_id"])
        missing = [c.knit_id for c in self.committed if not (self.src / "data" / c.knit_id).is_dir()]
        if missing:
            raise _not_a_backup(self.src, f"{len(missing)} data its catalog knows are missing, e.g. data/{missing[0]}")
        self.total = sum(c.size for c in self.committed)

    def run(self, progress: Progress | None = None) -> Report:
        started = time.monotonic()
        root = self.home.root.absolute()
        root.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with partial_dir(self.partial, "restore") as out:
            target = Home(out)
            copied = Copied(self.link)
            os.mkdir(target.data, 0o700)
            for c in self.committed:
                copied.add(copy_datum(self.src / "data" / c.knit_id, target.data / c.knit_id, link=self.link,
                                      progress=progress))
            rows.copy_file(self.src / "catalog.db", target.catalog)
            target.ensure()
            logs = self.src / "logs"
            for f in sorted(logs.iterdir()) if logs.is_dir() else []:
                if f.name.endswith(".log") and f.is_file() and not f.is_symlink():
                    _write_private(target.logs / f.name, f.read_bytes())
                    copied.logs += 1
            failed, counts, schema = _settle(target, old_data=str(Path(self.doc["home"]) / "data"),
                                             new_data=str(root / "data"))
            # the pairing last: a restore killed before this point left a store no knit opens (it lacks its id)
            _write_private(out / pairing.STORE_ID_FILE, (self.doc["store_id"] + "\n").encode())
            for leftover in ("data", "staging", "trash", "logs", "runs", "inbox"):  # an empty layout given as home
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(root / leftover)
            finish_partial(out, root)
        config = _restore_config(self.src / CONFIG)
        return Report("restore", str(self.src), str(root), self.doc["store_id"], schema, counts, copied, config,
                      failed_runs=failed, seconds=time.monotonic() - started)


def _backup_catalog(path: Path, store_id: str) -> list[rows.Committed]:
    """The committed data a backup's catalog knows, once it is found sound (SQLite's quick check) and
    paired with the backup's store id; read without writing beside it (no -wal, no -shm)."""
    import sqlite3

    from .catalog import upkeep

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = upkeep.quick_check(conn, 3)
        if check != ["ok"]:
            raise _not_a_backup(path.parent, f"catalog.db is damaged: {'; '.join(check)[:200]}")
        if pairing.catalog_id(conn) != store_id:
            raise _not_a_backup(path.parent, f"catalog.db belongs to another store than its {MANIFEST} says")
        return rows.committed(conn)
    except sqlite3.DatabaseError as e:
        raise _not_a_backup(path.parent, f"catalog.db can't be read: {e}") from None
    finally:
        conn.close()


def _settle(home: Home, *, old_data: str, new_data: str) -> tuple[list[str], dict[str, int], int]:
    """The restored catalog's last changes, in one transaction: data URIs under the new home, and the
    runs that were in progress failed. (failed run ids, counts, schema version)."""
    catalog = Catalog(home.catalog)
    try:
        failed = []
        with catalog.write() as conn:
            rows.rebase_uris(conn, old_data.rstrip("/") + "/", new_data.rstrip("/") + "/")
            for run_id, status in sorted(scheduler.active_runs(conn)):
                if status in runstate.PRESTART:
                    continue  # no task ran yet: the restored home's knitd starts it
                _fail(conn, run_id, status)
                failed.append(run_id)
            counts = rows.counts(conn)
        return failed, counts, catalog.version
    finally:
        catalog.close()


def _fail(conn, run_id: str, status: str) -> None:
    """Fail a run that was in progress: along the run graph where it can go there (running → aborting →
    failed), else (a stop being acted on: completing) outside it, as retry's reset is."""
    if status == "running":
        runstate.move(conn, run_id, "aborting", note=ACTIVE_NOTE)
        status = "aborting"
    if status == "aborting":
        runstate.move(conn, run_id, "failed", message=ACTIVE_MESSAGE, note=ACTIVE_NOTE)
        return
    row = run_rows.status_and_execution(conn, run_id)
    assert row is not None
    run_rows.record_status(conn, run_id, row[1], "failed", now_ms(), ACTIVE_NOTE, finish=True, message=ACTIVE_MESSAGE)


def _restore_config(saved: Path) -> str:
    """Put the backup's config file in place when the user has none; never over one."""
    if not saved.is_file():
        return "none in the backup"
    path = config_file.config_path()
    if path.exists():
        return f"kept {path}; the backup's is {saved}"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    _write_private(tmp, saved.read_bytes())
    try:
        os.link(tmp, path)  # never over a file made meanwhile
    except FileExistsError:
        return f"kept {path}; the backup's is {saved}"
    finally:
        tmp.unlink()
    return f"restored to {path}"
