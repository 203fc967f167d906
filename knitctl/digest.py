"""The digest of a datum's tree, written down once (docs/ARCHITECTURE.md#storage).

One line per entry below the datum's top, `rel` its path relative to the top in
posix form:

    F\\0<rel>\\0<bytes>\\0<1 if the owner may execute it, else 0>\\0<sha256 of its bytes, hex>\\n
    D\\0<rel>\\n
    L\\0<rel>\\0<link target>\\n

The datum's digest is "sha256:" and the hex sha256 of those lines (UTF-8),
taken in the order of `rel` as strings. Every writer (a copy push, the deferred
hashing of a move, a run's outputs) and every verifier (pull, doctor) goes
through `tree()`, so a digest recorded by one is the digest the others compute.

Pure: walking the tree and reading the bytes are the store's (knitctl/store.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PREFIX = "sha256:"
DEFERRED = "deferred"  # the digest of a moved datum not hashed yet


def file_line(rel: str, size: int, executable: bool, content_sha256: str) -> bytes:
    return f"F\0{rel}\0{size}\0{1 if executable else 0}\0{content_sha256}\n".encode()


def dir_line(rel: str) -> bytes:
    return f"D\0{rel}\n".encode()


def link_line(rel: str, target: str) -> bytes:
    return f"L\0{rel}\0{target}\n".encode()


def tree(lines: Iterable[tuple[str, bytes]]) -> str:
    """The digest of a tree from its `(rel, line)` pairs, given in any order."""
    h = hashlib.sha256()
    for _, line in sorted(lines, key=lambda pair: pair[0]):
        h.update(line)
    return PREFIX + h.hexdigest()
