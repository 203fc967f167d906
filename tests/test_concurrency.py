"""Several writers and a reader on one catalog never surface "database is locked" (docs/ARCHITECTURE.md#catalog-bus, #reliability).

Writers and readers are separate processes (each its own connection, as
separate `knitctl` invocations are) started together behind a barrier; each
iteration opens a fresh Session the way a command does, so the per-command
setup write and the reclaim of crash leftovers race the other writers too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from knitctl import data as data_api
from knitctl.catalog import Catalog
from knitctl.catalog.records import set_tags
from knitctl.home import Home
from knitctl.session import Session
from knitctl.store import Store
from knitctl.tags import Tag

from conftest import catalog_dump, cli_command, cli_env, make_tree

WORKER = r'''
"""One concurrent actor: `push`, `tag` or `read`, started when the parent says go."""
import json, os, sys
from pathlib import Path

from knitctl import data as data_api
from knitctl.session import Session

role, n, k = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rest = sys.argv[4:]
home = Path(os.environ["KNIT_HOME"])
print("ready", flush=True)
sys.stdin.readline()

if role == "push":
    base = Path(rest[0])
    for i in range(n):
        src = base / f"w{k}-{i}"
        src.mkdir(parents=True)
        (src / "f.txt").write_text(f"{k} {i}\n")
        with Session.open() as s:
            data_api.push(s, [src], ["load:test", f"writer:{k}", f"seq:{i}"])

elif role == "tag":
    shared, base = rest[0].split(","), Path(rest[1])
    for i in range(n):
        with Session.open() as s:
            data_api.tag(s, shared[i % len(shared)], remove_keys=[f"w{k}"], add=[f"w{k}:{i}"])
        if i % 10 == 0:
            src = base / f"t{k}-{i}"
            src.mkdir(parents=True)
            (src / "f.txt").write_text(f"{k} {i}\n")
            with Session.open() as s:
                data_api.push(s, [src], ["load:test", f"tagger:{k}"])

elif role == "read":
    stop = Path(rest[0])
    last, rounds = 0, 0
    while True:
        finished = stop.exists()
        with Session.open() as s:
            found = data_api.find(s, ["load:test"])
            assert len(found) >= last, (len(found), last)  # committed data never disappear
            last = len(found)
            for d in found:
                assert (home / "data" / d.knit_id).is_dir(), d.knit_id  # listed means whole on disk
            if found:
                data_api.show(s, found[-1].knit_id)
        rounds += 1
        if finished and rounds >= 3:
            break
    print(json.dumps({"rounds": rounds, "seen": last}), flush=True)
'''


@pytest.fixture
def worker(tmp_path) -> Path:
    p = tmp_path / "worker.py"
    p.write_text(WORKER)
    return p


def start_together(commands: list[list[str]], home: Path) -> list[subprocess.Popen]:
    """Start every command, wait until each says ready, then let them all go at once."""
    procs = [
        subprocess.Popen(c, env=cli_env(home), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    for p in procs:
        line = p.stdout.readline()
        if line.strip() != "ready":
            for q in procs:
                q.kill()
            pytest.fail(f"a worker failed to start: {line}{p.stderr.read()}")
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.close()
        p.stdin = None  # communicate() must not flush it again
    return procs


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=180)
    assert "database is locked" not in err, err
    assert "Traceback" not in err, err
    assert proc.returncode == 0, err
    return out


def run_with_reader(worker: Path, home: Path, writers: list[list[str]], tmp_path: Path) -> dict:
    stop = tmp_path / "writers-done"
    procs = start_together(
        [[sys.executable, str(worker), *w] for w in writers] + [[sys.executable, str(worker), "read", "0", "r", str(stop)]],
        home,
    )
    *writer_procs, reader = procs
    try:
        for p in writer_procs:
            finish(p)
    finally:
        stop.touch()
    return json.loads(finish(reader))


def assert_store_matches_catalog(home: Path) -> None:
    dump = catalog_dump(home)
    ids = {row[0] for row in dump["data"]}
    assert set(os.listdir(home / "data")) == ids
    assert os.listdir(home / "staging") == []
    store = Store(Home.resolve(home))
    for row in dump["data"]:
        assert store.manifest(home / "data" / row[0]).digest == row[4]


def test_two_pushers_and_a_reader(worker, tmp_path):
    home = tmp_path / "home"
    n = 20
    report = run_with_reader(
        worker, home, [["push", str(n), str(k), str(tmp_path / "src")] for k in (1, 2)], tmp_path
    )
    with Session.open(Home.resolve(home)) as s:
        found = data_api.find(s, ["load:test"])
        assert len(found) == 2 * n
        for k in (1, 2):
            assert sorted(t.value for d in found if Tag("writer", str(k)) in d.tags for t in d.tags if t.key == "seq") == sorted(
                str(i) for i in range(n)
            )
    assert report["seen"] == 2 * n and report["rounds"] >= 3
    assert_store_matches_catalog(home)


def test_four_writers_and_a_reader(worker, tmp_path):
    home = tmp_path / "home"
    with Session.open(Home.resolve(home)) as s:
        shared = [d.knit_id for d in data_api.push(s, [make_tree(tmp_path / f"shared{i}", {"f": str(i)}) for i in range(2)], ["load:test"])]
    n = 40
    run_with_reader(
        worker, home, [["tag", str(n), str(k), ",".join(shared), str(tmp_path / "src")] for k in range(4)], tmp_path
    )
    with Session.open(Home.resolve(home)) as s:
        tags = {d: sorted(str(t) for t in data_api.get(s, d).tags) for d in shared}
        # each writer's last change on each datum won, and nothing else of it remains
        assert tags[shared[0]] == sorted(["load:test"] + [f"w{k}:{n - 2}" for k in range(4)])
        assert tags[shared[1]] == sorted(["load:test"] + [f"w{k}:{n - 1}" for k in range(4)])
        assert len(data_api.find(s, ["load:test"])) == 2 + 4 * len(range(0, n, 10))
    assert_store_matches_catalog(home)


def test_concurrent_cli_pushes_and_find(tmp_path):
    """The same through real `knitctl` processes: two pushes and a find at once."""
    home = tmp_path / "home"
    srcs = [make_tree(tmp_path / f"d{i}", {"f.txt": f"{i}\n"}) for i in range(2)]
    procs = [
        subprocess.Popen(cli_command(c), env=cli_env(home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for c in (
            ["data", "push", srcs[0], "-t", "cli:concurrent"],
            ["data", "push", srcs[1], "-t", "cli:concurrent"],
            ["data", "find", "-t", "cli:concurrent", "-o", "json"],
        )
    ]
    outs = [finish(p) for p in procs]
    assert len(json.loads(outs[2])) in (0, 1, 2)
    with Session.open(Home.resolve(home)) as s:
        assert len(data_api.find(s, ["cli:concurrent"])) == 2
    assert_store_matches_catalog(home)


def test_fresh_home_opened_by_many_at_once(worker, tmp_path):
    """The first open creates the catalog and migrates it; racing first opens must all succeed."""
    home = tmp_path / "home"
    stop = tmp_path / "stop"
    stop.touch()
    procs = start_together(
        [[sys.executable, str(worker), "push", "1", str(k), str(tmp_path / "src")] for k in range(4)]
        + [[sys.executable, str(worker), "read", "0", "r", str(stop)]],
        home,
    )
    for p in procs:
        finish(p)
    with Catalog(home / "catalog.db") as c:
        assert c.one("SELECT count(*) FROM data")[0] == 4
        assert c.one("SELECT count(*) FROM plan WHERE plan_id = 'knit#uploaded'")[0] == 1


def test_catalog_writer_threads_and_a_reader_thread(tmp_path):
    """Four threads with their own connections hammer write transactions while a fifth reads."""
    home = Home.resolve(tmp_path / "home")
    with Session.open(home) as s:
        (d,) = data_api.push(s, [make_tree(tmp_path / "d", {"f": "x"})], [])
    n, errors, done = 150, [], threading.Event()

    def writer(k: int) -> None:
        try:
            with Catalog(home.catalog) as c:
                for i in range(n):
                    with c.write() as conn:
                        set_tags(conn, d.knit_id, [], [], [Tag(f"t{k}", str(i))])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    def reader() -> None:
        try:
            with Catalog(home.catalog) as c:
                last = 0
                while not done.is_set():
                    with c.read():
                        count = c.one("SELECT count(*) FROM tag WHERE knit_id = ?", (d.knit_id,))[0]
                    assert count >= last
                    last = count
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    r.join()
    assert errors == []
    with Catalog(home.catalog) as c:
        assert c.one("SELECT count(*) FROM tag WHERE knit_id = ?", (d.knit_id,))[0] == 4 * n
