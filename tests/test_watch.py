"""Watched folders end to end (docs/ARCHITECTURE.md#watched-folders): knitd as a real subprocess
ingests what is dropped into watched folders; `knitctl watch` edits the rules and a
running knitd follows; `knitctl status` and `data show` report ingests.

Waits poll the catalog or the folder with deadlines. The only sleeps are the
scenario itself (a copy written slowly, one file a second).

Unreadable items need a user that permissions stop (CI runs as root): a small
driver runs knitd's Watcher as nobody. A readable item ingested by a non-root
user (Store.publish renames before it makes the top directory read-only).
Every test gets its own KNIT_CONFIG, so the real user config is never read.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from knitctl import config as config_mod
from knitctl import inbox
from knitctl.config import Config, WatchRule
from knitctl.home import Home
from knitctl.store import Store

from conftest import (
    BUSYBOX_IMAGE,
    REPO,
    apply_plan,
    catalog_rows,
    cli_env,
    knitd_diagnostics,
    make_tree,
    read_tree,
    require_images,
    wait_run,
    wait_until,
)

FAST = 0.3   # settle time where the test is not about settling


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    """Never read or write the real user config (knitd and the CLI inherit KNIT_CONFIG)."""
    path = tmp_path / "knit-config" / "config.yaml"
    monkeypatch.setenv("KNIT_CONFIG", str(path))
    return path


def configure(*rules: WatchRule, inbox_on: bool = True) -> None:
    config_mod.save(Config(contexts={"local": {"kind": "docker"}}, watch=list(rules), inbox=inbox_on))


def uploads(home: Path) -> list[dict]:
    """Every uploaded datum, oldest first, with its tags."""
    if not (home / "catalog.db").exists():
        return []
    rows = catalog_rows(
        home,
        "SELECT d.knit_id, d.source, d.digest, d.file_count, r.finished_ms FROM data d"
        " JOIN run r ON r.run_id = d.run_id WHERE r.plan_id = 'knit#uploaded' ORDER BY r.created_ms, d.knit_id",
    )
    out = []
    for kid, source, digest, files, finished in rows:
        tags = {f"{k}:{v}" for k, v in catalog_rows(home, "SELECT key, value FROM tag WHERE knit_id = ?", (kid,))}
        out.append({"knit_id": kid, "source": source, "digest": digest, "file_count": files,
                    "finished_ms": finished, "tags": tags})
    return out


def count_uploads(home: Path) -> int:
    return catalog_rows(home, "SELECT count(*) FROM run WHERE plan_id = 'knit#uploaded'")[0][0]


def named(home: Path, name: str) -> list[dict]:
    return [d for d in uploads(home) if f"name:{name}" in d["tags"]]


def wait_named(home: Path, name: str, *, timeout: float = 30.0) -> dict:
    found = wait_until(lambda: named(home, name), timeout=timeout, what=f"a datum name:{name}", home=home)
    assert len(found) == 1, found
    return found[0]


def store(home: Path) -> Store:
    return Store(Home.resolve(home))


def digest(home: Path, tree: Path) -> str:
    return store(home).manifest(tree).digest


def knitd_log(home: Path) -> str:
    p = home / "knitd.log"
    return p.read_text(errors="replace") if p.exists() else ""


def start(knitd, home: Path):
    """Start knitd and wait until its watcher has loaded the rules (the catalog exists by then)."""
    seen = knitd_log(home).count(" INFO watching ")
    k = knitd()
    wait_until(lambda: knitd_log(home).count(" INFO watching ") > seen, what="knitd's watcher", home=home)
    return k


# -- settling -------------------------------------------------------------------------------------


def test_a_directory_copied_in_slowly_is_ingested_once_complete_after_it_settles(knit_home, knitd, tmp_path):
    configure()                                   # the default inbox, the default settle time (2 s)
    assert inbox.rules_with_inbox(knit_home / "inbox", [], True)[0].settle == 2.0
    start(knitd, knit_home)
    box = knit_home / "inbox"
    ref = tmp_path / "reference"
    parts = {f"part-{i}.bin": os.urandom(96 * 1024 + i) for i in range(4)}
    make_tree(ref, parts)
    item = box / "slow-copy"
    item.mkdir()
    for i, (name, content) in enumerate(parts.items()):
        if i:
            time.sleep(1.0)                       # the scenario: a slow copy, a file a second
        assert uploads(knit_home) == [], "ingested while it was still being written"
        with open(item / name, "wb") as f:        # each file itself grows in two steps
            f.write(content[: len(content) // 2])
            f.flush()
            f.write(content[len(content) // 2:])
    last_write_ms = max(os.stat(item / n).st_mtime_ns for n in parts) // 1_000_000

    d = wait_named(knit_home, "slow-copy", timeout=30)
    assert d["finished_ms"] >= last_write_ms + 2000 - 50, "committed before it had settled for 2 s"
    # an ingest is a move: its digest is computed by knitd afterwards ("deferred" until then)
    assert d["file_count"] == 4 and d["digest"] in (digest(knit_home, ref), "deferred")
    assert store(knit_home).manifest(store(knit_home).path_of(d["knit_id"])).digest == digest(knit_home, ref)
    assert read_tree(store(knit_home).path_of(d["knit_id"])) == read_tree(ref)
    assert d["tags"] == {"name:slow-copy"} and d["source"] == str(item)
    assert not item.exists() and inbox.items(box) == []
    assert len(uploads(knit_home)) == 1
    assert f"ingested {item} as {d['knit_id']}" in knitd_log(knit_home)


# -- tags, and a plan on them ----------------------------------------------------------------------


def test_hive_segments_and_a_sidecar_tag_the_datum_and_a_matching_plan_runs(
    knit_home, knitd, session, docker_client, cli
):
    require_images(docker_client, BUSYBOX_IMAGE)
    box = knit_home / "inbox"
    configure(WatchRule(str(box), ["via:inbox"], FAST))
    plan = apply_plan(
        session,
        {"/in": ["project:mnist", "type:dataset", "owner:ana", "via:inbox"]},
        {"/out": ["kind:listing"]},
        image=BUSYBOX_IMAGE,
        args=["sh", "-c", "ls /in > /out/files.txt && cat /in/labels.csv >> /out/files.txt"],
    ).plan.plan_id
    start(knitd, knit_home)

    parent = box / "project=mnist" / "type=dataset"
    parent.mkdir(parents=True, exist_ok=True)
    (parent / "day-01.tags").write_text("# from the export job\nowner:ana\nsplit:train\n")
    make_tree(parent / "day-01", {"labels.csv": "id,label\n1,7\n", "img": {"1.raw": b"\x00" * 784}})
    # a sibling without the sidecar's tags: ingested, but the plan does not take it
    make_tree(box / "project=mnist" / "type=scratch" / "notes", {"n.txt": "n"})

    d = wait_named(knit_home, "day-01")
    assert d["tags"] == {"via:inbox", "project:mnist", "type:dataset", "name:day-01", "owner:ana", "split:train"}
    assert not (parent / "day-01").exists() and not (parent / "day-01.tags").exists()   # the sidecar is consumed
    other = wait_named(knit_home, "notes")
    assert other["tags"] == {"via:inbox", "project:mnist", "type:scratch", "name:notes"}

    runs = wait_until(lambda: catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = ?", (plan,)),
                      what="a run of the plan", home=knit_home)
    row = wait_run(knit_home, runs[0][0], timeout=60)
    assert row["status"] == "done", knitd_diagnostics(knit_home)
    out = catalog_rows(knit_home, "SELECT knit_id FROM data WHERE run_id = ? AND output_path = '/out'", (runs[0][0],))
    listing = (store(knit_home).path_of(out[0][0]) / "files.txt").read_text()
    assert listing == "img\nlabels.csv\nid,label\n1,7\n"
    assert len(catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = ?", (plan,))) == 1
    assert read_tree(store(knit_home).path_of(d["knit_id"]))["labels.csv"][1] == b"id,label\n1,7\n"

    # `data show` names where it came from; `status` lists the recent ingests; so does knitd's log
    shown = cli("data", "show", d["knit_id"])
    assert shown.code == 0, shown
    assert "source" in shown.out and str(parent / "day-01") in shown.out
    assert cli("data", "show", d["knit_id"], "-o", "json").json()["source"] == str(parent / "day-01")
    status = cli("status", "-o", "json")
    assert status.code == 0, status
    recent = {x["knit_id"]: x["from"] for x in status.json()["recent_ingests"]}
    assert recent == {d["knit_id"]: str(parent / "day-01"), other["knit_id"]: str(box / "project=mnist" / "type=scratch" / "notes")}
    table = cli("status")
    assert f'{d["knit_id"]} from {parent / "day-01"}' in table.out
    assert f"ingested {parent / 'day-01'} as {d['knit_id']}" in knitd_log(knit_home)


# -- many at once, and a crash ----------------------------------------------------------------------


FILES_PER_ITEM = 400


def test_twenty_items_dropped_at_once_become_twenty_data_even_across_a_sigkill(knit_home, knitd, tmp_path):
    box = knit_home / "inbox"
    configure(WatchRule(str(box), settle=FAST))
    k = start(knitd, knit_home)
    drops = tmp_path / "drops"                    # built beside the inbox (same filesystem), then dropped at once
    refs = {}
    for i in range(20):
        name = f"item-{i:02d}"
        # many small files: a same-filesystem ingest is a rename whose cost grows with the file count
        # (checks, read-only modes) not the bytes, so this keeps the twenty ingests long enough to kill mid-way
        spec = {f"f{j:03d}.bin": os.urandom(512) for j in range(FILES_PER_ITEM)}
        spec["sub"] = {"id.txt": name}
        make_tree(drops / name, spec)
        refs[name] = digest(knit_home, drops / name)
    for name in refs:
        os.rename(drops / name, box / name)

    wait_until(lambda: count_uploads(knit_home) >= 2, interval=0.002, timeout=30, what="the first ingests",
               home=knit_home)
    k.kill()                                      # SIGKILL in the middle of ingesting
    at_kill = count_uploads(knit_home)
    assert at_kill < 20, "all ingested before the kill: the test did not kill in the middle"
    assert inbox.items(box), "nothing left to ingest after the kill"

    start(knitd, knit_home)
    wait_until(lambda: count_uploads(knit_home) >= 20 and not inbox.items(box), timeout=60,
               what="all twenty ingested", home=knit_home)
    data = uploads(knit_home)
    names = sorted(t.split(":", 1)[1] for d in data for t in d["tags"] if t.startswith("name:"))
    assert names == sorted(refs), "duplicates or losses"
    for d in data:
        name = next(t.split(":", 1)[1] for t in d["tags"] if t.startswith("name:"))
        assert d["digest"] in (refs[name], "deferred") and d["file_count"] == FILES_PER_ITEM + 1, name
        assert store(knit_home).manifest(store(knit_home).path_of(d["knit_id"])).digest == refs[name], name
        assert (store(knit_home).path_of(d["knit_id"]) / "sub" / "id.txt").read_text() == name
    assert sorted(p.name for p in box.iterdir()) == []
    assert not (box / ".rejected").exists()
    assert not any((knit_home / "staging").iterdir()), list((knit_home / "staging").iterdir())


def test_drops_made_while_knitd_was_stopped_are_ingested_when_it_starts(knit_home, knitd):
    box = knit_home / "inbox"
    configure(WatchRule(str(box), settle=FAST))
    first = start(knitd, knit_home)
    assert first.terminate() == 0
    make_tree(box / "while-down", {"a.txt": "a"})
    (box / "scan.pdf").write_bytes(b"%PDF")
    make_tree(box / "k=v" / "deep", {"b.txt": "b"})
    assert uploads(knit_home) == []
    start(knitd, knit_home)
    for name in ("while-down", "scan.pdf", "deep"):
        wait_named(knit_home, name)
    assert "k:v" in named(knit_home, "deep")[0]["tags"]
    assert inbox.items(box) == []


# -- rejections -----------------------------------------------------------------------------------------


def test_bad_sidecar_and_symlinks_out_are_rejected_with_an_explanation(knit_home, knitd, tmp_path):
    box = knit_home / "inbox"
    configure(WatchRule(str(box), settle=FAST))
    outside = make_tree(tmp_path / "outside", {"secret.txt": "do not take me"})
    start(knitd, knit_home)
    make_tree(box / "bad-tags", {"a.txt": "a"})
    (box / "bad-tags.tags").write_text("owner:ana\nthis is not a tag\n")
    os.symlink(outside, box / "link-out")                                           # the item is a link
    make_tree(box / "has-link", {"ok.txt": "ok"})
    os.symlink(outside / "secret.txt", box / "has-link" / "escape")                 # a link inside pointing out
    make_tree(box / "fine", {"f.txt": "f"})

    wait_named(knit_home, "fine")
    rejected = box / ".rejected"
    wait_until(lambda: all((rejected / f"{n}.error").exists() for n in ("bad-tags", "link-out", "has-link")),
               what="three rejections", home=knit_home)
    errors = {n: (rejected / f"{n}.error").read_text() for n in ("bad-tags", "link-out", "has-link")}
    assert "bad-tags.tags line 2: 'this is not a tag' is not a tag" in errors["bad-tags"]
    assert f"link-out is a symbolic link (to {outside})" in errors["link-out"]
    assert "has-link/escape: symbolic link to" in errors["has-link"] and "points outside" in errors["has-link"]
    # moved whole, sidecar included; the outside target is untouched
    assert read_tree(rejected / "bad-tags") == {"a.txt": ("file", b"a", False)}
    assert (rejected / "bad-tags.tags").read_text().endswith("this is not a tag\n")
    assert os.readlink(rejected / "link-out") == str(outside)
    assert read_tree(outside) == {"secret.txt": ("file", b"do not take me", False)}
    # the catalog holds nothing of them
    data = uploads(knit_home)
    assert [d["tags"] for d in data] == [{"name:fine"}]
    assert catalog_rows(knit_home, "SELECT count(*) FROM tag WHERE value IN ('bad-tags', 'link-out', 'has-link', 'ana')")[0][0] == 0
    assert inbox.items(box) == []
    assert "rejected" in knitd_log(knit_home)


# The unreadable case needs a user that permissions stop: root reads a mode-000 file. The driver
# imports everything as root (the interpreter may live where others can't reach), drops to
# nobody, checks that it really can't read the file, then lets knitd's Watcher scan and ingest.

DRIVER = r"""
import json, logging, os, sys, tempfile, shutil, threading
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
sys.path.insert(0, sys.argv[3])
home_root, uid = sys.argv[1], int(sys.argv[2])
from knitctl.home import Home
from knitctl.session import Session
from knitctl.config import WatchRule
from knitctl import inbox, data, projection, store  # noqa: F401
from daemon.watcher import Watcher

if uid >= 0:
    # warm every lazily imported module while still privileged, then drop to uid
    scratch = tempfile.mkdtemp()
    with Session.open(Home.resolve(scratch + "/home")) as s0:
        box = s0.home.inbox
        box.mkdir(exist_ok=True)
        for name, side in (("warm", "a:b\n"), ("bad", "nope\n")):
            (box / name).write_text("w")
            (box / (name + ".tags")).write_text(side)
            inbox.ingest(s0, WatchRule(str(box)), box, box / name, inbox.signature(box / name))
    shutil.rmtree(scratch)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
home = Home.resolve(home_root)
try:
    open(home.inbox / "locked.bin", "rb").close()
    can_read = True
except PermissionError:
    can_read = False
w = Watcher(home, threading.Event())
w._load_rules()
with Session.open(home) as s:
    roots = w._roots()
    for _ in range(3):          # settle 0: seen, then ingested
        w.scan(s, roots)
print(json.dumps({"uid": os.getuid(), "can_read": can_read,
                  "results": {r.item.name: {"knit_id": r.knit_id, "rejected": r.rejected} for r in w.recent}}))
"""


@pytest.fixture
def unprivileged_home(tmp_path):
    """(home, run): a KNIT_HOME that `run()` ingests as an unprivileged user (nobody, when the tests run as
    root: the home is chowned to it, in a fresh 0755 directory outside pytest's private tmp)."""
    if os.getuid() == 0:
        uid = 65534
        base = Path(tempfile.mkdtemp(prefix="knit-unpriv-"))
        os.chmod(base, 0o755)
    else:
        uid = -1
        base = tmp_path
    home = base / "home"
    (home / "inbox").mkdir(parents=True)
    cfg = base / "config.yaml"
    cfg.write_text(f"watch:\n  - path: {home / 'inbox'}\n    settle: 0\n")
    driver = base / "driver.py"
    driver.write_text(DRIVER)
    for f in (cfg, driver):  # readable by the unprivileged user whatever the process umask is
        os.chmod(f, 0o644)

    def run() -> dict:
        if uid >= 0:
            for dirpath, dirnames, filenames in os.walk(home):
                for n in [dirpath, *(os.path.join(dirpath, x) for x in dirnames + filenames)]:
                    os.lchown(n, uid, uid)
        proc = subprocess.run([sys.executable, str(driver), str(home), str(uid), str(REPO)], capture_output=True,
                              text=True, timeout=60, env=cli_env(home, {"KNIT_CONFIG": str(cfg)}))
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        out["log"] = proc.stderr
        return out

    yield home, run
    if uid >= 0:
        subprocess.run(["chmod", "-R", "u+rwx", str(base)], check=False)
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _lock(path: Path) -> None:
    os.chmod(path, 0)


def test_unreadable_files_are_rejected_with_an_explanation(unprivileged_home):
    home, run = unprivileged_home
    box = home / "inbox"
    (box / "locked.bin").write_bytes(b"secret")                         # a file item nobody can read
    make_tree(box / "has-locked", {"ok.txt": "ok", "locked.txt": "no"})  # a directory with one inside
    make_tree(box / "locked-dir", {"inner": {"x": "x"}})                 # a directory that can't be listed
    for p in ("locked.bin", "has-locked/locked.txt", "locked-dir"):
        _lock(box / p)
    out = run()
    assert out["can_read"] is False, "the driver could read a mode-000 file: the test proves nothing"
    assert out["uid"] != 0
    res = out["results"]
    rejected = box / ".rejected"
    errors = {n: (rejected / f"{n}.error").read_text() for n in ("locked.bin", "has-locked", "locked-dir")}
    assert "locked.bin: is not readable" in errors["locked.bin"]
    assert "has-locked/locked.txt: is not readable" in errors["has-locked"]
    assert "locked-dir: can't be read (Permission denied)" in errors["locked-dir"]
    for n in ("locked.bin", "has-locked", "locked-dir"):
        assert res[n]["rejected"] and res[n]["knit_id"] is None
        assert (rejected / n).exists() and not (box / n).exists()
    assert stat.S_IMODE(os.lstat(rejected / "locked-dir").st_mode) == 0   # moved as it was
    assert "rejected" in out["log"] and "Traceback" not in out["log"], out["log"]
    # the catalog holds nothing of them, the store neither
    assert catalog_rows(home, "SELECT count(*) FROM data")[0][0] == 0
    assert catalog_rows(home, "SELECT count(*) FROM tag")[0][0] == 0
    assert not any((home / "data").iterdir()) and not any((home / "staging").iterdir())


def test_a_readable_item_is_ingested_by_an_unprivileged_user(unprivileged_home):
    home, run = unprivileged_home
    box = home / "inbox"
    (box / "locked.bin").write_bytes(b"x")
    _lock(box / "locked.bin")
    make_tree(box / "good", {"g.txt": "g"})
    make_tree(box / "read-only-dir", {"r.txt": "r"})
    os.chmod(box / "read-only-dir", 0o555)
    out = run()
    assert out["results"].get("good", {}).get("knit_id"), out["log"][-2000:]
    assert out["results"].get("read-only-dir", {}).get("knit_id"), out["log"][-2000:]
    assert not (box / "good").exists() and not (box / "read-only-dir").exists()


# -- `knitctl watch` ------------------------------------------------------------------------------------


def test_watch_cli_edits_the_rules(knit_home, cli, tmp_path, _private_config):
    ls = cli("watch", "ls", "-o", "json")
    assert ls.code == 0, ls
    assert ls.json() == [{"path": str(knit_home / "inbox"), "tags": [], "settle": 2.0, "mode": "move"}]
    share = tmp_path / "share"
    add = cli("watch", "add", str(share), "-t", "src:share", "-t", "lab:3", "--settle", "1m30s", "--copy")
    assert add.code == 0, add
    assert share.is_dir()                                              # created
    assert config_mod.load(_private_config).watch == [WatchRule(str(share), ["src:share", "lab:3"], 90.0, "copy")]
    # the default inbox can be turned off
    assert cli("watch", "rm", str(knit_home / "inbox")).code == 0
    ls = cli("watch", "ls", "-o", "json")
    assert ls.json() == [{"path": str(share), "tags": ["src:share", "lab:3"], "settle": 90.0, "mode": "copy"}]
    assert config_mod.load(_private_config).inbox is False
    missing = cli("watch", "rm", str(tmp_path / "never"))
    assert missing.code != 0 and "is not watched; `knitctl watch ls` lists the watched folders" in missing.err

    # the same commands in-process (each subprocess costs a second): adding again replaces the rule
    from knitctl.cli import watch as watch_cli
    from knitctl.errors import UsageError

    def add_(path, tag=(), settle="2s", copy=False):
        watch_cli.add(Path(path), list(tag), settle, copy)

    add_(share, ["src:other"])
    assert config_mod.load().watch == [WatchRule(str(share), ["src:other"], 2.0, "move")]
    add_(knit_home / "inbox", settle="500ms")                          # the inbox itself, with its own rule
    assert [r.path for r in config_mod.load().watch] == [str(share), str(knit_home / "inbox")]
    watch_cli.rm(knit_home / "inbox")
    watch_cli.rm(share)
    assert config_mod.load().watch == []

    before = _private_config.read_text()
    (tmp_path / "a-file").write_text("x")
    for kw, why in (
        (dict(path=tmp_path / "a-file"), "is not a directory"),
        (dict(path=knit_home / "data"), "is inside KNIT_HOME"),
        (dict(path=share, tag=["nocolon"]), "not a tag"),
        (dict(path=share, tag=["knit#id:x"]), "reserved"),
        (dict(path=share, settle="soon"), "not a duration"),
    ):
        with pytest.raises(UsageError, match=why):
            add_(**kw)
    assert _private_config.read_text() == before                       # errors changed nothing


def test_a_running_knitd_follows_watch_add_and_rm(knit_home, knitd, cli, tmp_path):
    box = knit_home / "inbox"
    configure(WatchRule(str(box), settle=FAST))
    start(knitd, knit_home)
    share = tmp_path / "share"
    add = cli("watch", "add", str(share), "-t", "src:share", "--settle", "300ms", "--copy")
    assert add.code == 0, add

    # picked up without a restart; --copy leaves the original in place
    exp = make_tree(share / "exp1", {"m.csv": "1,2\n", "cfg": {"p.json": "{}"}})
    (share / "exp1.tags").write_text("run:7\n")
    d = wait_named(knit_home, "exp1")
    assert d["tags"] == {"src:share", "name:exp1", "run:7"} and d["source"] == str(exp)
    assert read_tree(exp) == {"m.csv": ("file", b"1,2\n", False), "cfg": ("dir",), "cfg/p.json": ("file", b"{}", False)}
    assert (share / "exp1.tags").exists()

    # a file becomes a datum directory holding that file
    (share / "notes.txt").write_text("hello\n")
    f = wait_named(knit_home, "notes.txt")
    assert read_tree(store(knit_home).path_of(f["knit_id"])) == {"notes.txt": ("file", b"hello\n", False)}

    # dotfiles and *.partial are ignored until renamed
    (share / ".hidden.csv").write_text("h\n")
    (share / "big.csv.partial").write_text("b\n")
    (share / "marker").write_text("m")
    wait_named(knit_home, "marker")
    assert named(knit_home, ".hidden.csv") == [] and named(knit_home, "big.csv.partial") == []
    os.rename(share / "big.csv.partial", share / "big.csv")
    os.rename(share / ".hidden.csv", share / "shown.csv")
    wait_named(knit_home, "big.csv")
    wait_named(knit_home, "shown.csv")

    # by now exp1 has been scanned many times since it settled: still one datum, nothing re-ingested
    assert len(named(knit_home, "exp1")) == 1 and len(named(knit_home, "notes.txt")) == 1
    assert "already ingested" not in knitd_log(knit_home)
    assert exp.exists()

    # `watch rm` stops it: a later drop there stays put while one in the inbox goes through
    rm = cli("watch", "rm", str(share))
    assert rm.code == 0, rm
    (share / "after-rm").write_text("stay\n")
    (box / "inbox-marker").write_text("m")
    wait_named(knit_home, "inbox-marker")
    assert named(knit_home, "after-rm") == [] and (share / "after-rm").exists()

    # status lists the recent ingests with their folder; `data show` names it
    recent = cli("status", "-o", "json").json()["recent_ingests"]
    assert len(recent) == 5
    assert {x["from"] for x in recent} >= {str(share / "big.csv"), str(share / "shown.csv"), str(box / "inbox-marker")}
    shown = cli("data", "show", d["knit_id"])
    assert str(share / "exp1") in shown.out
    assert "watching" in knitd_log(knit_home) and str(share) in knitd_log(knit_home)
