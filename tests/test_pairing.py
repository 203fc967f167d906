"""The catalog and the store know each other: a missing, empty, damaged or foreign catalog beside
a store that holds data is refused by every command (store untouched), and GC never runs then."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from knitctl import pairing
from knitctl.home import Home
from knitctl.pairing import CatalogRefused, verdict
from knitctl.session import Session

from conftest import REPO, cli_env, push_datum, read_tree

# -- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kw, ok, action", [
    (dict(file_state="missing", catalog_id=None, store_id=None, store_data=0), True, "create"),
    (dict(file_state="empty", catalog_id=None, store_id="s", store_data=0), True, "create"),
    (dict(file_state="missing", catalog_id=None, store_id="s", store_data=3), False, ""),
    (dict(file_state="empty", catalog_id=None, store_id=None, store_data=3), False, ""),
    (dict(file_state="damaged", catalog_id=None, store_id=None, store_data=0), False, ""),
    (dict(file_state="sqlite", catalog_id="a", store_id="a", store_data=3), True, ""),
    (dict(file_state="sqlite", catalog_id="a", store_id="b", store_data=0), False, ""),
    (dict(file_state="sqlite", catalog_id="a", store_id=None, store_data=0), True, "write-store-id"),
    (dict(file_state="sqlite", catalog_id="a", store_id=None, store_data=2), False, ""),
    (dict(file_state="sqlite", catalog_id=None, store_id=None, store_data=2, catalog_data=2), True, "new-id"),
    (dict(file_state="sqlite", catalog_id=None, store_id=None, store_data=2, catalog_data=0), False, ""),
    (dict(file_state="sqlite", catalog_id=None, store_id="s", store_data=2, catalog_data=2), False, ""),
    (dict(file_state="sqlite", catalog_id=None, store_id="s", store_data=0, catalog_data=0), True, "adopt-store-id"),
])
def test_the_pairing_rule(kw, ok, action):
    v = verdict(**kw)
    assert (v.ok, v.action) == (ok, action)
    assert bool(v.problem) == (not ok)


# -- a home with data -------------------------------------------------------------------------


@pytest.fixture
def full_home(knit_home):
    """A paired home whose store holds three data; the session is closed."""
    with Session.open() as s:
        push_datum(s, "k:v", n=3)
    home = Home.resolve(knit_home)
    assert pairing.store_data(home.data) == 3
    assert pairing.read_store_id(home.root)
    return home


def _drop_catalog(home: Home) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(home.catalog) + suffix).unlink(missing_ok=True)


def _empty_catalog(home: Home) -> None:
    _drop_catalog(home)
    home.catalog.write_bytes(b"")


def _foreign_catalog(home: Home) -> None:
    other = Home.resolve(home.root.parent / "other-home")
    with Session.open(other) as s:
        push_datum(s, "other:1")
    _drop_catalog(home)
    shutil.copyfile(other.catalog, home.catalog)


def _text_catalog(home: Home) -> None:
    _drop_catalog(home)
    home.catalog.write_text("this is not a database\n" * 50)


def _pre_pairing_empty_catalog(home: Home) -> None:
    """What the old code did: a fresh, empty catalog (and no id anywhere)."""
    _drop_catalog(home)
    (home.root / pairing.STORE_ID_FILE).unlink()
    from knitctl.catalog import schema

    conn = sqlite3.connect(home.catalog)
    for script in schema.MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()


DAMAGE = {"missing": _drop_catalog, "empty": _empty_catalog, "foreign": _foreign_catalog,
          "text": _text_catalog, "old-empty": _pre_pairing_empty_catalog}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_command_refuses_a_bad_catalog_beside_a_full_store(full_home, cli, damage):
    DAMAGE[damage](full_home)
    before = read_tree(full_home.data)
    catalog_before = full_home.catalog.read_bytes() if full_home.catalog.exists() else None
    for args in (["data", "find"], ["run", "find"], ["status"], ["data", "push", str(REPO / "README.md")]):
        r = cli(*args)
        assert r.code == 1, r
        assert len(r.err_lines) == 1 and "Traceback" not in r.err, r
        assert "doctor --repair" in r.err and "backup" in r.err, r
    assert read_tree(full_home.data) == before                          # the store untouched
    if damage == "old-empty":  # an old catalog is migrated (its schema only), never adopted
        conn = sqlite3.connect(full_home.catalog)
        assert conn.execute("SELECT count(*) FROM store_pairing").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM data").fetchone()[0] == 0
        conn.close()
    else:
        after = full_home.catalog.read_bytes() if full_home.catalog.exists() else None
        assert after == catalog_before                                   # no catalog made or changed


@pytest.mark.parametrize("damage", ["missing", "empty", "foreign"])
def test_knitd_refuses_to_start_and_gc_never_runs(full_home, damage):
    DAMAGE[damage](full_home)
    before = read_tree(full_home.data)
    r = subprocess.run([sys.executable, "-m", "daemon", "--home", str(full_home.root)], env=cli_env(full_home.root),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr and "doctor --repair" in r.stderr, r.stderr
    assert read_tree(full_home.data) == before
    assert "gc: removed" not in full_home.daemon_log.read_text()


def test_gc_removes_nothing_unless_the_catalog_vouches_for_the_store(full_home):
    from daemon import gc

    stray = full_home.data / "0123456789ab"
    stray.mkdir()
    with Session.open(full_home, reclaim=False) as s:
        (full_home.root / pairing.STORE_ID_FILE).write_text("someone-else\n")   # swapped under a running session
        assert "another store" in gc.unsafe(s)
        assert gc.sweep(s) == [] and stray.exists()
        (full_home.root / pairing.STORE_ID_FILE).write_text(pairing.catalog_id(s.catalog.conn) + "\n")
        (full_home.data / "README").write_text("not data")                # not an id: never swept
        assert gc.unsafe(s) is None
        assert gc.sweep(s) == ["0123456789ab"]                           # debris goes once vouched for
    assert not stray.exists() and (full_home.data / "README").exists()
    assert pairing.store_data(full_home.data) == 3


def test_gc_skips_when_the_catalog_knows_no_data_beside_a_full_store(knit_home):
    from daemon import gc

    with Session.open() as s:
        (s.home.data / "0123456789ab").mkdir()
        assert "knows no data" in gc.unsafe(s)
        assert gc.sweep(s) == []
    assert (Home.resolve(knit_home).data / "0123456789ab").exists()


def test_a_catalog_from_before_pairing_adopts_its_store(full_home):
    with Session.open(full_home) as s:
        ids = [r[0] for r in s.catalog.query("SELECT knit_id FROM data WHERE run_id != 'x'")]
        with s.catalog.write() as c:
            c.execute("DELETE FROM store_pairing")
    (full_home.root / pairing.STORE_ID_FILE).unlink()
    with Session.open(full_home) as s:
        sid = pairing.catalog_id(s.catalog.conn)
        assert sid and pairing.read_store_id(full_home.root) == sid
        assert [r[0] for r in s.catalog.query("SELECT knit_id FROM data WHERE run_id != 'x'")] == ids


def test_a_brand_new_home_initialises_and_pairs(knit_home):
    with Session.open() as s:
        sid = pairing.catalog_id(s.catalog.conn)
    home = Home.resolve(knit_home)
    assert sid and pairing.read_store_id(home.root) == sid
    assert oct((home.root / pairing.STORE_ID_FILE).stat().st_mode & 0o777) == "0o600"


def test_a_lost_store_id_beside_a_full_store_is_refused(full_home):
    (full_home.root / pairing.STORE_ID_FILE).unlink()
    with pytest.raises(CatalogRefused, match="lost its id file"):
        Session.open(full_home)
    assert not (full_home.root / pairing.STORE_ID_FILE).exists()


def test_knitctl_up_beside_a_full_store_without_catalog_refuses_and_keeps_the_store(full_home, cli):
    _drop_catalog(full_home)
    before = read_tree(full_home.data)
    try:
        r = cli("up")
        assert r.code == 1 and "Traceback" not in r.err and len(r.err_lines) == 1, r
        assert "doctor --repair" in r.err or "knitd did not start" in r.err, r
    finally:
        from knitctl import knitd as knitd_api

        knitd_api.stop(full_home)
    assert read_tree(full_home.data) == before
    assert not full_home.catalog.exists()
