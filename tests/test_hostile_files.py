"""Files opened as what they are (docs/ARCHITECTURE.md#storage, #watched-folders): what a drop folder, a pushed directory or a
task's outputs may hold that must not be followed, opened, moved in place or block knitd —
planted links, FIFOs, device nodes, hard links, names too long, link loops — and the modes
a pull gives back."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import pytest

from knitctl import config as config_mod
from knitctl import data as data_api
from knitctl import inbox
from knitctl.config import WatchRule
from knitctl.errors import KnitError

from conftest import (
    BUSYBOX_IMAGE,
    PYTHON_IMAGE,
    apply_plan,
    catalog_rows,
    knitd_diagnostics,
    make_tree,
    push_datum,
    read_tree,
    require_images,
    wait_run,
    wait_until,
)


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    path = tmp_path / "knit-config" / "config.yaml"
    monkeypatch.setenv("KNIT_CONFIG", str(path))
    return path


@pytest.fixture
def box(session):
    root = session.home.inbox
    root.mkdir(parents=True, exist_ok=True)
    return root


def _ingest(session, box: Path, name: str, **rule):
    item = box / name
    return inbox.ingest(session, WatchRule(str(box), **rule), box, item, inbox.signature(item))


def _bounded(fn, *, seconds: float = 20.0):
    """Run fn in a thread; fail (instead of hanging the suite) if it has not returned in time."""
    out: dict = {}

    def body():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still blocked after {seconds:g}s"
    if "error" in out:
        raise out["error"]
    return out.get("value")


# -- .rejected/ and its error files ---------------------------------------------------------------


def test_a_planted_error_link_is_never_written_through(session, box, tmp_path):
    precious = tmp_path / "precious.rc"
    precious.write_text("keep me\n")
    rejected = box / ".rejected"
    rejected.mkdir()
    os.symlink(precious, rejected / "bad.error")          # planted by someone who can write the inbox
    make_tree(box, {"bad": "x", "bad.tags": "not a tag line\n"})
    r = _ingest(session, box, "bad")
    assert r.rejected and r.knit_id is None
    assert precious.read_text() == "keep me\n"            # the target is untouched
    assert os.readlink(rejected / "bad.error") == str(precious)
    err = rejected / "bad.2.error"                        # the error went to a new name, a new file
    assert stat.S_ISREG(os.lstat(err).st_mode) and "bad.tags line 1" in err.read_text()
    assert (rejected / "bad.2").read_text() == "x" and (rejected / "bad.2.tags").exists()


def test_a_rejected_folder_that_is_a_link_is_not_written_through(session, box, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, box / ".rejected")
    make_tree(box, {"bad": "x", "bad.tags": "nope\n"})
    r = _ingest(session, box, "bad")
    assert r.rejected and "left in place" in r.rejected and ".rejected" in r.rejected
    assert list(elsewhere.iterdir()) == []                # nothing written (or moved) through the link
    assert (box / "bad").read_text() == "x"


def test_an_over_long_name_gets_a_shortened_error_file(session, box):
    name = "n" * 252                                       # fits; `<name>.error` would not
    item = make_tree(box / name, {"a": "a"})
    os.mkfifo(item / "pipe")
    r = _ingest(session, box, name)
    assert r.rejected and "FIFO" in r.rejected
    rejected = box / ".rejected"
    assert (rejected / name).is_dir()
    errors = [p for p in rejected.iterdir() if p.name.endswith(".error")]
    assert len(errors) == 1 and len(errors[0].name) <= 255 and errors[0].name.startswith("n" * 200)
    assert "FIFO" in errors[0].read_text()


# -- sidecars ------------------------------------------------------------------------------------------


def test_a_symlinked_sidecar_is_rejected_and_never_read(session, box, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret:outside\n")
    (box / "item").write_text("data")
    os.symlink(secret, box / "item.tags")
    r = _ingest(session, box, "item")
    assert r.rejected and "item.tags: is a symbolic link" in r.rejected
    assert data_api.find(session, ["secret:outside"], transient="both") == []
    assert secret.read_text() == "secret:outside\n"
    assert (box / ".rejected" / "item.tags").is_symlink()  # moved aside with its item, as it was


@pytest.mark.parametrize("what", ["fifo", "directory"])
def test_a_sidecar_that_is_not_a_regular_file_is_rejected_without_blocking(session, box, what):
    (box / "item").write_text("data")
    side = box / "item.tags"
    os.mkfifo(side) if what == "fifo" else side.mkdir()
    r = _bounded(lambda: _ingest(session, box, "item"))
    assert r.rejected and ("FIFO" if what == "fifo" else "directory") in r.rejected
    assert "regular text file" in r.rejected


def test_a_sidecar_too_big_or_with_a_too_long_line_is_rejected(session, box):
    make_tree(box, {"big": "x", "big.tags": "k:v\n" * 20_000, "long": "x", "long.tags": "k:" + "v" * 5000 + "\n"})
    r = _ingest(session, box, "big")
    assert r.rejected and "at most 64 KiB" in r.rejected
    r = _ingest(session, box, "long")
    assert r.rejected and "line 1" in r.rejected and "at most 4096" in r.rejected


def _watcher(session, root: Path):
    from daemon.watcher import Watcher

    config_mod.save(config_mod.Config(watch=[WatchRule(str(root), settle=0.0)], inbox=False))
    w = Watcher(session.home, threading.Event())
    w._load_rules()
    return w, w._roots()


def test_a_fifo_sidecar_does_not_stop_the_watcher_ingesting_the_rest(session, tmp_path, caplog):
    share = make_tree(tmp_path / "share", {"a-first": "a", "b-second": {"f": "b"}, "c-third": "c"})
    os.mkfifo(share / "b-second.tags")
    w, roots = _watcher(session, share)
    caplog.set_level(logging.INFO, logger="knitd")
    for _ in range(3):
        _bounded(lambda: w.scan(session, roots))
    names = {d.tags[0].value for d in data_api.find(session, transient="both")}
    assert names == {"a-first", "c-third"}
    assert "FIFO" in (share / ".rejected" / "b-second.error").read_text()
    assert "Traceback" not in caplog.text


def test_an_over_long_name_does_not_stop_the_watcher(session, tmp_path, caplog):
    long = "L" * 252
    share = make_tree(tmp_path / "share", {long: "x", "z-after": "z"})
    w, roots = _watcher(session, share)
    caplog.set_level(logging.INFO, logger="knitd")
    for _ in range(3):
        w.scan(session, roots)                             # raised OSError (File name too long) before
    assert "z-after" in {d.tags[0].value for d in data_api.find(session, transient="both")}
    assert not (share / long).exists()                     # ingested or moved aside, not stuck
    assert "Traceback" not in caplog.text


# -- hard links ------------------------------------------------------------------------------------------


def _assert_immune(session, knit_id: str, outside: Path, name: str, content: bytes):
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o644          # the outside name keeps its mode
    stored = session.store.path_of(knit_id) / name
    assert not os.path.samefile(stored, outside)
    outside.write_bytes(b"written through the outside name")
    assert stored.read_bytes() == content                             # the datum is immune


def test_push_move_of_a_hard_linked_file_copies_it(session, tmp_path):
    src = make_tree(tmp_path / "src", {"f.bin": b"original"})
    outside = tmp_path / "outside.bin"
    os.link(src / "f.bin", outside)
    (d,) = data_api.push(session, [src / "f.bin"], move=True)
    assert not (src / "f.bin").exists()
    _assert_immune(session, d.knit_id, outside, "f.bin", b"original")


def test_push_move_of_a_directory_holding_a_hard_linked_file_copies_that_file(session, tmp_path):
    src = make_tree(tmp_path / "src", {"sub": {"f.bin": b"original", "other": "o"}})
    os.chmod(src / "sub", 0o555)                                      # read-only inside: still copied
    outside = tmp_path / "outside.bin"
    os.link(src / "sub" / "f.bin", outside)
    (d,) = data_api.push(session, [src], move=True)
    _assert_immune(session, d.knit_id, outside, "sub/f.bin", b"original")
    assert data_api.ensure_digest(session, d.knit_id).startswith("sha256:")
    assert read_tree(session.store.path_of(d.knit_id))["sub/other"][1] == b"o"


def test_inbox_ingestion_of_a_hard_linked_file_copies_it(session, box, tmp_path):
    (box / "drop.bin").write_bytes(b"original")
    os.chmod(box / "drop.bin", 0o644)
    outside = tmp_path / "outside.bin"
    os.link(box / "drop.bin", outside)
    r = _ingest(session, box, "drop.bin")
    assert r.knit_id and not (box / "drop.bin").exists()
    _assert_immune(session, r.knit_id, outside, "drop.bin", b"original")


# -- pushed directories ---------------------------------------------------------------------------------


def test_a_symlink_loop_in_a_pushed_directory_is_one_clear_error(cli, tmp_path):
    src = make_tree(tmp_path / "src", {"f": "x"})
    os.symlink("b", src / "a")
    os.symlink("a", src / "b")
    r = cli("data", "push", src)
    assert r.code == 2, r
    assert "Traceback" not in r.err and len(r.err_lines) == 1, r.err
    assert "loop of links" in r.err and (f"{src}/a:" in r.err or f"{src}/b:" in r.err)


def test_the_store_never_opens_a_fifo_or_device_it_is_given(session, tmp_path):
    root = make_tree(tmp_path / "root", {"f": "x"})
    os.mkfifo(root / "trap")
    with pytest.raises(KnitError, match="FIFO"):
        _bounded(lambda: session.store.manifest(root))


# -- pull -x modes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o077, 0o022])
def test_pull_x_writes_files_as_new_files_of_the_user(session, tmp_path, umask):
    src = make_tree(tmp_path / "src", {"data.txt": ("d", 0o600), "run.sh": ("#!/bin/sh\n", 0o755), "sub": {"x": "x"}})
    (d,) = data_api.push(session, [src])
    dest = tmp_path / "dest"
    dest.mkdir()
    old = os.umask(umask)
    try:
        out = data_api.pull(session, d.knit_id, dest, extract=True)
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(os.lstat(out / p).st_mode)  # noqa: E731
    assert mode("data.txt") == 0o666 & ~umask
    assert mode("run.sh") == 0o777 & ~umask
    assert mode("sub") == 0o777 & ~umask and mode("sub/x") == 0o666 & ~umask


def test_run_logs_are_private(tmp_path):
    from daemon.worker import LogFile

    old = os.umask(0o022)
    try:
        LogFile(tmp_path / "r.log", truncate=True).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.lstat(tmp_path / "r.log").st_mode) == 0o600


# -- a task's outputs, in Docker ---------------------------------------------------------------------------


def test_a_fifo_and_a_device_node_in_outputs_fail_the_run_and_knitd_keeps_serving(knit_home, knitd, session,
                                                                                      docker_client):
    require_images(docker_client, BUSYBOX_IMAGE, PYTHON_IMAGE)
    trap = apply_plan(session, {"/in": ["kind:trap"]}, {"/out": ["kind:trapped"]}, image=BUSYBOX_IMAGE,
                      args=["sh", "-c", "echo kept > /out/good.txt; mkfifo /out/trap; mknod /out/zero c 1 5; ls -l /out"],
                      ).plan.plan_id
    plain = apply_plan(session, {"/in": ["kind:plain"]}, {"/out": ["kind:done"]}, image=BUSYBOX_IMAGE,
                       args=["sh", "-c", "echo fine > /out/f.txt"]).plan.plan_id
    knitd(parallelism=1)                            # one slot: a hung run would hold it for good
    push_datum(session, "kind:trap")
    run_id = wait_until(lambda: catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = ?", (trap,)),
                        timeout=30, what="the trap run")[0][0]
    row = wait_run(knit_home, run_id, timeout=60)
    assert row["status"] == "failed", knitd_diagnostics(knit_home)
    assert "trap (a FIFO" in row["message"] and "zero (a character device)" in row["message"], row["message"]
    out = dict(catalog_rows(knit_home, "SELECT output_path, knit_id FROM data WHERE run_id = ?", (run_id,)))
    kept = session.store.path_of(out["/out"])
    assert sorted(p.name for p in kept.iterdir()) == ["good.txt"]   # the special files were removed unread

    push_datum(session, "kind:plain")                                 # knitd still serves, its slot is free
    run2 = wait_until(lambda: catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = ?", (plain,)),
                      timeout=30, what="the plain run")[0][0]
    assert wait_run(knit_home, run2, timeout=60)["status"] == "done", knitd_diagnostics(knit_home)


# -- the one-pass copy ------------------------------------------------------------------------------------


def test_a_copy_push_stores_exact_bytes_and_digest_in_one_pass(session, tmp_path, monkeypatch):
    """Big files (written around the page cache, with a tail that is not a whole block), small
    ones and empty ones: the stored bytes are the source's, the digest is known at commit and is
    the one a fresh read of the store gives; every byte is read from the source once."""
    from knitctl import store as store_mod

    rng = __import__("random").Random(7)
    spec = {"big-tail.bin": rng.randbytes((1 << 20) * 3 + 123), "big-even.bin": rng.randbytes(1 << 21),
            "small.txt": "s", "empty": "", "sub": {"mid.bin": rng.randbytes(300_000)}}
    src = make_tree(tmp_path / "src", spec)
    reads: list[int] = []
    real = store_mod._open_regular.__enter__

    def counting(self):
        f = real(self)
        reads.append(1)
        return f

    monkeypatch.setattr(store_mod._open_regular, "__enter__", counting)
    (d,) = data_api.push(session, [src])
    assert len(reads) == 5                                   # each file opened once: copied and hashed together
    monkeypatch.undo()
    stored = session.store.path_of(d.knit_id)
    assert read_tree(stored) == read_tree(src)
    assert d.digest == session.store.manifest(stored).digest == session.store.manifest(src).digest
    assert stat.S_IMODE(os.lstat(stored / "big-tail.bin").st_mode) == 0o400


@pytest.mark.parametrize("published", [False, True])
def test_finish_fails_a_run_whose_outputs_hold_a_fifo_without_opening_it(session, published):
    """`published`: an earlier attempt had already renamed the output into the store (as a knit
    that hung on the FIFO left it) — the next attempt still finishes instead of hanging again."""
    from daemon.finish import finish, output_dirs

    from conftest import runs_of

    plan = apply_plan(session, {"/in": ["kind:a"]}, {"/out": ["kind:b"]}).plan.plan_id
    push_datum(session, "kind:a")
    (run_id, *_), = runs_of(session, plan)
    (knit_id, _, d), = [o for o in output_dirs(session, run_id) if o[1] == "/out"]
    make_tree(d, {"ok.txt": "ok"})
    os.mkfifo(d / "trap")
    if published:
        session.store.publish(knit_id, d)
    status = _bounded(lambda: finish(session, run_id, True, exit_code=0, message=None))
    assert status == "failed"
    (message,) = catalog_rows(session.home.root, "SELECT message FROM run WHERE run_id = ?", (run_id,))[0]
    assert "/out: trap (a FIFO" in message
    assert sorted(p.name for p in session.store.path_of(knit_id).iterdir()) == ["ok.txt"]


def test_a_watched_root_that_is_a_link_still_gets_its_rejections(session, tmp_path):
    real = make_tree(tmp_path / "real", {"bad": "x", "bad.tags": "nope\n"})
    link = tmp_path / "link"
    os.symlink(real, link)
    r = _ingest(session, link, "bad")
    assert r.rejected and "left in place" not in r.rejected
    assert (real / ".rejected" / "bad").read_text() == "x" and (real / ".rejected" / "bad.error").exists()


def test_the_copy_threads_keep_the_order_and_raise_the_first_error():
    from knitctl.store import _parallel_map

    assert _parallel_map(lambda x: x * 2, list(range(50)), 3) == [x * 2 for x in range(50)]
    assert _parallel_map(lambda x: x, [7], 4) == [7]

    def boom(x):
        if x == 13:
            raise OSError(28, "No space left on device")
        return x

    with pytest.raises(OSError, match="No space"):
        _parallel_map(boom, list(range(40)), 2)


# -- names that are not UTF-8 ----------------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_one_clear_error_and_nothing_is_stored(cli, tmp_path, knit_home):
    src = make_tree(tmp_path / "src", {"ok": "x", "d": {}})
    with open(os.fsencode(src / "d") + b"/caf\xe9.txt", "wb") as f:
        f.write(b"latin-1 name")
    r = cli("data", "push", src)
    assert r.code == 2, r
    assert "Traceback" not in r.err and len(r.err_lines) == 1, r.err
    assert "caf\\xe9.txt: the name is not valid UTF-8" in r.err and "rename it" in r.err
    assert not any((knit_home / "data").glob("[0-9a-f]*")), "nothing may be stored"


def test_a_link_target_that_is_not_utf8_is_refused(cli, tmp_path):
    src = make_tree(tmp_path / "src", {"ok": "x"})
    os.symlink(b"t\xff", os.fsencode(src / "link"))
    r = cli("data", "push", src)
    assert r.code == 2 and "its link target is not valid UTF-8" in r.err and len(r.err_lines) == 1, r


def test_the_watcher_rejects_an_item_with_a_non_utf8_name_and_ingests_the_rest(session, tmp_path, caplog):
    share = make_tree(tmp_path / "share", {"a-first": "a", "b-bad": {}, "c-third": "c"})
    with open(os.fsencode(share / "b-bad") + b"/\xff.bin", "wb") as f:
        f.write(b"x")
    w, roots = _watcher(session, share)
    caplog.set_level(logging.INFO, logger="knitd")
    for _ in range(3):
        _bounded(lambda: w.scan(session, roots))
    names = {d.tags[0].value for d in data_api.find(session, transient="both")}
    assert names == {"a-first", "c-third"}
    assert "not valid UTF-8" in (share / ".rejected" / "b-bad.error").read_text()
    assert "Traceback" not in caplog.text
