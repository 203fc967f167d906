"""The digest format, written once (knitctl/digest.py): every path that computes a datum's digest
— a copy push, a move's deferred hashing, verification on pull, a run's outputs — gives the same
digest for the same tree, and that digest is the one recorded by earlier versions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from knitctl import data as data_api
from knitctl import digest
from knitctl.home import Home
from knitctl.session import Session
from knitctl.store import DEFERRED, Store

from conftest import File, Link, make_tree

# Every kind of line (files, an executable, an empty file, directories, an empty one, a link), and
# names whose order as strings ("-" < "." < "/") is not their order as path parts.
TREE = {
    "a.txt": "hello\n",
    "empty": b"",
    "bin": {"run.sh": File("#!/bin/sh\necho hi\n", 0o755)},
    "nested": {"deeper": {"blob.bin": bytes(range(256)) * 64, "void": {}}, "deeper.txt": "z"},
    "link": Link("a.txt"),
    "a.d": {"x": "x"},
    "a-b": "y",
}
# Computed by the store before its digest format was put in one module: data already in a
# store keep matching their recorded digests.
RECORDED = "sha256:2d6ace1e67198026fc8ebc2392bf01007d96b7edf0773b51836bc88d2dc4257e"


@pytest.fixture
def home(tmp_path) -> Home:
    h = Home.resolve(tmp_path / "home")
    h.ensure()
    return h


def test_the_lines_are_the_recorded_format():
    assert digest.file_line("d/f", 12, True, "ab" * 32) == b"F\0d/f\x0012\x001\0" + b"ab" * 32 + b"\n"
    assert digest.file_line("f", 0, False, "cd" * 32) == b"F\0f\x000\x000\0" + b"cd" * 32 + b"\n"
    assert digest.dir_line("d") == b"D\0d\n"
    assert digest.link_line("l", "../t") == b"L\0l\0../t\n"


def test_a_tree_digest_sorts_its_lines_by_path_as_a_string():
    lines = [("a/b", b"2"), ("a.d", b"1"), ("a-b", b"0")]
    import hashlib

    assert digest.tree(lines) == "sha256:" + hashlib.sha256(b"012").hexdigest()
    assert digest.tree(reversed(lines)) == digest.tree(lines)


def test_copy_move_verify_and_export_give_the_recorded_digest(tmp_path, home):
    store = Store(home)
    copied = make_tree(tmp_path / "copied", TREE)
    moved = make_tree(tmp_path / "moved", TREE)
    assert store.manifest(copied).digest == RECORDED                    # the verifier, on the source

    staged, m = store.stage_copy("aaaa00000001", copied)                # the copy path, hashed while copying
    assert m.digest == RECORDED
    assert store.manifest(staged).digest == RECORDED                    # a fresh read of what was stored

    staged_move, mm = store.stage_move("aaaa00000002", moved)           # the move path: deferred, then hashed
    assert mm.digest == DEFERRED and (mm.size, mm.file_count) == (m.size, m.file_count)
    assert store.manifest(staged_move).digest == RECORDED

    store.publish("aaaa00000001", staged)
    store.verify("aaaa00000001", RECORDED)                              # pull's check
    out = tmp_path / "out"
    out.mkdir()
    assert store.export_dir("aaaa00000001", out, RECORDED).is_dir()     # pull -x: hashes what it copies out


def test_a_pushed_moved_datum_is_hashed_later_to_the_copys_digest(tmp_path, home):
    with Session.open(home) as s:
        (copied,) = data_api.push(s, [make_tree(tmp_path / "c", TREE)])
        (moved,) = data_api.push(s, [make_tree(tmp_path / "m", TREE)], move=True)
        assert copied.digest == RECORDED and moved.digest == DEFERRED
        assert data_api.ensure_digest(s, moved.knit_id) == RECORDED     # what knitd's background pass runs


def test_a_single_file_push_has_its_recorded_digest(tmp_path, home):
    f = tmp_path / "model.bin"
    f.write_bytes(b"\x00weights")
    _, m = Store(home).stage_copy("aaaa00000001", f)
    assert m.digest == "sha256:763fedbc6ad5fe001164ed8d2b0f36bb4422a3f41f3cf0b8a3400702293b67f8"


def test_no_module_but_the_digest_module_writes_a_line(tmp_path):
    """The format is written once: no other source file spells a digest line."""
    root = Path(__file__).resolve().parent.parent
    spelled = []
    for package in ("knitctl", "daemon", "tui"):
        for p in (root / package).rglob("*.py"):
            if p.name == "digest.py" and p.parent.name == "knitctl":
                continue
            text = p.read_text()
            if any(marker in text for marker in ('"F\\0', '"D\\0', '"L\\0', "F\\0{", "D\\0{", "L\\0{")):
                spelled.append(os.path.relpath(p, root))
    assert spelled == []
