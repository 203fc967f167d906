"""Reuse in real Docker containers under a real knitd (the issue's "pushing the same content twice trains once").

A plan with `cache: true` copies its input and writes a model and a log. The same content pushed again under
another tag makes a run that never starts a container: it ends done at once, CACHED in MLMD, its outputs pull
the same bytes as the first run's, and the store gains no bytes for it (its files are the first run's inodes).
Different content, a changed plan (a new hash) and a plan without cache all execute. A `--move` push takes
part once knitd has hashed it. knitd SIGKILLed with a cached finish half done finishes it on restart.
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import (
    BUSYBOX_IMAGE,
    catalog_rows,
    home_containers,
    make_tree,
    require_images,
    wait_run,
    wait_until,
)


@pytest.fixture
def knitd(knitd, docker_client):
    require_images(docker_client, BUSYBOX_IMAGE)
    return knitd


TRAIN = "cp -r /in/. /out/ && echo trained-on-$(cat /in/x.txt) > /out/model && echo training $(cat /in/x.txt)"


def plan_file(tmp_path, name: str, *, cache: bool, script: str = TRAIN, out_tag: str = "kind:model") -> str:
    doc = {"image": BUSYBOX_IMAGE, "args": ["sh", "-c", script],
           "inputs": [{"path": "/in", "tags": ["kind:src"]}],
           "outputs": [{"path": "/out", "tags": [out_tag]}], "log": {"tags": ["kind:log"]}}
    if cache:
        doc["cache"] = True
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    return str(path)


def apply(cli, path: str) -> str:
    r = cli("plan", "apply", path, "-o", "json")
    assert r.code == 0, r
    return r.json()["plan_id"]


def push(cli, tmp_path, content: str, *tags: str, move: bool = False) -> str:
    src = make_tree(tmp_path / f"src-{len(list(tmp_path.iterdir()))}", {"x.txt": content})
    r = cli("data", "push", src, *sum((["-t", t] for t in tags), []), *(["--move"] if move else []), "-o", "json")
    assert r.code == 0, r
    return r.json()[0]["knit_id"]


def run_taking(home, plan_id: str, knit_id: str) -> str:
    rows = wait_until(lambda: catalog_rows(home, "SELECT run_id FROM run WHERE plan_id = ? AND assignment = ?",
                                           (plan_id, f"/in={knit_id}")), timeout=30, what="the run", home=home)
    return rows[0][0]


def done(home, run_id: str) -> dict:
    row = wait_run(home, run_id, timeout=90)
    assert row["status"] == "done", row
    return row


def shown(cli, run_id: str) -> dict:
    r = cli("run", "show", run_id, "-o", "json")
    assert r.code == 0, r
    return r.json()


def store_bytes(home) -> int:
    """Bytes the store's files take, each inode counted once (hard links share theirs)."""
    seen, total = set(), 0
    for root, _dirs, files in os.walk(home / "data"):
        for f in files:
            st = os.lstat(os.path.join(root, f))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def inodes(home, knit_id: str) -> dict[str, tuple[int, int]]:
    root = home / "data" / knit_id
    return {os.path.relpath(os.path.join(r, f), root): (os.lstat(os.path.join(r, f)).st_ino,
                                                         os.lstat(os.path.join(r, f)).st_nlink)
            for r, _d, fs in os.walk(root) for f in fs}


def pulled(home, tmp_path, knit_id: str) -> dict[str, bytes]:
    """The datum's files as a pull exports them (Store.export_dir: copied out after checking the recorded digest)."""
    from knitctl.home import Home
    from knitctl.session import Session

    dest = tmp_path / f"pull-{knit_id}-{len(list(tmp_path.iterdir()))}"
    dest.mkdir()
    with Session.open(Home.resolve(home)) as s:
        (digest,) = catalog_rows(home, "SELECT digest FROM data WHERE knit_id = ?", (knit_id,))[0]
        root = s.store.export_dir(knit_id, dest, digest)
    return {os.path.relpath(os.path.join(r_, f), root): open(os.path.join(r_, f), "rb").read()
            for r_, _d, fs in os.walk(root) for f in fs}


def test_the_same_content_pushed_twice_trains_once(cli, knitd, knit_home, tmp_path, docker_client):
    plan = apply(cli, plan_file(tmp_path, "train", cache=True))
    knitd()
    first = run_taking(knit_home, plan, push(cli, tmp_path, "X", "kind:src", "name:a"))
    done(knit_home, first)
    before = store_bytes(knit_home)

    second_input = push(cli, tmp_path, "X", "kind:src", "name:b")
    upload_bytes = store_bytes(knit_home) - before  # the second push itself copies its bytes in
    second = run_taking(knit_home, plan, second_input)
    done(knit_home, second)

    doc = shown(cli, second)
    assert doc["reused_run"] == first and doc["status"] == "done"
    assert [h["status"] for h in doc["history"]] == ["waiting", "ready", "completing", "done"]  # no container
    assert not [c for c in home_containers(docker_client, knit_home) if c["Labels"].get("knit.run") == second]
    assert store_bytes(knit_home) - before == upload_bytes  # the cached run added no bytes
    mine = {o["path"]: o["knit_id"] for o in doc["outputs"]}
    theirs = {o["path"]: o["knit_id"] for o in shown(cli, first)["outputs"]}
    assert mine.keys() == theirs.keys() == {"/out", "log"} and not set(mine.values()) & set(theirs.values())
    for path in theirs:
        assert inodes(knit_home, mine[path]) == inodes(knit_home, theirs[path])  # the same inodes, two links each
        assert all(n == 2 for _ino, n in inodes(knit_home, mine[path]).values())
        assert pulled(knit_home, tmp_path, mine[path]) == pulled(knit_home, tmp_path, theirs[path])  # pull verifies the digest
    assert pulled(knit_home, tmp_path, mine["/out"])["model"] == b"trained-on-X\n"
    assert cli("run", "log", second).out == cli("run", "log", first).out == "training X\n"  # the first run's log
    assert "kind:model" in " ".join(cli("data", "show", mine["/out"], "-o", "json").json()["tags"])

    from knitctl.catalog import mlmd
    from knitctl.metadata import metadata_store
    from knitctl.metadata import metadata_store_pb2 as pb

    with metadata_store.knit_catalog(knit_home, readonly=True) as store:
        execution = store.get_execution_by_type_and_name("knit.Run", second)
        assert execution.last_known_state == pb.Execution.CACHED == mlmd.E_CACHED
        assert execution.custom_properties["knit.reused_run"].string_value == first

    listing = cli("run", "find", "-p", plan)
    assert f"{second}\t{plan}\tdone (cached)" in listing.out
    assert [r["run_id"] for r in cli("run", "find", "-s", "cached", "-o", "json").json()] == [second]
    assert f"cached: it did not execute; its outputs are run {first}'s" in cli("explain", "run", second).out


def test_different_content_a_changed_plan_and_cache_off_execute(cli, knitd, knit_home, tmp_path, docker_client):
    cached = apply(cli, plan_file(tmp_path, "train", cache=True))
    off = apply(cli, plan_file(tmp_path, "off", cache=False, out_tag="kind:off"))
    knitd()
    a = push(cli, tmp_path, "X", "kind:src", "name:a")
    done(knit_home, run_taking(knit_home, cached, a))
    done(knit_home, run_taking(knit_home, off, a))
    changed = apply(cli, plan_file(tmp_path, "changed", cache=True, script=TRAIN + " && echo v2 > /out/v"))
    assert changed != cached
    b = push(cli, tmp_path, "X", "kind:src", "name:b")  # same content: the plans with cache reuse
    y = push(cli, tmp_path, "Y", "kind:src", "name:y")  # other content: every plan executes
    executed = [run_taking(knit_home, cached, y), run_taking(knit_home, off, b), run_taking(knit_home, changed, y)]
    reused = run_taking(knit_home, cached, b)
    pair = [run_taking(knit_home, changed, a), run_taking(knit_home, changed, b)]
    for run_id in [*executed, reused, *pair]:
        done(knit_home, run_id)
    for run_id in executed:
        doc = shown(cli, run_id)
        assert "reused_run" not in doc and "running" in [h["status"] for h in doc["history"]], doc
    assert shown(cli, reused)["reused_run"] == run_taking(knit_home, cached, a)
    # the changed plan is a new plan: nothing of the old one's is reused; of its own two runs over content X,
    # one executes and the other reuses it
    reuses = [shown(cli, r).get("reused_run") for r in pair]
    assert sorted(reuses, key=str) == sorted([None, pair[0] if reuses[1] else pair[1]], key=str)


def test_a_moved_push_takes_part_once_its_digest_is_known(cli, knitd, knit_home, tmp_path):
    plan = apply(cli, plan_file(tmp_path, "train", cache=True))
    knitd()
    first = run_taking(knit_home, plan, push(cli, tmp_path, "X", "kind:src", "name:a"))
    done(knit_home, first)
    moved = push(cli, tmp_path, "X", "kind:src", "name:m", move=True)
    run_id = run_taking(knit_home, plan, moved)
    done(knit_home, run_id)
    assert shown(cli, run_id)["reused_run"] == first
    (digest,) = catalog_rows(knit_home, "SELECT digest FROM data WHERE knit_id = ?", (moved,))[0]
    assert digest.startswith("sha256:")  # hashed by knitd before the run was decided


def test_knitd_killed_during_a_cached_finish_finishes_it_on_restart(cli, knitd, knit_home, tmp_path):
    """The state a SIGKILL between publishing and committing leaves (the run `ready`, a half-linked output in
    runs/, an uncommitted one in data/), made with knitd stopped; the restarted knitd finishes it cleanly."""
    from knitctl import runstate
    from knitctl.home import Home
    from knitctl.session import Session

    plan = apply(cli, plan_file(tmp_path, "train", cache=True))
    k = knitd()
    first = run_taking(knit_home, plan, push(cli, tmp_path, "X", "kind:src", "name:a"))
    done(knit_home, first)
    k.kill()
    second = run_taking(knit_home, plan, push(cli, tmp_path, "X", "kind:src", "name:b"))
    with Session.open(Home.resolve(knit_home)) as s:
        with s.catalog.write() as c:
            runstate.move(c, second, "ready", expect="waiting")
    outs = {o["path"]: o["knit_id"] for o in shown(cli, second)["outputs"]}
    half = knit_home / "runs" / second / outs["log"]
    half.mkdir(parents=True)
    (half / "log").write_bytes(b"half")
    published = knit_home / "data" / outs["/out"]
    published.mkdir()
    (published / "model").write_bytes(b"torn")
    os.chmod(published, 0o500)

    knitd()
    done(knit_home, second)
    assert shown(cli, second)["reused_run"] == first
    theirs = {o["path"]: o["knit_id"] for o in shown(cli, first)["outputs"]}
    assert inodes(knit_home, outs["/out"]) == inodes(knit_home, theirs["/out"])
    assert pulled(knit_home, tmp_path, outs["/out"]) == pulled(knit_home, tmp_path, theirs["/out"])
    assert not (knit_home / "runs" / second).exists()
