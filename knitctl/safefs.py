"""Opening files as what they are: never through a symbolic link, never a FIFO,
socket or device node taken for a file, names made relative to a directory handle.

The rules (`kind`, `fit_name`) are pure; the rest are thin wrappers over os.open.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat

NAME_MAX = 255  # bytes in one path component (Linux, every common filesystem)

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class NotRegular(OSError):
    """A name that is not a regular file (a link, FIFO, socket, device or directory)."""

    def __init__(self, name: str, what: str):
        super().__init__(f"{name}: is {what}, not a regular file")
        self.name = name
        self.what = what


def fsync_dir(path) -> None:
    """Make a directory's entries (a file created, renamed or removed in it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def kind(mode: int) -> str:
    """What an lstat mode is, in words for a message."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file"


def is_special(mode: int) -> bool:
    """A FIFO, socket or device node: nothing data can hold."""
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))


def fit_name(name: str, suffix: str = "", limit: int = NAME_MAX) -> str:
    """`name + suffix`, with `name` shortened (and a short hash of it kept) when the whole
    would not fit in one path component."""
    whole = name + suffix
    if len(whole.encode(errors="surrogateescape")) <= limit:
        return whole
    tag = "~" + hashlib.sha256(name.encode(errors="surrogateescape")).hexdigest()[:8]
    room = limit - len((tag + suffix).encode(errors="surrogateescape"))
    head = name.encode(errors="surrogateescape")[:room].decode(errors="ignore")
    return head + tag + suffix


def open_regular(path, *, dir_fd: int | None = None, max_size: int | None = None) -> int:
    """A read-only fd of a regular file; raises NotRegular for anything else (links not followed,
    a FIFO opened without blocking and never read), FileNotFoundError when missing."""
    return open_regular_stat(path, dir_fd=dir_fd, max_size=max_size)[0]


def open_regular_stat(path, *, dir_fd: int | None = None, max_size: int | None = None) -> tuple[int, os.stat_result]:
    """`open_regular`, with the fstat of what was opened (one call fewer for a caller that needs it)."""
    name = os.fspath(path)
    st = os.lstat(name, dir_fd=dir_fd)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(name, kind(st.st_mode))
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):  # became a link; a socket
            raise NotRegular(name, "a symbolic link or special file") from None
        raise
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):  # swapped between lstat and open
            raise NotRegular(name, kind(fst.st_mode))
        if max_size is not None and fst.st_size > max_size:
            raise NotRegular(name, f"{fst.st_size} bytes (more than {max_size})")
        # O_NONBLOCK stays: it changes nothing for a regular file (and saves two calls a file)
    except BaseException:
        os.close(fd)
        raise
    return fd, fst


def open_dir(path, *, dir_fd: int | None = None) -> int:
    """An fd of a directory that is not a symbolic link (ELOOP/ENOTDIR otherwise)."""
    return os.open(os.fspath(path), _DIR, dir_fd=dir_fd)


def create_new(name: str, data: bytes, *, dir_fd: int, mode: int = 0o600) -> None:
    """Write a new file `name` in a directory handle; never follows or overwrites anything there."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
