"""A `data push` killed with SIGKILL at any moment leaves nothing partial (docs/ARCHITECTURE.md#storage, #reliability).

Deterministic kill moments come from a small driver that runs the real CLI in a
subprocess with one library step wrapped: when the step is reached the driver
says so on a pipe and blocks, and the test kills it there. Real `knitctl` pushes
are also killed at moments observed from outside (the staging directory or
data/<id> appearing) and at seeded random times after staging began.

After every kill the next command must reclaim: `data find` shows only whole
data, staging/ is empty, data/ holds only committed ids whose files match their
digests, and a `--move` source is back where it was unless its datum committed.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from knitctl import data as data_api
from knitctl.home import Home
from knitctl.session import Session
from knitctl.store import DEFERRED, Store

from conftest import File, catalog_dump, cli_command, cli_env, make_tree, read_tree, run_cli, wait_for

DRIVER = r'''
"""Run knitctl with one step wrapped so that reaching it reports on a pipe and blocks."""
import os, signal, sys

fd, point, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]

from knitctl import data, store
from knitctl.catalog import records


def reached():
    os.write(fd, point.encode() + b"\n")
    while True:
        signal.pause()


def wrap(owner, attr, *, when, nth=1):
    original = getattr(owner, attr)
    calls = [0]

    def wrapper(*a, **kw):
        calls[0] += 1
        n = calls[0]  # this call's number (files are copied by several threads)
        if when == "before" and n == nth:
            reached()
        result = original(*a, **kw)
        if when == "after" and n == nth:
            reached()
        return result

    setattr(owner, attr, wrapper)


POINTS = {
    "origin-noted": lambda: wrap(store, "_write_synced", when="after"),      # --move: note written, not moved yet
    "mid-copy": lambda: wrap(store, "_copy_file", when="after", nth=3),     # some files copied into staging
    "staged": lambda: wrap(store.Store, "publish", when="before"),          # staging/<id> complete
    "published": lambda: wrap(store.Store, "publish", when="after"),        # data/<id> there, catalog unaware
    "in-transaction": lambda: wrap(records, "insert_datum", when="after"),  # rows written, not committed
    "committed": lambda: wrap(data, "get", when="before"),                  # committed, lock + notes left
}
POINTS[point]()
sys.argv = ["knitctl", *argv]
from knitctl.cli.main import run

run()
'''

TREE = {
    "a.txt": "alpha\n",
    "b.bin": bytes(range(256)) * 16,
    "empty": b"",
    "sub": {"c.txt": "gamma\n", "deeper": {"d.txt": "delta\n"}, "void": {}},
    "run.sh": File("#!/bin/sh\n", 0o755),
}


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("driver") / "crash_driver.py"
    p.write_text(DRIVER)
    return p


@pytest.fixture
def home(tmp_path) -> Path:
    """A home that already holds one committed datum, which no crash may touch."""
    h = tmp_path / "home"
    with Session.open(Home.resolve(h)) as s:
        data_api.push(s, [make_tree(tmp_path / "existing", {"keep.txt": "keep\n"})], ["existing:yes"])
    return h


def committed_ids(home: Path) -> set[str]:
    return {row[0] for row in catalog_dump(home)["data"]}


def kill_at(driver: Path, point: str, args: list, home: Path, cwd: Path | None = None) -> None:
    """Run `knitctl ARGS` under the driver, wait until it reaches `point`, SIGKILL it."""
    r, w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, str(driver), str(w), point, *map(str, args)],
        env=cli_env(home), pass_fds=[w], cwd=cwd,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    os.close(w)
    try:
        with os.fdopen(r, "rb") as pipe:
            ready, _, _ = select.select([pipe], [], [], 60)
            said = pipe.readline().decode().strip() if ready else ""
        if said != point:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the push never reached {point!r} (exit {proc.returncode}):\n{out.decode()}\n{err.decode()}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def assert_whole(home: Path, listed: list[dict]) -> None:
    """data/ holds exactly the listed data, each matching its recorded digest; staging/ and trash/ are empty."""
    ids = {d["knit_id"] for d in listed}
    assert set(os.listdir(home / "data")) == ids
    assert os.listdir(home / "staging") == []
    assert os.listdir(home / "trash") == []
    store = Store(Home.resolve(home))
    for d in listed:
        assert d["status"] == "done"
        if d["digest"] != DEFERRED:  # a --move is hashed later (knitd, or the first pull)
            assert store.manifest(home / "data" / d["knit_id"]).digest == d["digest"], d["knit_id"]


def next_command(home: Path, *, cli: bool = True) -> list[dict]:
    """What `data find --transient both` shows after the next command opened the home.

    `cli=False` opens it in-process (the same Session.open every command starts with), to save a process.
    """
    if not cli:
        with Session.open(Home.resolve(home)) as s:
            return [d.to_dict() for d in data_api.find(s, transient="both")]
    r = run_cli(["data", "find", "--transient", "both", "-o", "json"], home=home)
    assert r.code == 0 and "Traceback" not in r.err, r
    return r.json()


CASES = [
    # (point, move, committed afterwards)
    ("mid-copy", False, False),
    ("staged", False, False),
    ("published", False, False),
    ("in-transaction", False, False),
    ("committed", False, True),
    ("origin-noted", True, False),
    ("staged", True, False),
    ("published", True, False),
    ("committed", True, True),
]


@pytest.mark.parametrize("point, move, commits", CASES, ids=[f"{p}{'-move' if m else ''}" for p, m, _ in CASES])
def test_push_killed_leaves_nothing_partial(driver, home, tmp_path, point, move, commits):
    src = make_tree(tmp_path / "src", TREE)
    expected = read_tree(src)
    before = committed_ids(home)
    kill_at(driver, point, ["data", "push", *(["--move"] if move else []), src, "-t", "crash:test"], home)

    # what the crash left is never visible as a datum, even before anyone reclaims
    if commits:
        assert len(committed_ids(home) - before) == 1
    else:
        assert committed_ids(home) == before
        assert len(os.listdir(home / "staging")) >= 1  # the kill really left something to reclaim

    listed = next_command(home, cli=not move)  # through the real CLI for copies, in-process for moves
    assert_whole(home, listed)
    new = [d for d in listed if d["knit_id"] not in before]
    if commits:
        (d,) = new
        assert "crash:test" in d["tags"]
        assert read_tree(home / "data" / d["knit_id"]) == expected
        assert src.exists() is not move  # a committed move stands; a copy never touched the source
    else:
        assert new == []
        assert {d["knit_id"] for d in listed} == before
    if not commits or not move:
        assert read_tree(src) == expected  # a moved source is back where it was, whole
        assert os.stat(src).st_mode & 0o200, "the returned source is writable again"


def test_two_source_push_killed_between_publishes(driver, home, tmp_path):
    a = make_tree(tmp_path / "a", TREE)
    b = make_tree(tmp_path / "b", {**TREE, "extra.txt": "b only\n"})
    trees = (read_tree(a), read_tree(b))
    before = committed_ids(home)
    kill_at(driver, "published", ["data", "push", "--move", a, b], home)  # first published, second staged
    assert committed_ids(home) == before
    listed = next_command(home)
    assert_whole(home, listed)
    assert {d["knit_id"] for d in listed} == before
    assert (read_tree(a), read_tree(b)) == trees


def test_after_a_crash_the_same_source_pushes_cleanly(driver, home, tmp_path):
    src = make_tree(tmp_path / "src", TREE)
    kill_at(driver, "in-transaction", ["data", "push", "--move", src, "-t", "again:yes"], home)
    r = run_cli(["data", "push", "--move", src, "-t", "again:yes", "-o", "json"], home=home)
    assert r.code == 0, r
    (d,) = r.json()
    assert read_tree(home / "data" / d["knit_id"]) == read_tree(make_tree(tmp_path / "twin", TREE))
    with Session.open(Home.resolve(home)) as s:
        assert_whole(home, [x.to_dict() for x in data_api.find(s, transient="both")])


# -- real pushes, killed at moments seen from outside ------------------------------------------------


BIG = {f"part-{i:02}": {f"f{j:03}.bin": os.urandom(4096) for j in range(40)} for i in range(5)}  # 200 files, 800 KiB


def _staging_has_data(home: Path) -> bool:
    staging = home / "staging"
    return staging.exists() and any(not n.endswith((".lock", ".origin")) for n in os.listdir(staging))


def _data_grew(home: Path, before: set[str]):
    return lambda: (home / "data").exists() and set(os.listdir(home / "data")) - before


KILLS = [
    ("staging-appears", False),
    ("data-appears", True),
    ("random", False),
    ("random", True),
]


def test_real_pushes_killed_at_observed_and_random_moments(home, tmp_path):
    rng = random.Random(20260131)
    seen = []
    for n, (moment, move) in enumerate(KILLS):
        src = make_tree(tmp_path / f"src-{n}", BIG)
        expected = read_tree(src)
        before = committed_ids(home)
        on_disk = set(os.listdir(home / "data"))
        proc = subprocess.Popen(
            cli_command(["data", "push", *(["--move"] if move else []), src, "-t", f"kill:{n}"]),
            env=cli_env(home), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            if moment == "data-appears":
                wait_for(lambda on_disk=on_disk, proc=proc: _data_grew(home, on_disk)() or proc.poll() is not None, what="data/<id>")
            else:
                wait_for(lambda proc=proc: _staging_has_data(home) or proc.poll() is not None, what="staging/<id>")
                if moment == "random":
                    try:
                        proc.wait(timeout=rng.uniform(0, 0.1))
                    except subprocess.TimeoutExpired:
                        pass
        finally:
            killed = proc.poll() is None
            if killed:
                proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
        assert b"Traceback" not in err

        with Session.open(Home.resolve(home)) as s:  # the next command: opening reclaims
            listed = [d.to_dict() for d in data_api.find(s, transient="both")]
        assert_whole(home, listed)
        new = [d for d in listed if d["knit_id"] not in before]
        if new:  # the kill came after the commit: the datum is whole and the move stands
            (d,) = new
            assert read_tree(home / "data" / d["knit_id"]) == expected
            assert src.exists() is not move
        else:  # before it: nothing is left, the source is whole where it was
            assert read_tree(src) == expected
        seen.append((moment, move, killed, "committed" if new else "rolled back"))
    assert any(killed for _, _, killed, _ in seen), seen  # the kills did land while pushes ran
