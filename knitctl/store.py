"""The store of immutable data directories (docs/ARCHITECTURE.md#storage).

A commit goes: write into `staging/<id>/` (or rename a same-filesystem source
there) → flush to disk → digest, size, file count → rename into `data/<id>/`
→ one catalog transaction (done by the caller). A crash at any step leaves
either nothing visible or a complete datum: `reclaim()` at the next open
removes staging leftovers and committed-looking directories the catalog never
heard of — except moved sources, which go back where they came from.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import mmap
import os
import queue
import shutil
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import digest, safefs
from .digest import DEFERRED
from .errors import KnitError, UsageError
from .home import Home

CHUNK = 1 << 20
DIRECT_MIN = 1 << 20           # files this big are written around the page cache (O_DIRECT) where possible
COPY_BUFFER = 256 << 10        # small enough to stay in cache between the read, the hash and the write
WRITEBACK_EVERY = 8 << 20      # start the disk writing a copied file's pages every this many bytes
COPY_THREADS = 1  # measured: a second thread cost twice the CPU (GIL hand-offs) and more wall time on 2 cores
ORIGIN_SUFFIX = ".origin"
LOCK_SUFFIX = ".lock"

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Manifest:
    digest: str
    size: int
    file_count: int


def check_source(path: Path) -> Path:
    """A directory or file a user wants to push; errors say what and how to fix."""
    if not path.exists() and not path.is_symlink():
        raise UsageError(f"{path}: no such file or directory; give the path of a directory to push")
    if path.is_symlink():
        raise UsageError(f"{path}: is a symbolic link; push the directory it points to instead")
    if not (path.is_dir() or path.is_file()):
        raise UsageError(f"{path}: is neither a directory nor a regular file")
    _check_utf8(str(path.absolute()))
    for p in _walk(path) if path.is_dir() else []:
        _check_utf8(str(p))
        mode = os.lstat(p).st_mode
        if stat.S_ISLNK(mode):
            target = os.readlink(p)
            _check_utf8(target, of=str(p))
            try:
                resolved = (p.parent / target).resolve(strict=False)
            except (RuntimeError, OSError):  # a loop of links (RuntimeError before Python 3.13)
                raise UsageError(
                    f"{p}: symbolic link to {target!r} is part of a loop of links; "
                    "remove it or replace it with the file itself"
                ) from None
            if os.path.isabs(target) or not _inside(resolved, path.resolve()):
                raise UsageError(
                    f"{p}: symbolic link to {target!r} points outside {path}; "
                    "replace it with the file itself or a link inside the directory"
                )
        elif safefs.is_special(mode):
            raise UsageError(
                f"{p}: is a special file, {safefs.kind(mode)}; data can hold only files, directories and links — "
                "remove it and push again"
            )
        elif not os.access(p, os.R_OK | (os.X_OK if stat.S_ISDIR(mode) else 0)):
            raise UsageError(f"{p}: is not readable; fix its permissions (chmod u+r) and push again")
    return path


def _check_utf8(name: str, *, of: str | None = None) -> None:
    """Names (and link targets) are kept as text: one that isn't UTF-8 is refused before anything is written."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(of or name).decode("utf-8", "backslashreplace")
        what = "its link target is" if of else "the name is"
        raise UsageError(f"{shown}: {what} not valid UTF-8; knit keeps names as text — rename it "
                         "(e.g. `convmv -f latin1 -t utf8`) and push again") from None


def _inside(p: Path, root: Path) -> bool:
    try:
        p.relative_to(root)
        return True
    except ValueError:
        return False


def _walk(root: Path) -> Iterable[Path]:
    """Every entry below root, sorted for a stable digest."""
    stack = [root]
    while stack:
        d = stack.pop()
        entries = sorted(os.scandir(d), key=lambda e: e.name, reverse=True)
        for e in entries:
            p = Path(e.path)
            yield p
            if e.is_dir(follow_symlinks=False):
                stack.append(p)


def _scan(top: str) -> Iterator[tuple[str, os.DirEntry]]:
    """Every entry below the directory `top` as (rel, entry), `rel` its posix path relative to
    top: strings and the entries' types as listed (no Path objects, no stat), each directory
    before what it holds, in no other order (a digest sorts its lines itself)."""
    stack = [("", top)]
    while stack:
        prefix, d = stack.pop()
        with os.scandir(d) as listing:
            for e in listing:
                rel = prefix + e.name
                yield rel, e
                if e.is_dir(follow_symlinks=False):
                    stack.append((rel + "/", e.path))


def _sorted_entries(root: Path) -> list[Path]:
    return [Path(e.path) for _, e in sorted(_scan(os.fspath(root)), key=lambda entry: entry[0])]


class Store:
    def __init__(self, home: Home):
        self.home = home
        self._sealed: set[Path] = set()  # staged by a copy, in their final modes already

    def path_of(self, knit_id: str) -> Path:
        return self.home.data / knit_id

    # -- staging ------------------------------------------------------------

    def stage_copy(self, knit_id: str, source: Path, progress: Progress | None = None) -> tuple[Path, Manifest]:
        """Copy `source` into staging/<id>/ in one pass: each file is read once, and what was read
        is hashed and written (the digest is of exactly the bytes stored). Files are created with
        their final read-only modes and directories are made read-only once filled, so `publish`
        has nothing left to change; file pages start going to disk as they are written, so the
        flush before the commit has little left to wait for."""
        dest = self.home.staging / knit_id
        dest.mkdir(mode=0o700)
        top = os.fspath(dest)
        entries: Iterable[tuple[str, os.DirEntry | None]]
        if stat.S_ISDIR(os.lstat(source).st_mode):
            entries, base = _scan(os.fspath(source)), os.fspath(source)
        else:
            entries, base = [(source.name, None)], os.fspath(source.parent)
        # Directories and links as they are listed (a directory before what it holds); files
        # are copied and hashed by COPY_THREADS (hashing and file I/O release the GIL).
        lines: list[tuple[str, bytes]] = []
        dirs: list[str] = []
        jobs: list[tuple[str, str, str]] = []
        for rel, e in entries:
            src, out = f"{base}/{rel}", f"{top}/{rel}"
            if e is None or e.is_file(follow_symlinks=False):
                jobs.append((src, out, rel))
            elif e.is_symlink():
                target = os.readlink(src)
                os.symlink(target, out)
                lines.append((rel, digest.link_line(rel, target)))
            elif e.is_dir(follow_symlinks=False):
                os.mkdir(out, 0o700)
                dirs.append(out)
                lines.append((rel, digest.dir_line(rel)))
            else:
                what = safefs.kind(e.stat(follow_symlinks=False).st_mode)
                raise UsageError(f"{src}: is {what}; data can hold only files, directories and links")
        lock = threading.Lock()
        umask = _umask()  # read once: a mode it leaves whole needs no fchmod after the create

        def report(n: int) -> None:
            if progress:
                with lock:
                    progress(n)

        writer = _Writer() if jobs else None  # big files are written on its thread

        def copy_one(job: tuple[str, str, str]) -> tuple[str, int, bytes]:
            src, out, rel = job
            fh = hashlib.sha256()
            n, executable = _copy_file(src, out, fh, report if progress else None, stored=True, umask=umask,
                                       writer=writer)
            return rel, n, digest.file_line(rel, n, executable, fh.hexdigest())

        size = 0
        try:
            for rel, n, line in _parallel_map(copy_one, jobs, COPY_THREADS):
                lines.append((rel, line))
                size += n
        except BaseException:
            if writer is not None:
                writer.finish(quiet=True)  # its fds closed; the error raised is this one
            raise
        if writer is not None:
            writer.finish()  # every write done, or its error raised, before the flush
        for d in reversed(dirs):  # what a directory holds before the directory
            os.chmod(d, 0o500)
        _sync(dest)
        self._sealed.add(dest)
        return dest, Manifest(digest.tree(lines), size, len(jobs))

    def stage_move(self, knit_id: str, source: Path) -> tuple[Path, Manifest]:
        """Rename `source` into staging/<id>/ (same filesystem only).

        An `<id>.origin` note records where it came from, so a crash before the
        catalog commit puts it back instead of losing it.
        """
        dest = self.home.staging / knit_id
        if os.stat(source).st_dev != os.stat(self.home.staging).st_dev:
            raise UsageError(
                f"{source}: --move needs the source on the same filesystem as {self.home.root}; "
                "push without --move to copy it"
            )
        origin = self.home.staging / (knit_id + ORIGIN_SUFFIX)
        _write_synced(origin, json.dumps({"path": str(source.absolute()), "file": source.is_file()}))
        if source.is_file():
            dest.mkdir(mode=0o700)
            os.rename(source, dest / source.name)
        else:
            os.rename(source, dest)
        os.chmod(dest, 0o700)
        safefs.fsync_dir(self.home.staging)
        safefs.fsync_dir(source.absolute().parent)
        return dest, self.census(dest, unshare=True)

    def stage_links(self, source: Path, dest: Path) -> None:
        """Rebuild the committed datum directory `source` at `dest` (a new directory) from hard links: the
        same files, no byte copied (a datum is read-only, so its inodes can be shared; knitctl.reuse). A file
        whose mode is not a datum's (0400/0500) is copied instead, so `publish` never changes a shared
        inode's mode. The directories are flushed; `publish` renames `dest` into data/ afterwards."""
        dest.mkdir(mode=0o700)
        dirs = [dest]
        top, base = os.fspath(dest), os.fspath(source)
        for rel, e in _scan(base):
            out = f"{top}/{rel}"
            if e.is_symlink():
                os.symlink(os.readlink(e.path), out)
            elif e.is_dir(follow_symlinks=False):
                os.mkdir(out, 0o700)
                dirs.append(Path(out))
            elif stat.S_IMODE(e.stat(follow_symlinks=False).st_mode) in (0o400, 0o500):
                os.link(e.path, out, follow_symlinks=False)
            else:
                _copy_file(e.path, out, hashlib.sha256(), None, stored=True)
        for d in dirs:
            safefs.fsync_dir(d)

    def census(self, root: Path, *, unshare: bool = False) -> Manifest:
        """Size and file count without reading a byte; the digest is DEFERRED.

        A same-filesystem move is a rename, so its cost must not grow with the
        data: hashing waits for knitd's background pass, or the first pull.
        `unshare`: a file with other hard links is replaced by a copy of its own
        (the one case where a move reads bytes: a datum must not share an inode
        with a name outside the store, whose mode would change and whose writes
        would change the datum).
        """
        size = files = 0
        for _, e in _scan(os.fspath(root)):
            if e.is_file(follow_symlinks=False):
                st = e.stat(follow_symlinks=False)
                if unshare and st.st_nlink > 1:
                    _unshare(Path(e.path), st)
                size += st.st_size
                files += 1
        return Manifest(DEFERRED, size, files)

    def manifest(self, root: Path, progress: Progress | None = None) -> Manifest:
        """Digest, size and file count of a directory (the same rules as staging)."""
        lines, size, files = self.digest_lines(root, progress)
        return Manifest(digest.tree(lines), size, files)

    def digest_lines(self, root: Path, progress: Progress | None = None) -> tuple[list[tuple[str, bytes]], int, int]:
        """The `(rel, line)` of each entry below `root` (knitctl/digest.py), with the bytes and files counted:
        `manifest`'s digest is of these; `knitctl run verify` compares them entry by entry."""
        lines: list[tuple[str, bytes]] = []
        size = files = 0
        for rel, e in _scan(os.fspath(root)):
            if e.is_symlink():
                lines.append((rel, digest.link_line(rel, os.readlink(e.path))))
            elif e.is_dir(follow_symlinks=False):
                lines.append((rel, digest.dir_line(rel)))
            else:  # a regular file, or a special one that _open_regular refuses without opening it
                fh = hashlib.sha256()
                n = 0
                source = _open_regular(e.path)
                with source as f:
                    view = _buffer(CHUNK)
                    while k := f.readinto(view):
                        fh.update(view[:k])
                        n += k
                        if progress:
                            progress(k)
                lines.append((rel, digest.file_line(rel, n, bool(source.st.st_mode & stat.S_IXUSR), fh.hexdigest())))
                size += n
                files += 1
        return lines, size, files

    def publish(self, knit_id: str, staged: Path) -> Path:
        """Make staged files read-only and rename them into data/<id>/.

        The top directory turns read-only only after the rename: moving a
        directory to another parent rewrites its `..`, which needs write
        permission on it (root doesn't care; everyone else does).
        """
        if staged in self._sealed:
            self._sealed.discard(staged)
        else:
            _make_readonly(staged, top=False)
        final = self.path_of(knit_id)
        os.rename(staged, final)
        os.chmod(final, 0o500)
        safefs.fsync_dir(self.home.data)
        return final

    def unpublish(self, knit_id: str) -> None:
        """Undo `publish` after a failed catalog commit (best effort)."""
        final = self.path_of(knit_id)
        if final.exists():
            self._restore_or_trash(knit_id, final)

    # -- recovery and removal ----------------------------------------------

    @contextlib.contextmanager
    def claim(self, knit_id: str) -> Iterator[None]:
        """Hold `staging/<id>.lock` while an id is being staged, published and committed.

        The lock file outlives a crash (the kernel drops the lock itself), so
        leftovers are found by listing staging/ alone, never data/.
        """
        lock = self.home.staging / (knit_id + LOCK_SUFFIX)
        while True:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            # A reclaim that locked and unlinked the file between our open() and
            # flock() leaves us holding a lock nobody else can see: try again.
            try:
                if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        try:
            yield
            lock.unlink(missing_ok=True)
            (self.home.staging / (knit_id + ORIGIN_SUFFIX)).unlink(missing_ok=True)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _unless_claimed(self, knit_id: str) -> Iterator[bool]:
        """Take `knit_id`'s claim without waiting: True when taken (its lock file is removed after),
        False when a live process holds it. Check the catalog only while holding it."""
        lock = self.home.staging / (knit_id + LOCK_SUFFIX)
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False  # a live process is working on it
                return
            yield True
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def reclaim(self, committed: Callable[[str], bool]) -> list[str]:
        """Clear what crashed commits left; `committed(id)` asks the catalog.

        Ids whose lock a live process holds are left alone.
        """
        reclaimed: list[str] = []
        staging = self.home.staging
        if not staging.exists():
            return reclaimed
        names = {e.name.split(".", 1)[0] for e in staging.iterdir() if not e.name.startswith(".")}
        for knit_id in sorted(names):
            with self._unless_claimed(knit_id) as mine:
                if not mine:
                    continue
                if not committed(knit_id):
                    for path in (self.path_of(knit_id), staging / knit_id):
                        if path.exists() or path.is_symlink():
                            self._restore_or_trash(knit_id, path)
                    reclaimed.append(knit_id)
                elif (staging / knit_id).exists():
                    self.discard_path(staging / knit_id)
                (staging / (knit_id + ORIGIN_SUFFIX)).unlink(missing_ok=True)
        self.empty_trash()
        return reclaimed

    def sweep(self, known: Callable[[list[str]], set[str]]) -> list[str]:
        """Remove directories in data/ the catalog doesn't know (`known(ids)` says which it does).

        The cheap pass over all names comes first; each candidate is then claimed and asked
        about again, so a push that commits in between is never taken for debris.
        """
        if not self.home.data.exists():
            return []
        names = [e.name for e in os.scandir(self.home.data)]
        swept = []
        for name in sorted(set(names) - known(names)):
            with self._unless_claimed(name) as mine:
                if mine and not known([name]):
                    self._restore_or_trash(name, self.path_of(name))
                    (self.home.staging / (name + ORIGIN_SUFFIX)).unlink(missing_ok=True)
                    swept.append(name)
        self.empty_trash()
        return swept

    def _restore_or_trash(self, knit_id: str, path: Path) -> None:
        origin = self.home.staging / (knit_id + ORIGIN_SUFFIX)
        if origin.exists():
            back, was_file = _read_origin(origin.read_text())
            _make_writable(path)
            entries = list(path.iterdir()) if path.is_dir() else []
            if back is None or (was_file and len(entries) != 1):
                # a torn note (written, synced, only then the move) or a file never moved in:
                # the source is still where it was
                self.discard_path(path)
            else:
                if back.exists() or back.is_symlink():
                    # something new took its place: keep both, never overwrite or discard the user's files
                    back = back.with_name(f"{back.name}.knit-restored-{knit_id}")
                if was_file:
                    os.rename(entries[0], back)  # a single moved file
                    path.rmdir()
                else:
                    os.rename(path, back)
            origin.unlink()
            return
        self.discard_path(path)

    def discard_path(self, path: Path) -> None:
        """Move a directory to trash (an atomic rename), then delete it."""
        if not path.exists():
            return
        self.home.trash.mkdir(mode=0o700, exist_ok=True)
        target = self.home.trash / f"{path.name}.{os.getpid()}.{id(path)}"
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o700)  # moving a directory to another parent needs write permission on it
        os.rename(path, target)
        _rmtree(target)

    def empty_trash(self) -> None:
        if self.home.trash.exists():
            for entry in self.home.trash.iterdir():
                _rmtree(entry)

    # -- reading -------------------------------------------------------------

    def verify(self, knit_id: str, expected: str, progress: Progress | None = None) -> None:
        actual = self.manifest(self.path_of(knit_id), progress).digest
        if actual != expected:
            raise KnitError(
                f"datum {knit_id} is corrupted: its files no longer match the recorded digest "
                f"({actual[:19]}… ≠ {expected[:19]}…); nothing was written. `knitctl doctor` lists damaged data"
            )

    def export_dir(self, knit_id: str, dest: Path, expected: str, progress: Progress | None = None) -> Path:
        """Copy a datum into dest/<id>/ after verifying it; atomic from dest's view."""
        src = self.path_of(knit_id)
        final = dest / knit_id
        if final.exists():
            raise UsageError(f"{final}: already exists; remove it or pull into another directory")
        tmp = dest / f".{knit_id}.partial"
        if tmp.exists():
            _rmtree(tmp)
        tmp.mkdir()
        try:
            lines: list[tuple[str, bytes]] = []
            top = os.fspath(tmp)
            for rel, e in _scan(os.fspath(src)):
                out = f"{top}/{rel}"
                if e.is_symlink():
                    target = os.readlink(e.path)
                    os.symlink(target, out)
                    lines.append((rel, digest.link_line(rel, target)))
                elif e.is_dir(follow_symlinks=False):
                    os.mkdir(out)
                    lines.append((rel, digest.dir_line(rel)))
                else:
                    # a new file of the user's, as any program makes one: 0666, or 0777 when
                    # executable, less the user's umask (the kernel applies it at creation)
                    fh = hashlib.sha256()
                    n, executable = _copy_file(e.path, out, fh, progress)
                    lines.append((rel, digest.file_line(rel, n, executable, fh.hexdigest())))
            if digest.tree(lines) != expected:
                raise KnitError(
                    f"datum {knit_id} is corrupted: its files no longer match the recorded digest; "
                    "nothing was written. `knitctl doctor` lists damaged data"
                )
            os.rename(tmp, final)
        except BaseException:
            _rmtree(tmp)
            raise
        return final

    def export_tar(self, knit_id: str, dest: Path, expected: str, progress: Progress | None = None) -> Path:
        """Write dest/<id>.tar.gz after verifying the datum."""
        self.verify(knit_id, expected, progress)
        final = dest / f"{knit_id}.tar.gz"
        if final.exists():
            raise UsageError(f"{final}: already exists; remove it or pull into another directory")
        tmp = dest / f".{knit_id}.tar.gz.partial"
        src = self.path_of(knit_id)
        import tarfile

        try:
            with tarfile.open(tmp, "w:gz") as tar:
                for p in _sorted_entries(src):
                    tar.add(p, arcname=p.relative_to(src).as_posix(), recursive=False)
            os.rename(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def stream_tar(self, knit_id: str, out, expected: str, progress: Progress | None = None) -> None:
        """Write the datum as a .tar.gz stream to the binary file `out` after verifying it (what export_tar writes)."""
        self.verify(knit_id, expected, progress)
        src = self.path_of(knit_id)
        import tarfile

        with tarfile.open(fileobj=out, mode="w|gz") as tar:
            for p in _sorted_entries(src):
                tar.add(p, arcname=p.relative_to(src).as_posix(), recursive=False)
        out.flush()


# -- helpers ------------------------------------------------------------------


class _open_regular:
    """`with _open_regular(path) as f`: an unbuffered binary file of a regular file, opened
    without following a link and never a FIFO, socket or device (KnitError then)."""

    def __init__(self, path: str | os.PathLike[str], *, raw_below: int = 0):
        """`raw_below`: a file smaller than this is given as a bare fd (`_RawFd`), no file object."""
        self.path = path
        self.raw_below = raw_below

    def __enter__(self):
        try:
            fd, self.st = safefs.open_regular_stat(self.path)
        except safefs.NotRegular as e:
            raise KnitError(
                f"{self.path}: is {e.what}; data can hold only files, directories and links"
            ) from None
        self.f = _RawFd(fd) if self.st.st_size < self.raw_below else open(fd, "rb", buffering=0)
        return self.f

    def __exit__(self, *exc) -> None:
        self.f.close()


def _copy_file(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], h, progress: Progress | None, *,
    stored: bool = False, umask: int = 0o777, writer: _Writer | None = None,
) -> tuple[int, bool]:
    """Copy one file in one pass — read into a buffer, hash it, write it — and return
    (bytes, executable). `stored`: the copy goes into the store (created with its final
    read-only mode, its pages sent to disk as it goes; a big one by `writer`, which may still
    be writing it on return); otherwise it is a new file of the user's (0666 or 0777, less
    the umask)."""
    source = _open_regular(src, raw_below=COPY_BUFFER)
    with source as fi:
        st = source.st
        executable = bool(st.st_mode & stat.S_IXUSR)
        mode = (0o500 if executable else 0o400) if stored else (0o777 if executable else 0o666)
        fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        handed = False  # to the writer, which closes it
        try:
            if stored and mode & umask:
                os.fchmod(fo, mode)  # exactly, whatever the umask
            if isinstance(fi, _RawFd):
                n = _small_copy(fi.fd, fo, st.st_size, h, progress)
            elif writer is not None and st.st_size >= DIRECT_MIN and _set_direct(fo, True):
                handed = True
                n = _direct_copy(fi, fo, h, progress, writer)
            else:
                n = _loop_copy(fi, fo, h, progress, writeback=stored)
        finally:
            if not handed:
                os.close(fo)
    return n, executable


class _RawFd:
    """A bare fd with a file's `fileno`/`close` (no file object, no fstat: a small file needs none)."""

    def __init__(self, fd: int):
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        os.close(self.fd)


def _small_copy(fi: int, fo: int, size: int, h, progress: Progress | None) -> int:
    """The one pass for a file smaller than the copy buffer: read, hash, write, with the fewest
    calls — a read that returns the whole size known from fstat ends it (no read for the end of
    file); anything else (a file that grew or shrank meanwhile) reads on to the end. Its pages go
    to disk with the filesystem's flush before the commit (syncfs), as with `cp -r; sync`."""
    n = 0
    view = _buffer(COPY_BUFFER)
    while k := os.readv(fi, [view]):
        chunk = view[:k]
        h.update(chunk)
        while chunk:
            chunk = chunk[os.write(fo, chunk):]
        n += k
        if progress:
            progress(k)
        if n == size and k < len(view):
            break
    return n


def _umask() -> int:
    """The process's umask, read without changing it (/proc/self/status; Linux 4.7+); when it
    cannot be read, every bit (so a caller then sets every mode exactly with fchmod)."""
    try:
        with open("/proc/self/status", "rb") as f:  # bytes: no codec to import (knitd may run where it can't)
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777


_buffers = threading.local()


def _buffer(size: int, aligned: bool = False) -> memoryview:
    """This thread's copy buffer (one each kind, reused: no 256 KiB to zero for every small file)."""
    key = f"b{size}{'a' if aligned else ''}"
    view = getattr(_buffers, key, None)
    if view is None:
        view = memoryview(mmap.mmap(-1, size) if aligned else bytearray(size))  # mmap: page-aligned
        setattr(_buffers, key, view)
    return view


def _loop_copy(fi, fo: int, h, progress: Progress | None, *, writeback: bool) -> int:
    n = flushed = 0
    view = _buffer(COPY_BUFFER)
    while k := fi.readinto(view):
        chunk = view[:k]
        h.update(chunk)
        while chunk:
            chunk = chunk[os.write(fo, chunk):]
        n += k
        if progress:
            progress(k)
        if writeback and n - flushed >= WRITEBACK_EVERY:
            _start_writeback(fo, flushed, n - flushed)
            flushed = n
    if writeback and n > flushed:
        _start_writeback(fo, flushed, n - flushed)
    return n


DIRECT_BUFFER = 4 << 20  # measured: 1 MiB writes left the disk idle between them; 4 MiB kept it busy
DIRECT_BUFFERS = 3       # one being read and hashed while up to two are written
DIRECT_ALIGN = 4096


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for an open file; False where the filesystem refuses it."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | os.O_DIRECT) if on else (flags & ~os.O_DIRECT))
        return True
    except OSError:
        return False


class _Writer:
    """Writes big files around the page cache (O_DIRECT) on a thread of its own, so the disk
    writes one buffer while the next is read and hashed (a write to disk releases the GIL).

    The bytes written are the buffer they were hashed from: a buffer is handed back only once
    written. The writer closes each file after its last buffer; its first error is raised in
    the caller's thread by the next `take()` or by `finish()`, which waits for every write."""

    def __init__(self) -> None:
        self._free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        self._work: queue.SimpleQueue[tuple[int, memoryview | None, int] | None] = queue.SimpleQueue()
        for _ in range(DIRECT_BUFFERS):
            self._free.put(memoryview(mmap.mmap(-1, DIRECT_BUFFER)))  # page-aligned, as O_DIRECT needs
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="knit-writer", daemon=True)
        self._thread.start()

    def take(self) -> memoryview:
        view = self._free.get()
        if self._error is not None:
            self._free.put(view)
            raise self._error
        return view

    def give_back(self, view: memoryview) -> None:
        """A buffer taken and not written."""
        self._free.put(view)

    def write(self, fd: int, view: memoryview, k: int) -> None:
        self._work.put((fd, view, k))

    def close(self, fd: int) -> None:
        """Close fd after its writes (always called, error or not: the writer owns the fd now)."""
        self._work.put((fd, None, 0))

    def finish(self, *, quiet: bool = False) -> None:
        """Wait for every write and close; raise the first error unless `quiet`."""
        self._work.put(None)
        self._thread.join()
        if self._error is not None and not quiet:
            raise self._error

    def _run(self) -> None:
        direct: dict[int, bool] = {}
        while (item := self._work.get()) is not None:
            fd, view, k = item
            if view is None:
                direct.pop(fd, None)
                os.close(fd)
                continue
            try:
                if self._error is None:
                    direct[fd] = self._write(fd, view[:k], direct.get(fd, True))
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                self._error = e
            finally:
                self._free.put(view)

    @staticmethod
    def _write(fd: int, chunk: memoryview, direct: bool) -> bool:
        """Write a whole chunk; whether the file is still O_DIRECT after it."""
        if direct and len(chunk) % DIRECT_ALIGN:  # the tail, less than a block: an ordinary write
            direct = not _set_direct(fd, False)
        while chunk:
            try:
                chunk = chunk[os.write(fd, chunk):]
            except OSError as e:
                if not direct or e.errno != errno.EINVAL:
                    raise
                direct = not _set_direct(fd, False)  # the device wants a bigger alignment
        return direct


def _direct_copy(fi, fo: int, h, progress: Progress | None, writer: _Writer) -> int:
    """The one pass for a big file, written around the page cache (O_DIRECT) by `writer`: the
    bytes go from the (aligned) buffer they were hashed in straight to the disk, so nothing is
    left to flush at the commit and no cache pages are filled with what was only copied. The
    writer closes `fo`."""
    n = 0
    try:
        while True:
            view = writer.take()
            k = fi.readinto(view)
            if not k:
                writer.give_back(view)
                break
            h.update(view[:k])
            writer.write(fo, view, k)
            n += k
            if progress:
                progress(k)
    finally:
        writer.close(fo)
    return n


_sync_file_range: Any = None  # the libc function once looked up; False where there is none


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range of a file to disk, without waiting
    (sync_file_range(SYNC_FILE_RANGE_WRITE)); the flush before the commit then waits for less."""
    global _sync_file_range
    if _sync_file_range is None:
        try:
            import ctypes

            fn = ctypes.CDLL(None, use_errno=True).sync_file_range
            fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
            _sync_file_range = fn
        except (ImportError, OSError, AttributeError):
            _sync_file_range = False
    if _sync_file_range:
        _sync_file_range(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE; a failure only loses the head start


def _parallel_map(fn: Callable, jobs: list, threads: int) -> list:
    """[fn(job) for job in jobs], by up to `threads` threads taking the next job as they finish one
    (one thread: inline); the first error stops the others and is raised."""
    if threads <= 1 or len(jobs) <= 1:
        return [fn(job) for job in jobs]
    results: list = [None] * len(jobs)
    todo = iter(enumerate(jobs))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while not errors:
            with lock:
                nxt = next(todo, None)
            if nxt is None:
                return
            try:
                results[nxt[0]] = fn(nxt[1])
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                errors.append(e)

    workers = [threading.Thread(target=work, name="knit-copy", daemon=True) for _ in range(min(threads, len(jobs)))]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]
    return results


def _unshare(p: Path, st: os.stat_result) -> None:
    """Replace a file that has other hard links with a copy of its own (same mode bits)."""
    tmp = p.with_name(f".knit-unshare-{os.getpid()}-{threading.get_ident()}")
    parent_mode = stat.S_IMODE(os.lstat(p.parent).st_mode)
    if parent_mode & 0o300 != 0o300:  # a read-only directory of the source's: the store's now
        os.chmod(p.parent, parent_mode | 0o300)
    with _open_regular(p) as fi:
        fo = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fo, stat.S_IMODE(st.st_mode) & 0o700 | 0o600)
            _loop_copy(fi, fo, hashlib.sha256(), None, writeback=True)
        finally:
            os.close(fo)
    os.replace(tmp, p)
    if parent_mode & 0o300 != 0o300:
        os.chmod(p.parent, parent_mode)


_libc = None


def _sync(path: Path) -> None:
    """Flush one filesystem (syncfs), cheaper than an fsync per file."""
    global _libc
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            if _libc is None:
                import ctypes

                _libc = ctypes.CDLL(None, use_errno=True)
            if _libc.syncfs(fd) == 0:
                return
        except (ImportError, OSError, AttributeError):
            pass
        os.sync()
    finally:
        os.close(fd)


def _write_synced(path: Path, text: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    safefs.fsync_dir(path.parent)


def _read_origin(text: str) -> tuple[Path | None, bool]:
    """Where a moved source came from, and whether it was a single file."""
    try:
        note = json.loads(text)
        return Path(note["path"]), bool(note["file"])
    except (ValueError, KeyError, TypeError):
        return None, False


def _make_readonly(root: Path, *, top: bool = True) -> None:
    for _, e in reversed(list(_scan(os.fspath(root)))):  # what a directory holds before the directory
        if e.is_symlink():
            continue
        mode = e.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            want = 0o500
        else:
            want = 0o500 if mode & stat.S_IXUSR else 0o400
        if stat.S_IMODE(mode) != want:
            os.chmod(e.path, want)
    if top:
        os.chmod(root, 0o500)


def _make_writable(root: Path) -> None:
    """Open a read-only tree for deletion. Another process may be deleting the same trash entry at the
    same moment (knitd's sweep while `knitctl gc` or a worker discards): what vanished needs nothing."""
    if root.is_symlink() or not root.exists():
        return
    try:
        os.chmod(root, 0o700 if root.is_dir() else 0o600)
    except FileNotFoundError:
        return
    if root.is_dir():
        for dirpath, dirnames, _ in os.walk(root):
            for d in dirnames:
                p = os.path.join(dirpath, d)
                if not os.path.islink(p):
                    with contextlib.suppress(FileNotFoundError):
                        os.chmod(p, 0o700)


def _rmtree(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink():
        _make_writable(path)
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
