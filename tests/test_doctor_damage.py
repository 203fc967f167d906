"""A doctor that survives what it diagnoses; `doctor --repair`; knitd's component health;
modes under KNIT_HOME."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from knitctl import health, pairing
from knitctl.catalog import repair
from knitctl.errors import Conflict
from knitctl.home import Home
from knitctl.knitd import PidLock
from knitctl.session import Session

from conftest import cli_env, push_datum


@pytest.fixture
def full_home(knit_home):
    with Session.open() as s:
        ids = [d.knit_id for d in push_datum(s, "k:v", n=3)]
    home = Home.resolve(knit_home)
    assert not Path(str(home.catalog) + "-wal").exists()   # checkpointed on close
    return home, ids


def _random(p: Path):
    p.write_bytes(os.urandom(p.stat().st_size))


def _truncated(p: Path):
    with open(p, "r+b") as f:
        f.truncate(p.stat().st_size // 2)


def _text(p: Path):
    p.write_text("catalog\n" * 1000)


def _zeroed_header(p: Path):
    with open(p, "r+b") as f:
        f.write(b"\0" * 100)


def _empty(p: Path):
    p.write_bytes(b"")


def _missing(p: Path):
    p.unlink()


DAMAGE = {"random": _random, "truncated": _truncated, "text": _text, "zeroed-header": _zeroed_header,
          "empty": _empty, "missing": _missing}


def _store_ids(home: Home) -> set[str]:
    out = {p.name for p in home.data.iterdir() if pairing.ID_RE.match(p.name)}
    lost = home.root / "lost+found"
    return out | ({p.name for p in lost.iterdir()} if lost.exists() else set())


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_doctor_reports_each_kind_of_damage_and_repair_recovers(full_home, cli, damage):
    home, ids = full_home
    DAMAGE[damage](home.catalog)
    files = lambda: {p.name: p.read_bytes() for p in home.root.glob("catalog.db*")}  # noqa: E731
    before = files()
    r = cli("doctor", "-o", "json")
    assert r.code == 1 and "Traceback" not in r.err, r
    assert files() == before                                        # the doctor changed nothing
    checks = {c["check"]: c for c in r.json()}
    bad = checks.get("pairing") if checks["catalog"]["ok"] else checks["catalog"]
    assert bad and not bad["ok"] and "--repair" in bad["fix"], checks

    if damage == "random":
        r = cli("doctor")                                          # the table form too
        assert r.code == 1 and "Traceback" not in r.err and "FAIL catalog" in r.out, r

    r = cli("doctor", "--repair")
    assert r.code == 0 and "Traceback" not in r.err, r
    assert "repaired" in r.err
    assert _store_ids(home) == set(ids)                             # store data never deleted
    if damage != "missing" and damage != "empty":
        assert list(home.root.glob("catalog.db.damaged-*"))         # the old file kept aside
    r = cli("data", "find", "-o", "json")
    assert r.code == 0, r
    again = cli("doctor", "-o", "json")
    checks = {c["check"]: c for c in again.json()}
    assert checks["catalog"]["ok"] and checks["pairing"]["ok"], checks
    assert cli("doctor", "--repair").err.strip().endswith("nothing to repair")


def _leaf_pages(path: Path, table: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
                                           (table,))]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat to find a page by")
    finally:
        conn.close()


@pytest.mark.parametrize("tool", ["sqlite3-recover", "python-only"])
def test_repair_of_a_corrupted_page_recovers_the_intact_rows(knit_home, cli, tool, monkeypatch):
    import shutil

    if tool == "python-only":
        monkeypatch.setattr(repair.shutil, "which", lambda name: None)
    elif not shutil.which("sqlite3"):
        pytest.skip("no sqlite3 tool here")
    with Session.open() as s:
        ids = [d.knit_id for d in push_datum(s, "k:v", n=300)]
        page_size = s.catalog.one("PRAGMA page_size")[0]
    home = Home.resolve(knit_home)
    pages = _leaf_pages(home.catalog, "data")
    assert len(pages) >= 3
    bad = pages[len(pages) // 2]
    conn = sqlite3.connect(home.catalog)
    before = {r[0] for r in conn.execute(
        "SELECT knit_id FROM data")}
    conn.close()
    with open(home.catalog, "r+b") as f:
        f.seek((bad - 1) * page_size)
        f.write(b"\xff" * page_size)
    r = cli("data", "find")
    assert r.code == 1 and "Traceback" not in r.err and len(r.err_lines) == 1, r
    r = cli("doctor", "-o", "json")
    assert r.code == 1 and not {c["check"]: c for c in r.json()}["catalog"]["ok"], r

    report = repair.repair(home)
    assert report.kept_aside
    assert report.method == ("row by row" if tool == "python-only" else "sqlite3 .recover, then row by row")
    conn = sqlite3.connect(home.catalog)
    kept = {r[0] for r in conn.execute("SELECT knit_id FROM data")}
    assert conn.execute("SELECT count(*) FROM tag WHERE knit_id NOT IN (SELECT knit_id FROM data)").fetchone()[0] == 0
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
    assert before == set(ids)
    assert 200 <= len(kept) < 300                                   # only the bad page's rows are lost
    assert kept <= set(ids)
    assert set(report.lost_found) == set(ids) - kept                # and their data are moved, not deleted
    assert _store_ids(home) == set(ids)
    r = cli("data", "find", "-o", "json")
    assert r.code == 0, r
    assert {d["knit_id"] for d in r.json()} == kept
    tags = cli("data", "find", "-t", "k:v", "-o", "json")
    assert {d["knit_id"] for d in tags.json()} == kept


def test_repair_refuses_while_knitd_runs(full_home):
    home, _ = full_home
    _random(home.catalog)
    lock = PidLock(home)
    lock.acquire()
    try:
        with pytest.raises(Conflict, match="knitctl down"):
            repair.repair(home)
    finally:
        lock.release()
    assert not list(home.root.glob("catalog.db.damaged-*"))


def test_doctor_reports_missing_and_extra_store_directories(full_home, cli):
    home, ids = full_home
    (home.data / "0123456789ab").mkdir()
    gone = home.data / ids[0]
    os.chmod(gone, 0o700)
    for p in sorted(gone.rglob("*"), reverse=True):
        os.chmod(p, 0o700) if p.is_dir() else None
        p.rmdir() if p.is_dir() else p.unlink()
    gone.rmdir()
    checks = {c["check"]: c for c in cli("doctor", "-o", "json").json()}
    assert not checks["store"]["ok"] and ids[0] in checks["store"]["detail"], checks
    assert "0123456789ab" in checks["store extras"]["detail"]


# -- knitd's components -----------------------------------------------------------------------


def test_judging_component_health():
    now = 1000.0
    doc = {"pid": 7, "components": {
        "run loop": {"state": "ok", "detail": "", "at": now - 1},
        "folder watcher": {"state": "restarting", "detail": "died: OSError", "at": now - 1, "restarts": 2}}}
    got = {c["name"]: c for c in health.judge(doc, 7, now)}
    assert got["run loop"]["ok"] and not got["folder watcher"]["ok"]
    assert "restarted 2 time(s)" in got["folder watcher"]["detail"]
    stale = {c["name"]: c for c in health.judge(doc, 7, now + 100)}
    assert "silent for" in stale["run loop"]["detail"] and not stale["run loop"]["ok"]
    assert all(not c["ok"] for c in health.judge(doc, 8, now))      # another knitd's file
    assert health.judge(None, None, now) == []                      # knitd not running


def test_knitd_restarts_a_dead_folder_watcher(knit_home, monkeypatch):
    from daemon import loop
    from daemon import watcher as watcher_mod

    started = threading.Event()
    made = []

    class Dying:
        def __init__(self, home, stop, beat=None):
            self.stop, self.beat = stop, beat
            made.append(self)

        def serve(self):
            if len(made) == 1:
                raise OSError(36, "File name too long")
            self.beat()
            started.set()
            self.stop.wait()

    monkeypatch.setattr(watcher_mod, "Watcher", Dying)
    d = loop.Daemon(Home.resolve(knit_home), executor=None, parallelism=1, gpus=None)
    try:
        d.watcher = Dying(d.home, d.stopping, beat=lambda: d.health.beat(loop.WATCHER))
        t = threading.Thread(target=d._watch_folders, daemon=True)
        t.start()
        assert started.wait(10), "the watcher was not restarted"
        doc = json.loads((knit_home / "health.json").read_text())
        w = doc["components"]["folder watcher"]
        assert w["state"] == "ok" and w["restarts"] == 1 and len(made) == 2
        assert oct((knit_home / "health.json").stat().st_mode & 0o777) == "0o600"
        d.stopping.set()
        t.join(10)
        assert not t.is_alive()
    finally:
        d.session.close()


def test_status_shows_each_component(knit_home, cli):
    home = Home.resolve(knit_home)
    Session.open(home).close()
    lock = PidLock(home)
    lock.acquire()
    try:
        h = health.Health(home, pid=os.getpid())
        h.beat("run loop")
        h.beat("folder watcher", "restarting", "died: OSError: File name too long", restarts=1)
        r = cli("status", "-o", "json")
        assert r.code == 0, r
        comps = {c["name"]: c for c in r.json()["components"]}
        assert comps["run loop"]["ok"] and not comps["folder watcher"]["ok"]
        table = cli("status")
        assert "folder watcher" in table.out and "FAIL" in table.out and "File name too long" in table.out, table
    finally:
        lock.release()


# -- modes -------------------------------------------------------------------------------------


def test_knitd_log_and_old_logs_are_private(full_home):
    home, _ = full_home
    old = home.run_log("0123456789ab")
    old.write_text("an old run's log\n")
    os.chmod(old, 0o644)
    home.daemon_log.write_text("")
    os.chmod(home.daemon_log, 0o644)
    os.chmod(home.logs, 0o755)
    _random(home.catalog)   # knitd refuses to start, after it has made its home private
    r = subprocess.run([sys.executable, "-m", "daemon", "--home", str(home.root)], env=cli_env(home.root),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r
    for p in (home.daemon_log, old, home.root / pairing.STORE_ID_FILE):
        assert oct(p.stat().st_mode & 0o777) == "0o600", p
    assert oct(home.logs.stat().st_mode & 0o777) == "0o700"


def test_a_fresh_home_is_private(knit_home):
    with Session.open():
        pass
    home = Home.resolve(knit_home)
    for p in home.root.iterdir():
        want = 0o700 if p.is_dir() else 0o600
        assert p.stat().st_mode & 0o777 == want, p


def test_a_running_knitd_reports_its_components_healthy(knit_home, knitd, cli):
    from conftest import wait_until

    Session.open().close()
    knitd()
    home = Home.resolve(knit_home)
    wait_until(lambda: all(c["ok"] for c in health.components(home)) and health.components(home),
               timeout=30, what="knitd's components to report", home=knit_home)
    st = cli("status", "-o", "json")
    assert {c["name"]: c["ok"] for c in st.json()["components"]} == {"run loop": True, "folder watcher": True}, st
    checks = {c["check"]: c for c in cli("doctor", "-o", "json").json()}
    assert checks["knitd folder watcher"]["ok"] and checks["knitd run loop"]["ok"], checks
