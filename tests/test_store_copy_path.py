"""The copy push's per-file short cuts: a mode the umask leaves whole is not set twice, a mode it
would cut is still stored exactly; a small file is copied whole, its digest the one a fresh read gives."""

from __future__ import annotations

import os
import stat

import pytest

from knitctl import data as data_api
from knitctl import store as store_mod

from conftest import make_tree


def _modes(root):
    return {p.name: stat.S_IMODE(os.lstat(p).st_mode) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("mask", [0o022, 0o777])
def test_stored_modes_are_exact_whatever_the_umask(session, tmp_path, mask):
    src = make_tree(tmp_path / "src", {"plain.txt": "p", "tool.sh": "#!/bin/sh\n", "big.bin": b"x" * (1 << 20)})
    os.chmod(src / "tool.sh", 0o755)
    old = os.umask(mask)
    try:
        (d,) = data_api.push(session, [src])
    finally:
        os.umask(old)
    assert _modes(session.store.path_of(d.knit_id)) == {"plain.txt": 0o400, "tool.sh": 0o500, "big.bin": 0o400}


def test_the_umask_is_read_without_changing_it():
    old = os.umask(0o027)
    try:
        assert store_mod._umask() == 0o027
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)


def test_the_fchmod_is_skipped_only_when_the_umask_leaves_the_mode_whole(session, tmp_path, monkeypatch):
    src = make_tree(tmp_path / "src", {"a.txt": "a", "b.txt": "b"})
    calls: list[int] = []
    real = os.fchmod
    monkeypatch.setattr(store_mod.os, "fchmod", lambda fd, mode: (calls.append(mode), real(fd, mode)))
    old = os.umask(0o022)
    try:
        data_api.push(session, [src])
        assert calls == []
        os.umask(0o600)
        data_api.push(session, [src])
        assert calls == [0o400, 0o400]
    finally:
        os.umask(old)


def test_small_files_around_the_buffer_size_keep_their_bytes_and_digest(session, tmp_path):
    rng = __import__("random").Random(3)
    b = store_mod.COPY_BUFFER
    spec = {f"f{n}": rng.randbytes(n) for n in (0, 1, b - 1, b, b + 1, 2 * b + 5)}
    src = make_tree(tmp_path / "src", spec)
    (d,) = data_api.push(session, [src])
    stored = session.store.path_of(d.knit_id)
    for name, content in spec.items():
        assert (stored / name).read_bytes() == content
    assert session.store.manifest(stored).digest == d.digest


def test_a_copy_is_staged_in_its_final_modes_so_publish_changes_none(tmp_path, monkeypatch):
    """stage_copy makes its directories read-only once filled (files are created read-only), and
    before its flush: publish then walks nothing and changes no mode but the top's."""
    from knitctl.home import Home
    from knitctl.store import Store

    home = Home.resolve(tmp_path / "home")
    home.ensure()
    store = Store(home)
    src = make_tree(tmp_path / "src", {"a": {"b": {"c.txt": "c"}, "d.txt": "d"}, "e.txt": "e"})
    staged, _ = store.stage_copy("aaaa00000001", src)
    assert {p.relative_to(staged).as_posix(): stat.S_IMODE(os.lstat(p).st_mode) for p in staged.rglob("*")} == {
        "a": 0o500, "a/b": 0o500, "a/b/c.txt": 0o400, "a/d.txt": 0o400, "e.txt": 0o400}
    chmods: list[str] = []
    real = os.chmod
    monkeypatch.setattr(store_mod.os, "chmod", lambda p, m: (chmods.append(os.fspath(p)), real(p, m)))
    final = store.publish("aaaa00000001", staged)
    assert chmods == [os.fspath(final)]
    # a tree staged otherwise (a move) still gets its modes set by publish
    moved = make_tree(tmp_path / "moved", {"x": {"y.txt": "y"}})
    staged, _ = store.stage_move("aaaa00000002", moved)
    chmods.clear()
    final = store.publish("aaaa00000002", staged)
    assert chmods == [f"{staged}/x/y.txt", f"{staged}/x", os.fspath(final)]


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_big_files_written_by_the_writer_thread_keep_their_bytes_and_digest(session, tmp_path):
    """More big files than the writer has buffers, sizes around its buffer and the block size:
    each buffer is written whole before it is refilled, tails are written, every fd is closed."""
    rng = __import__("random").Random(5)
    b, m = store_mod.DIRECT_BUFFER, store_mod.DIRECT_MIN
    sizes = [m, m + 1, b - 1, b, b + 1, 2 * b + 4097, 3 * b, 5000, 0]
    spec = {f"f{i}-{n}": rng.randbytes(n) for i, n in enumerate(sizes)}
    src = make_tree(tmp_path / "src", spec)
    before = _open_fds()
    (d,) = data_api.push(session, [src])
    assert _open_fds() == before
    stored = session.store.path_of(d.knit_id)
    for name, content in spec.items():
        assert (stored / name).read_bytes() == content, name
    assert session.store.manifest(stored).digest == session.store.manifest(src).digest == d.digest


def test_a_write_error_on_the_writer_thread_fails_the_push_and_commits_nothing(session, tmp_path, monkeypatch):
    src = make_tree(tmp_path / "src", {"big.bin": b"x" * (3 * store_mod.DIRECT_BUFFER), "small.txt": "s"})

    def full(fd, chunk, direct):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_mod._Writer, "_write", staticmethod(full))
    before = _open_fds()
    with pytest.raises(OSError, match="No space left"):
        data_api.push(session, [src])
    assert _open_fds() == before
    assert session.catalog.one("SELECT count(*) FROM data")[0] == 0
    assert list(session.home.data.iterdir()) == []
    assert [p.name for p in session.home.staging.iterdir()] == []


def test_an_error_while_reading_stops_the_writer_and_is_the_one_raised(session, tmp_path, monkeypatch):
    src = make_tree(tmp_path / "src", {"a.bin": b"a" * (2 * store_mod.DIRECT_BUFFER), "b.bin": b"b" * (1 << 21)})
    real = store_mod._open_regular.__enter__
    opened = [0]

    def second_fails(self):
        opened[0] += 1
        if opened[0] == 2:
            raise store_mod.KnitError(f"{self.path}: is a FIFO (named pipe); data can hold only files")
        return real(self)

    monkeypatch.setattr(store_mod._open_regular, "__enter__", second_fails)
    before = _open_fds()
    with pytest.raises(store_mod.KnitError, match="FIFO"):
        data_api.push(session, [src])
    assert _open_fds() == before
    assert not [t for t in __import__("threading").enumerate() if t.name == "knit-writer"]
    assert list(session.home.data.iterdir()) == []
