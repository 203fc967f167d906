"""`knitctl backup` and `knitctl restore`: a consistent copy of a live KNIT_HOME and a home made from it.

The live test runs real knitd with a real container running while pushes go on in a thread; the
others drive the library and the CLI on real catalogs and stores. Crashes are real: a forked child
runs the backup (or restore) and `os._exit`s at a chosen point, skipping every cleanup."""

from __future__ import annotations

import errno
import json
import os
import pty
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from knitctl import backup as backup_api
from knitctl import data as data_api
from knitctl import runs as runs_api
from knitctl import runstate
from knitctl.cli.progress import PROGRESS_MIN_BYTES
from knitctl.home import Home
from knitctl.session import Session

from conftest import (
    BUSYBOX_IMAGE,
    Link,
    apply_plan,
    catalog_dump,
    catalog_rows,
    cli_env,
    make_tree,
    push_datum,
    require_images,
    run_row,
    wait_run,
    wait_until,
)

HOME_CHECKS = ("catalog", "pairing", "store", "digests")


# -- helpers ---------------------------------------------------------------------------------


def sh(script: str) -> dict:
    return {"image": BUSYBOX_IMAGE, "args": ["sh", "-c", script]}


def committed_ids(home: Path) -> set[str]:
    return {r[0] for r in catalog_rows(home, "SELECT knit_id FROM data WHERE digest IS NOT NULL")}


def listing(path: Path) -> dict[str, tuple]:
    """Every entry below `path` with its type, mode, size and inode (what "nothing changed" compares)."""
    out: dict[str, tuple] = {}
    if not path.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            out[str(p.relative_to(path))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size, st.st_ino)
    return out


def home_checks(cli, home: Path) -> dict[str, dict]:
    """`knitctl doctor --digests -o json` on `home`: its catalog, pairing, store and digests checks."""
    r = cli("doctor", "--digests", "-o", "json", home=home)
    found = {c["check"]: c for c in r.json()}
    return {name: found.get(name, {"ok": False, "detail": f"no {name} check in {r}"}) for name in HOME_CHECKS}


def assert_home_sound(cli, home: Path) -> None:
    checks = home_checks(cli, home)
    assert all(c["ok"] for c in checks.values()), checks


def crash_at(fn, point: int) -> int:
    """Run `fn(progress)` in a forked child that dies (os._exit, no cleanup at all) at the `point`-th
    progress report; the child's exit status (77: it died there)."""
    pid = os.fork()
    if pid == 0:  # the child
        try:
            calls = [0]

            def progress(n: int) -> None:
                calls[0] += 1
                if calls[0] == point:
                    os._exit(77)

            fn(progress)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - the parent only needs to know it did not die where asked
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.fixture
def shm_dir():
    """A directory on another filesystem than tmp_path (tmpfs), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="knit-backup-", dir="/dev/shm"))
    yield d
    for dirpath, dirnames, _ in os.walk(d):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o700)
    shutil.rmtree(d, ignore_errors=True)


def pushed_home(session, n: int = 3, files: int = 1) -> list[str]:
    """`n` pushes of `files` files each; their ids."""
    ids = []
    for i in range(n):
        src = make_tree(session.home.root.parent / f"src-{i}", {f"f{j}.txt": f"{i}-{j}" * 50 for j in range(files)}
                        | {"run.sh": ("#!/bin/sh\n", 0o755), "sub": {"x": "y"}, "link": Link("run.sh")})
        ids.append(data_api.push(session, [src], [f"n:{i}", "kind:raw"])[0].knit_id)
    return ids


# -- the rules -------------------------------------------------------------------------------


def test_dest_problem_names_each_refusal():
    home = Path("/h/knit")
    ok = {"dest_exists": False, "dest_empty": False, "parent_is_dir": True}
    assert backup_api.dest_problem(home, Path("/b/x"), **ok) is None
    assert "inside KNIT_HOME" in backup_api.dest_problem(home, Path("/h/knit/b"), **ok)
    assert "inside KNIT_HOME" in backup_api.dest_problem(home, home, **ok)
    assert backup_api.dest_problem(home, Path("/h/knit2"), **ok) is None  # a sibling whose name starts alike
    assert "not empty" in backup_api.dest_problem(home, Path("/b/x"), dest_exists=True, dest_empty=False, parent_is_dir=True)
    assert backup_api.dest_problem(home, Path("/b/x"), dest_exists=True, dest_empty=True, parent_is_dir=True) is None
    assert "no such directory" in backup_api.dest_problem(home, Path("/b/x"), dest_exists=False, dest_empty=False,
                                                          parent_is_dir=False)


def test_manifest_problem():
    good = {"format": "knit-backup", "version": 1, "store_id": "ab", "home": "/h"}
    assert backup_api.manifest_problem(good) is None
    assert backup_api.manifest_problem([]) is not None
    assert backup_api.manifest_problem({**good, "format": "tar"}) is not None
    assert "version 2" in backup_api.manifest_problem({**good, "version": 2})
    assert backup_api.manifest_problem({k: v for k, v in good.items() if k != "store_id"}) is not None


def test_home_is_empty_allows_only_knits_empty_layout(tmp_path):
    root = tmp_path / "h"
    assert backup_api.home_is_empty(root)
    Home(root).ensure()
    assert backup_api.home_is_empty(root)
    (root / "data" / "x").mkdir()
    assert not backup_api.home_is_empty(root)
    (root / "data" / "x").rmdir()
    (root / "catalog.db").write_bytes(b"")
    assert not backup_api.home_is_empty(root)


# -- backup and restore, live ---------------------------------------------------------------------


def test_backup_of_a_live_home_under_pushes_and_a_running_run_restores_the_same(
        cli, knit_home, knitd, session, docker_client, tmp_path):
    require_images(docker_client, BUSYBOX_IMAGE)
    copy_plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:mid"]}, log=["kind:log"],
                           **sh("cp -r /in/. /out/; echo copied")).plan.plan_id
    hold = ("echo holding; i=0; while [ ! -e /out/.go ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done; "
            "echo done > /out/result.txt")
    hold_plan = apply_plan(session, {"/in": ["kind:mid"]}, {"/out": ["kind:end"]}, **sh(hold)).plan.plan_id
    knitd(parallelism=2)
    raw = push_datum(session, "kind:raw").knit_id
    copy_run = wait_until(lambda: catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = ?", (copy_plan,)),
                          what="the copy run", home=knit_home)[0][0]
    assert wait_run(knit_home, copy_run)["status"] == "done"
    held = wait_until(lambda: catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = ?", (hold_plan,)),
                      what="the held run", home=knit_home)[0][0]
    wait_run(knit_home, held, ("running",))

    # pushes go on in another thread (its own session) for as long as the backup runs
    stop, pushed, errors = threading.Event(), [], []

    def pusher() -> None:
        try:
            with Session.open(Home.resolve(knit_home)) as s:
                while not stop.is_set():
                    pushed.append(push_datum(s, "kind:bulk").knit_id)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    t = threading.Thread(target=pusher)
    t.start()
    try:
        wait_until(lambda: len(pushed) >= 3, what="pushes before the backup")
        before = set(pushed)
        dest = tmp_path / "backup"
        r = cli("backup", dest, "-o", "json")
        during = len(pushed) - len(before)
        wait_until(lambda: len(pushed) >= len(before) + during + 2, what="pushes after the backup")
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    assert r.code == 0, r
    assert during >= 1  # pushes committed while the backup ran
    report = r.json()
    assert report["action"] == "backup" and report["data"]["method"] == "hardlink"
    assert not (tmp_path / "backup.partial").exists()

    in_backup = committed_ids(dest)
    outputs = dict(catalog_rows(knit_home, "SELECT output_path, knit_id FROM data WHERE run_id = ?", (copy_run,)))
    assert before | {raw, outputs["/out"], outputs["log"]} <= in_backup
    assert in_backup <= committed_ids(knit_home)
    held_out = catalog_rows(knit_home, "SELECT knit_id FROM data WHERE run_id = ?", (held,))[0][0]
    assert held_out not in in_backup and not (dest / "data" / held_out).exists()
    assert {e.name for e in (dest / "data").iterdir()} == in_backup  # exactly what its catalog knows
    assert report["data"]["directories"] == len(in_backup)
    # same filesystem: the store's files are hard-linked, not copied
    f = next(p for p in (dest / "data" / raw).rglob("*") if p.is_file())
    assert os.stat(f).st_ino == os.stat(knit_home / "data" / raw / f.relative_to(dest / "data" / raw)).st_ino

    restored = tmp_path / "restored"
    r = cli("restore", dest, "-o", "json", home=restored)
    assert r.code == 0, r
    assert r.json()["failed_runs"] == [held]
    assert "knitctl doctor --digests" in r.err
    assert_home_sound(cli, restored)

    # the restored catalog shows the same data, runs and lineage as the live home did
    src_data = {d["knit_id"]: d for d in cli("data", "find", "-o", "json").json()}
    new_data = {d["knit_id"]: d for d in cli("data", "find", "-o", "json", home=restored).json()}
    assert set(new_data) == in_backup
    for kid in in_backup:
        want = dict(src_data[kid])
        want.pop("source", None), new_data[kid].pop("source", None)
        assert new_data[kid] == want
    src_runs = {x["run_id"]: x for x in cli("run", "find", "-o", "json").json()}
    new_runs = {x["run_id"]: x for x in cli("run", "find", "-o", "json", home=restored).json()}
    assert set(new_runs) == {copy_run, held}
    assert new_runs[copy_run] == src_runs[copy_run]
    assert new_runs[held]["status"] == "failed" and src_runs[held]["status"] == "running"
    assert "backup" in run_row(restored, held)["message"] and "retry" in run_row(restored, held)["message"]
    for kid in (outputs["/out"], outputs["log"]):  # upstream: all finished before the backup
        assert cli("data", "lineage", kid, "-u", "-n", "all", "-o", "json", home=restored).json() == \
            cli("data", "lineage", kid, "-u", "-n", "all", "-o", "json").json()

    def split(graph: dict) -> tuple[dict, dict]:  # downstream reaches the held run and its output, which differ
        nodes = {n["id"]: n for n in graph["nodes"]}
        live = {k: nodes.pop(k) for k in (held, held_out)}
        return {**graph, "nodes": sorted(nodes.values(), key=repr)}, live

    same, was = split(cli("data", "lineage", raw, "-n", "all", "-o", "json").json())
    now_same, now = split(cli("data", "lineage", raw, "-n", "all", "-o", "json", home=restored).json())
    assert now_same == same
    assert (was[held]["status"], now[held]["status"]) == ("running", "failed")
    assert "knit#transient:processing" in was[held_out]["tags"] and "knit#transient:failed" in now[held_out]["tags"]
    shown = cli("run", "log", copy_run, home=restored)
    assert shown.code == 0 and "copied" in shown.out
    uris = [u for (u,) in catalog_rows(restored, "SELECT a.uri FROM artifact a JOIN data d ON d.artifact_id = a.id "
                                                 "WHERE d.digest IS NOT NULL")]
    assert uris and all(u.startswith(f"{restored}/data/") for u in uris), uris[:3]
    (knit_home / "runs" / held / held_out / ".go").write_text("")  # let the held task end


def test_backup_between_rounds_drops_data_removed_while_it_copied(cli, knit_home, session, tmp_path):
    ids = sorted(pushed_home(session, n=3, files=4))
    last = ids[-1]
    upload_run = catalog_rows(knit_home, "SELECT run_id FROM data WHERE knit_id = ?", (last,))[0][0]
    removed = []

    def progress(n: int) -> None:
        if not removed:  # while the first datum is being copied, the last one is removed from the store
            removed.append(runs_api.rm(session, upload_run))

    with backup_api.Backup(session.home, tmp_path / "b") as job:
        report = job.run(progress)
    assert removed == ["deleted"] and not (knit_home / "data" / last).exists()
    assert report.rounds == 2  # the catalog was copied again: the first copy knew a datum that was gone
    assert committed_ids(tmp_path / "b") == set(ids[:-1])
    assert {e.name for e in (tmp_path / "b" / "data").iterdir()} == set(ids[:-1])
    restored = tmp_path / "restored"
    assert cli("restore", tmp_path / "b", home=restored).code == 0
    assert_home_sound(cli, restored)


def test_restore_fails_the_runs_that_were_in_progress_and_keeps_the_waiting_ones(cli, knit_home, session, tmp_path):
    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, **sh("true")).plan.plan_id
    push_datum(session, "kind:raw", n=4)
    run_ids = [r[0] for r in catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = ? ORDER BY run_id", (plan,))]
    running, stopping, aborting, waiting = run_ids
    with session.catalog.write() as c:
        for run_id, path in ((running, ["ready", "running"]), (stopping, ["ready", "running", "completing"]),
                             (aborting, ["ready", "running", "aborting"])):
            for s in path:
                runstate.move(c, run_id, s)
    assert cli("backup", tmp_path / "b").code == 0
    r = cli("restore", tmp_path / "b", "-o", "json", home=tmp_path / "r")
    assert r.code == 0, r
    assert sorted(r.json()["failed_runs"]) == sorted([running, stopping, aborting])
    for run_id in (running, stopping, aborting):
        row = run_row(tmp_path / "r", run_id)
        assert row["status"] == "failed" and row["finished_ms"], row
        assert "in progress when the backup was taken" in row["message"]
    assert run_row(tmp_path / "r", waiting)["status"] == "waiting"
    assert run_row(knit_home, running)["status"] == "running"  # the source is untouched
    states = catalog_rows(tmp_path / "r", "SELECT e.last_known_state FROM execution e JOIN run r ON r.execution_id = e.id "
                                         "WHERE r.run_id = ?", (stopping,))
    assert states == [(4,)]  # MLMD FAILED, kept in step with the run


def test_backup_across_filesystems_copies_and_restores_with_the_same_digests(cli, knit_home, session, tmp_path, shm_dir):
    ids = pushed_home(session, n=2, files=3)
    if os.stat(shm_dir).st_dev == os.stat(tmp_path).st_dev:
        pytest.fail("/dev/shm is on tmp_path's filesystem here; this test needs two filesystems")
    r = cli("backup", shm_dir / "b", "-o", "json")
    assert r.code == 0, r
    assert r.json()["data"]["method"] == "copy"
    f = next(p for p in (shm_dir / "b" / "data" / ids[0]).rglob("*.txt"))
    src = knit_home / "data" / ids[0] / f.relative_to(shm_dir / "b" / "data" / ids[0])
    assert f.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(os.stat(f).st_mode) == stat.S_IMODE(os.stat(src).st_mode) == 0o400
    assert stat.S_IMODE(os.stat(f.parent / "run.sh").st_mode) == 0o500
    assert os.readlink(f.parent / "link") == "run.sh"
    r = cli("restore", shm_dir / "b", "-o", "json", home=tmp_path / "r")
    assert r.code == 0 and r.json()["data"]["method"] == "copy", r
    assert_home_sound(cli, tmp_path / "r")


def test_copy_flag_copies_on_the_same_filesystem(cli, knit_home, session, tmp_path):
    ids = pushed_home(session, n=1)
    r = cli("backup", tmp_path / "b", "--copy", "-o", "json")
    assert r.code == 0 and r.json()["data"]["method"] == "copy", r
    f = tmp_path / "b" / "data" / ids[0] / "f0.txt"
    assert os.stat(f).st_ino != os.stat(knit_home / "data" / ids[0] / "f0.txt").st_ino
    r = cli("restore", tmp_path / "b", "--copy", "-o", "json", home=tmp_path / "r")
    assert r.code == 0 and r.json()["data"]["method"] == "copy", r
    assert os.stat(tmp_path / "r" / "data" / ids[0] / "f0.txt").st_ino != os.stat(f).st_ino
    assert_home_sound(cli, tmp_path / "r")


def test_backup_and_restored_home_are_private(cli, knit_home, session, tmp_path):
    pushed_home(session, n=1)
    Path(os.environ["KNIT_CONFIG"]).write_text("current-context: local\n")
    assert cli("backup", tmp_path / "b").code == 0
    b = tmp_path / "b"
    assert stat.S_IMODE(os.stat(b).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(b / "data").st_mode) == 0o700
    for name in ("catalog.db", "store-id", "backup.json", "config.yaml"):
        assert stat.S_IMODE(os.stat(b / name).st_mode) == 0o600, name
    assert sorted(p.name for p in b.iterdir()) == ["backup.json", "catalog.db", "config.yaml", "data", "logs", "store-id"]
    r = tmp_path / "r"
    assert cli("restore", b, home=r).code == 0
    assert stat.S_IMODE(os.stat(r).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(r / "catalog.db").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(r / "store-id").st_mode) == 0o600
    for d in ("data", "staging", "logs", "runs", "inbox"):
        assert stat.S_IMODE(os.stat(r / d).st_mode) == 0o700, d


def test_config_is_backed_up_never_shown_and_restored_only_where_there_is_none(cli, knit_home, session, tmp_path):
    pushed_home(session, n=1)
    secret = "current-context: local\n# token: s3cr3t-do-not-print\n"
    Path(os.environ["KNIT_CONFIG"]).write_text(secret)
    r = cli("backup", tmp_path / "b")
    assert r.code == 0, r
    assert "s3cr3t" not in r.out + r.err
    assert (tmp_path / "b" / "config.yaml").read_text() == secret
    fresh = tmp_path / "cfg" / "config.yaml"
    r = cli("restore", tmp_path / "b", "-o", "json", home=tmp_path / "r1", env={"KNIT_CONFIG": str(fresh)})
    assert r.code == 0, r
    assert "s3cr3t" not in r.out + r.err
    assert fresh.read_text() == secret and stat.S_IMODE(os.stat(fresh).st_mode) == 0o600
    assert r.json()["config"] == f"restored to {fresh}"
    fresh.write_text("current-context: local\n")
    r = cli("restore", tmp_path / "b", "-o", "json", home=tmp_path / "r2", env={"KNIT_CONFIG": str(fresh)})
    assert r.code == 0 and r.json()["config"].startswith("kept "), r
    assert fresh.read_text() == "current-context: local\n"


def test_restore_into_an_empty_layout_is_allowed(cli, knit_home, session, tmp_path):
    pushed_home(session, n=1)
    assert cli("backup", tmp_path / "b").code == 0
    Home(tmp_path / "r").ensure()
    assert cli("restore", tmp_path / "b", home=tmp_path / "r").code == 0
    assert_home_sound(cli, tmp_path / "r")


def test_backup_into_an_empty_directory(cli, knit_home, session, tmp_path):
    pushed_home(session, n=1)
    (tmp_path / "b").mkdir()
    assert cli("backup", tmp_path / "b").code == 0
    assert (tmp_path / "b" / "backup.json").is_file()


# -- crashes -----------------------------------------------------------------------------------


def test_a_backup_killed_midway_leaves_no_backup_and_the_next_one_clears_it(cli, knit_home, session, tmp_path):
    pushed_home(session, n=3, files=4)
    dest = tmp_path / "b"
    before = listing(knit_home)

    def go(progress):
        with backup_api.Backup(Home.resolve(knit_home), dest) as job:
            job.run(progress)

    assert crash_at(go, 5) == 77
    assert not dest.exists()
    partial = tmp_path / "b.partial"
    assert (partial / ".in-progress").is_file() and not (partial / "backup.json").exists()
    r = cli("restore", partial, home=tmp_path / "r")
    assert r.code == 2 and len(r.err_lines) == 1 and "unfinished backup" in r.err, r
    assert not (tmp_path / "r").exists()
    assert listing(knit_home) == before  # the home was only read
    r = cli("backup", dest)
    assert r.code == 0, r
    assert not partial.exists() and (dest / "backup.json").is_file()


def test_a_restore_killed_midway_leaves_no_home_knit_would_open(cli, knit_home, session, tmp_path):
    pushed_home(session, n=3, files=4)
    assert cli("backup", tmp_path / "b").code == 0
    target = tmp_path / "r"

    def go(progress):
        backup_api.Restore(tmp_path / "b", Home.resolve(target)).run(progress)

    assert crash_at(go, 8) == 77  # a datum is complete (6 files each), the second is being copied
    assert not target.exists()
    partial = tmp_path / "r.restore-partial"
    assert partial.is_dir()
    opened = cli("status", home=partial)  # even pointed at directly, what it left is refused
    assert opened.code != 0 and len(opened.err_lines) == 1, opened
    r = cli("restore", tmp_path / "b", home=target)
    assert r.code == 0, r
    assert not partial.exists()
    assert_home_sound(cli, target)


# -- bad input: one line, exit 2, nothing changed ---------------------------------------------------


@pytest.fixture
def backed_up(cli, knit_home, session, tmp_path):
    pushed_home(session, n=2)
    assert cli("backup", tmp_path / "b").code == 0
    return tmp_path / "b"


def _unchanged(cli, args, *, home: Path, watch: list[Path], words: str, code: int = 2):
    before = [listing(p) for p in watch]
    dump = catalog_dump(home) if (home / "catalog.db").exists() else None
    r = cli(*args, home=home)
    assert r.code == code and len(r.err_lines) == 1 and words in r.err, r
    assert "Traceback" not in r.err
    assert [listing(p) for p in watch] == before
    if dump is not None:
        assert catalog_dump(home) == dump


def test_backup_into_knit_home_is_refused(cli, knit_home, backed_up):
    _unchanged(cli, ["backup", knit_home / "inner"], home=knit_home, watch=[knit_home], words="inside KNIT_HOME")
    _unchanged(cli, ["backup", knit_home / "data"], home=knit_home, watch=[knit_home], words="inside KNIT_HOME")


def test_backup_into_a_non_empty_destination_is_refused(cli, knit_home, backed_up, tmp_path):
    other = make_tree(tmp_path / "other", {"keep.txt": "mine"})
    _unchanged(cli, ["backup", other], home=knit_home, watch=[knit_home, other], words="not empty")
    _unchanged(cli, ["backup", backed_up], home=knit_home, watch=[knit_home, backed_up], words="not empty")
    (tmp_path / "file").write_text("x")
    _unchanged(cli, ["backup", tmp_path / "file"], home=knit_home, watch=[knit_home], words="not a directory")
    _unchanged(cli, ["backup", tmp_path / "nowhere" / "b"], home=knit_home, watch=[knit_home, tmp_path],
               words="no such directory")


def test_backup_of_a_home_without_a_catalog_is_refused(cli, tmp_path):
    _unchanged(cli, ["backup", tmp_path / "b"], home=tmp_path / "none", watch=[tmp_path], words="no knit catalog")
    assert not (tmp_path / "none").exists()


def test_restore_from_what_is_not_a_backup_is_refused(cli, knit_home, backed_up, tmp_path):
    target = tmp_path / "r"
    plain = make_tree(tmp_path / "plain", {"a.txt": "x"})
    _unchanged(cli, ["restore", plain], home=target, watch=[plain, tmp_path], words="not a knit backup")
    _unchanged(cli, ["restore", tmp_path / "missing"], home=target, watch=[tmp_path], words="no such directory")
    _unchanged(cli, ["restore", knit_home], home=target, watch=[knit_home, tmp_path], words="not a knit backup")
    # a backup whose parts don't belong together
    bad = tmp_path / "bad"
    shutil.copytree(backed_up, bad, symlinks=True)
    (bad / "backup.json").write_text(json.dumps({**json.loads((bad / "backup.json").read_text()), "store_id": "0" * 32}))
    _unchanged(cli, ["restore", bad], home=target, watch=[bad, tmp_path], words="does not match")
    (bad / "backup.json").write_text("{not json")
    _unchanged(cli, ["restore", bad], home=target, watch=[bad, tmp_path], words="can't be read")
    assert not target.exists()


def test_restore_into_a_non_empty_home_is_refused(cli, knit_home, backed_up):
    _unchanged(cli, ["restore", backed_up], home=knit_home, watch=[knit_home, backed_up], words="not empty")


def test_restore_of_a_backup_missing_a_datum_is_refused(cli, knit_home, backed_up, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(backed_up, bad, symlinks=True)
    victim = sorted((bad / "data").iterdir())[0]
    os.chmod(victim, 0o700)
    shutil.rmtree(victim)
    _unchanged(cli, ["restore", bad], home=tmp_path / "r", watch=[bad, tmp_path], words="missing")
    assert not (tmp_path / "r").exists()


# -- progress ----------------------------------------------------------------------------------------


def test_a_large_backup_shows_a_progress_bar_on_a_terminal_only(cli, knit_home, session, tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "blob.bin", "wb") as f:
        f.truncate(PROGRESS_MIN_BYTES + (1 << 20))
    data_api.push(session, [big], ["kind:big"])
    main, sub = pty.openpty()
    env = cli_env(None, {"TERM": "xterm-256color"})
    p = subprocess.run([sys.executable, "-m", "knitctl", "backup", str(tmp_path / "b1")], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=sub, env=env, timeout=120)
    os.close(sub)
    err = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(main)
    assert p.returncode == 0, err
    assert b"backing up" in err, err  # the bar's label, on the terminal
    assert b"backed up" in err and b"1 data" in err
    piped = cli("backup", tmp_path / "b2")
    assert piped.code == 0 and "backing up" not in piped.err and len(piped.err_lines) == 1, piped


def test_restore_of_a_backup_with_a_damaged_catalog_is_refused(cli, knit_home, backed_up, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(backed_up, bad, symlinks=True)
    db = bad / "catalog.db"
    os.chmod(db, 0o600)
    page = 4096
    raw = bytearray(db.read_bytes())
    assert len(raw) > 8 * page
    for p in range(2, len(raw) // page):  # every page but the first (the header and the schema): garbage
        raw[p * page + 8:p * page + 64] = b"\xff" * 56
    db.write_bytes(bytes(raw))
    _unchanged(cli, ["restore", bad], home=tmp_path / "r", watch=[bad, tmp_path], words="damaged")
    assert not (tmp_path / "r").exists()


def test_files_the_system_refuses_to_link_are_copied(cli, knit_home, session, tmp_path, monkeypatch):
    ids = pushed_home(session, n=2, files=2)
    real_link, calls = os.link, []

    def link(src, dst, **kw):  # what a bind mount of the same filesystem answers every other time
        calls.append(src)
        if len(calls) % 2:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_link(src, dst, **kw)

    monkeypatch.setattr(os, "link", link)
    with backup_api.Backup(session.home, tmp_path / "b") as job:
        report = job.run()
    monkeypatch.undo()
    assert calls and report.copied.method == "hardlink+copy"
    assert 0 < report.copied.linked < report.copied.files
    inodes = {os.stat(p).st_ino == os.stat(knit_home / p.relative_to(tmp_path / "b")).st_ino
              for kid in ids for p in (tmp_path / "b" / "data" / kid).rglob("*") if p.is_file() and not p.is_symlink()}
    assert inodes == {True, False}
    assert cli("restore", tmp_path / "b", home=tmp_path / "r").code == 0
    assert_home_sound(cli, tmp_path / "r")


def test_a_partial_that_is_not_ours_or_is_finished_is_never_removed(cli, knit_home, session, tmp_path):
    pushed_home(session, n=1)
    foreign = make_tree(tmp_path / "b.partial", {"mine.txt": "keep"})
    _unchanged(cli, ["backup", tmp_path / "b"], home=knit_home, watch=[knit_home, foreign], words="not left by knit",
               code=1)
    assert not (tmp_path / "b").exists()
    # killed between dropping its marker and its rename: complete, so kept and named as such
    assert cli("backup", tmp_path / "done").code == 0
    os.rename(tmp_path / "done", tmp_path / "c.partial")
    _unchanged(cli, ["backup", tmp_path / "c"], home=knit_home, watch=[knit_home, tmp_path / "c.partial"],
               words="(its rename) was interrupted", code=1)
