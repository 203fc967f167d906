"""The SQLite catalog: schema, migrations, WAL, transactions, privacy."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from knitctl import data as data_api
from knitctl.catalog import Catalog, mlmd
from knitctl.catalog import db as catalog_db
from knitctl.catalog.schema import LATEST
from knitctl.errors import KnitError
from knitctl.home import Home
from knitctl.session import Session

from conftest import make_tree

# ml-metadata 1.17.1's SQLite tables (schema version 10), column for column
_NODE = {"id", "type_id", "name", "external_id", "create_time_since_epoch", "last_update_time_since_epoch"}
_PROP = {"name", "is_custom_property", "int_value", "double_value", "string_value", "byte_value", "proto_value", "bool_value"}
MLMD_TABLES = {
    "Type": {"id", "name", "version", "type_kind", "description", "input_type", "output_type", "external_id"},
    "TypeProperty": {"type_id", "name", "data_type"},
    "ParentType": {"type_id", "parent_type_id"},
    "Artifact": _NODE | {"uri", "state"},
    "Execution": _NODE | {"last_known_state"},
    "Context": _NODE,
    "ArtifactProperty": _PROP | {"artifact_id"},
    "ExecutionProperty": _PROP | {"execution_id"},
    "ContextProperty": _PROP | {"context_id"},
    "Event": {"id", "artifact_id", "execution_id", "type", "milliseconds_since_epoch"},
    "EventPath": {"event_id", "is_index_step", "step_index", "step_key"},
    "Attribution": {"id", "context_id", "artifact_id"},
    "Association": {"id", "context_id", "execution_id"},
    "ParentContext": {"context_id", "parent_context_id"},
    "MLMDEnv": {"schema_version"},
}
KNIT_TABLES = {"data", "tag", "plan", "plan_input", "plan_input_tag", "plan_output", "plan_output_tag", "run", "run_history"}


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "catalog.db"


def columns(conn, table) -> set[str]:
    return {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


# -- schema ---------------------------------------------------------------------------


def test_new_catalog_is_at_the_latest_version(path):
    with Catalog(path) as c:
        assert c.version == LATEST
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST


def test_mlmd_model_tables_exist(path):
    with Catalog(path) as c:
        for table, cols in MLMD_TABLES.items():
            assert columns(c.conn, table) == cols, table
        assert c.one("SELECT schema_version FROM MLMDEnv")[0] == 10


def test_knit_tables_exist(path):
    with Catalog(path) as c:
        names = {r[0] for r in c.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names >= KNIT_TABLES


def test_wal_mode_is_on_and_persistent(path):
    Catalog(path).close()
    raw = sqlite3.connect(path)  # a plain connection sees the file's mode
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_connection_settings(path):
    with Catalog(path) as c:
        assert c.one("PRAGMA foreign_keys")[0] == 1
        assert c.one("PRAGMA busy_timeout")[0] >= 5000


def test_reopening_does_not_migrate_again(path):
    with Catalog(path) as c:
        c.conn.execute("INSERT INTO Type(type_kind, name) VALUES (1, 'Mine')")
    with Catalog(path) as c:
        assert c.version == LATEST
        assert c.one("SELECT count(*) FROM type WHERE name = 'Mine'")[0] == 1


def test_newer_catalog_is_refused_naming_both_versions(path):
    Catalog(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {LATEST + 7}")
    raw.close()
    with pytest.raises(KnitError) as e:
        Catalog(path)
    assert f"schema version {LATEST + 7}" in e.value.message
    assert f"({LATEST})" in e.value.message
    assert "upgrade knit" in e.value.message
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST + 7


def test_newer_catalog_is_refused_by_the_cli(tmp_path, cli, knit_home, catalog_dump):
    assert cli("init").code == 0
    raw = sqlite3.connect(knit_home / "catalog.db")
    raw.execute(f"PRAGMA user_version = {LATEST + 1}")
    raw.close()
    before = catalog_dump(knit_home)
    r = cli("data", "find")
    assert r.code != 0, r
    assert "Traceback" not in r.err
    assert len(r.err_lines) == 1, r
    assert f"schema version {LATEST + 1}" in r.err and f"({LATEST})" in r.err, r
    assert r.out == ""
    assert catalog_dump(knit_home) == before


def test_a_new_migration_upgrades_an_old_catalog(path, monkeypatch):
    with Catalog(path) as c:
        c.conn.execute("INSERT INTO Type(type_kind, name) VALUES (1, 'Kept')")
    monkeypatch.setattr(catalog_db, "MIGRATIONS", catalog_db.MIGRATIONS + ["CREATE TABLE extra (x INTEGER);\nINSERT INTO extra VALUES (42);"])
    monkeypatch.setattr(catalog_db, "LATEST", LATEST + 1)
    with Catalog(path) as c:
        assert c.version == LATEST + 1
        assert c.one("SELECT x FROM extra")[0] == 42
        assert c.one("SELECT count(*) FROM type WHERE name = 'Kept'")[0] == 1


def test_a_failing_migration_changes_nothing(path, monkeypatch):
    Catalog(path).close()
    monkeypatch.setattr(catalog_db, "MIGRATIONS", catalog_db.MIGRATIONS + ["CREATE TABLE extra (x INTEGER);\nINSERT INTO nosuch VALUES (1);"])
    monkeypatch.setattr(catalog_db, "LATEST", LATEST + 1)
    with pytest.raises(sqlite3.OperationalError):
        Catalog(path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert raw.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0


def test_a_missing_catalog_is_not_created_when_asked_not_to(path):
    for kw in ({"readonly": True}, {"create": False}):
        with pytest.raises(KnitError, match="no catalog"):
            Catalog(path, **kw)
    assert not path.exists()


# -- transactions -----------------------------------------------------------------------


def test_write_commits_or_rolls_back_as_a_whole(path):
    with Catalog(path) as c:
        with pytest.raises(ZeroDivisionError):
            with c.write() as conn:
                conn.execute("INSERT INTO Type(type_kind, name) VALUES (1, 'A')")
                with c.write() as inner:  # nested: joins the outer transaction
                    inner.execute("INSERT INTO Type(type_kind, name) VALUES (1, 'B')")
                raise ZeroDivisionError("a failure inside the outer transaction")
        assert c.one("SELECT count(*) FROM type WHERE name IN ('A', 'B')")[0] == 0
        with c.write() as conn:
            conn.execute("INSERT INTO Type(type_kind, name) VALUES (1, 'A')")
            with c.write() as inner:
                inner.execute("INSERT INTO Type(type_kind, name) VALUES (1, 'B')")
        assert c.one("SELECT count(*) FROM type WHERE name IN ('A', 'B')")[0] == 2


def test_write_takes_the_write_lock_up_front(path):
    with Catalog(path) as c:
        with c.write():
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()


def test_readers_see_a_snapshot_and_are_never_blocked_by_a_writer(path):
    with Catalog(path) as writer, Catalog(path) as reader:
        before = reader.data_version()
        with reader.read():
            n = reader.one("SELECT count(*) FROM type")[0]
            with writer.write() as conn:
                conn.execute("INSERT INTO Type(type_kind, name) VALUES (1, 'New')")
            assert reader.one("SELECT count(*) FROM type")[0] == n  # still the snapshot
        assert reader.one("SELECT count(*) FROM type")[0] == n + 1
        assert reader.data_version() != before


# -- what a push writes ----------------------------------------------------------------------


def test_a_push_is_an_mlmd_artifact_output_of_an_upload_execution(tmp_path):
    home = Home.resolve(tmp_path / "home")
    with Session.open(home) as s:
        (d,) = data_api.push(s, [make_tree(tmp_path / "src", {"f": "x"})], ["project:x"])
        row = s.catalog.one(
            """SELECT a.uri, a.state, at.name AS atype, e.type AS etype, ep.step_key,
                      x.last_known_state, xt.name AS xtype, c.name AS ctx, ct.name AS ctype
               FROM data d JOIN artifact a ON a.id = d.artifact_id JOIN type at ON at.id = a.type_id
               JOIN event e ON e.artifact_id = a.id JOIN EventPath ep ON ep.event_id = e.id
               JOIN execution x ON x.id = e.execution_id JOIN type xt ON xt.id = x.type_id
               JOIN association asn ON asn.execution_id = x.id JOIN context c ON c.id = asn.context_id
               JOIN type ct ON ct.id = c.type_id
               WHERE d.knit_id = ?""",
            (d.knit_id,),
        )
    assert row["uri"] == str(home.data / d.knit_id)
    assert row["state"] == mlmd.A_LIVE
    assert row["atype"] == mlmd.DATA_TYPE
    assert row["etype"] == mlmd.EV_OUTPUT
    assert row["step_key"] == "/upload"
    assert row["last_known_state"] == mlmd.E_COMPLETE
    assert row["xtype"] == mlmd.RUN_TYPE
    assert (row["ctx"], row["ctype"]) == ("knit#uploaded", mlmd.PLAN_TYPE)


# -- privacy ----------------------------------------------------------------------------------


def test_catalog_files_are_private_even_with_a_permissive_umask(tmp_path):
    path = tmp_path / "catalog.db"
    old = os.umask(0)
    try:
        with Catalog(path) as c:
            with c.write() as conn:
                conn.execute("INSERT INTO Type(type_kind, name) VALUES (1, 'A')")
            wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
            assert wal.exists() and shm.exists()  # an open WAL catalog has both
            assert {p.name: mode(p) for p in (path, wal, shm)} == {
                "catalog.db": 0o600, "catalog.db-wal": 0o600, "catalog.db-shm": 0o600,
            }
    finally:
        os.umask(old)


def test_inserted_id_is_the_new_rowid_and_refuses_a_cursor_that_inserted_nothing():
    from knitctl.catalog.db import inserted_id

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    assert inserted_id(conn.execute("INSERT INTO t(v) VALUES ('a')")) == 1
    assert inserted_id(conn.execute("INSERT INTO t(v) VALUES ('b')")) == 2
    with pytest.raises(TypeError, match="INSERT"):
        inserted_id(conn.cursor())
