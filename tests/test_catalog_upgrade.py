"""A catalog made by an earlier release upgrades in place on first open and loses nothing.

`fixtures/catalog-v2.db` was built by `fixtures/make_catalog.py` with the code of the commit its
`.json` names (schema 2): uploads with changed tags, plans (one inactive), runs in every status,
log data, and a user's own ML Metadata beside knit's. Each test opens a copy; the fixture itself
is never written.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from knitctl import runs as runs_api
from knitctl.catalog.schema import LATEST
from knitctl.home import Home
from knitctl.metadata import metadata_store
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.session import Session

FIXTURE = Path(__file__).parent / "fixtures" / "catalog-v2.db"
MANIFEST = json.loads(FIXTURE.with_suffix(".json").read_text())
ALL_STATUSES = {"deactivated", "waiting", "ready", "starting", "running", "completing", "aborting", "done",
                "failed", "invalidated"}


def rows(path: Path, *, immutable: bool = False) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table's (columns, sorted rows), read through a read-only connection (immutable: leaving
    no -wal/-shm beside a file no one writes)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro{'&immutable=1' if immutable else ''}", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out = {}
        for t in tables:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]
            out[t] = (cols, sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr))
        return out
    finally:
        conn.close()


@pytest.fixture
def old_home(tmp_path, monkeypatch):
    home = Home.resolve(tmp_path / "home")
    home.ensure()
    shutil.copyfile(FIXTURE, home.catalog)
    monkeypatch.setenv("KNIT_HOME", str(home.root))
    return home


def test_the_fixture_is_what_its_manifest_says():
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro&immutable=1", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == MANIFEST["schema_version"] == 2
    statuses = dict(conn.execute("SELECT status, count(*) FROM run GROUP BY status").fetchall())
    conn.close()
    assert statuses == MANIFEST["run_statuses"] and set(statuses) == ALL_STATUSES
    assert FIXTURE.stat().st_size < 512 * 1024


def test_the_tests_leave_the_fixture_alone():
    assert sorted(p.name for p in FIXTURE.parent.iterdir() if p.name.startswith(FIXTURE.name)) == [FIXTURE.name]


def test_an_old_catalog_upgrades_in_place_and_keeps_every_row(old_home):
    before = rows(FIXTURE, immutable=True)
    session = Session.open(old_home)
    try:
        assert session.catalog.version == LATEST
    finally:
        session.close()
    after = rows(old_home.catalog)
    for table, (cols, old_rows) in before.items():
        assert table in after, f"table {table} is gone after the upgrade"
        new_cols, new_rows = after[table]
        keep = [new_cols.index(c) for c in cols if c in new_cols]
        assert len(keep) == len(cols), f"{table}: columns {set(cols) - set(new_cols)} are gone"
        projected = sorted((tuple(r[i] for i in keep) for r in new_rows), key=repr)
        assert projected == old_rows, f"{table}: rows changed in the upgrade"


def test_knit_reads_the_upgraded_catalog(old_home):
    session = Session.open(old_home)
    try:
        found = runs_api.find(session, statuses=sorted(ALL_STATUSES), include_uploads=True)
        got = {}
        for r in found:
            got[r.status] = got.get(r.status, 0) + 1
        assert got == MANIFEST["run_statuses"]
        stopped = [r for r in found if r.status == "completing" and r.message == "stopped by the user"]
        assert len(stopped) == 1
        failed = [r for r in found if r.status == "failed" and r.exit_code == 3]
        assert len(failed) == 1 and failed[0].message == "the task exited with code 3"
    finally:
        session.close()


def test_the_users_metadata_survives_the_upgrade(old_home):
    with metadata_store.knit_catalog(old_home.root) as store:
        model_type = store.get_artifact_type("Model", type_version="v1")
        assert model_type.version == "v1" and dict(model_type.properties) == {"framework": pb.STRING, "layers": pb.INT}
        (model,) = store.get_artifacts_by_type("Model", type_version="v1")
        assert (model.uri, model.name, model.external_id) == ("/models/m1", "m1", "model-m1")
        assert model.properties["layers"].int_value == 3 and model.custom_properties["best"].bool_value is True
        assert model.custom_properties["accuracy"].double_value == 0.93
        assert dict(model.custom_properties["params"].struct_value) == {"lr": 0.1, "tags": ["a", "b"]}
        (x,) = store.get_executions_by_type("Trainer")
        events = sorted(store.get_events_by_execution_ids([x.id]), key=lambda e: e.type)
        assert [(e.type, [s.key or s.index for s in e.path.steps]) for e in events] == [
            (pb.Event.INPUT, ["examples"]), (pb.Event.OUTPUT, ["model", 0])]
        exp = store.get_context_by_type_and_name("Experiment", "exp-1")
        assert model.id in [a.id for a in store.get_artifacts_by_context(exp.id)]
        assert [e.id for e in store.get_executions_by_context(exp.id)] == [x.id]
        assert [p.name for p in store.get_parent_contexts_by_context(exp.id)] == ["all-experiments"]
        # knit's own nodes are there too: uploads as knit.Data, plans as knit.Plan
        names = {a.name for a in store.get_artifacts_by_type("knit.Data")}
        assert set(MANIFEST["uploads"].values()) <= names
        plans = {c.name for c in store.get_contexts_by_type("knit.Plan")}
        assert set(MANIFEST["plans"].values()) <= plans
