"""A catalog made by an earlier release upgrades in place on first open and loses nothing.

`fixtures/catalog-v2.db` and `fixtures/catalog-v5.db` were built by `fixtures/make_catalog.py` with the
code of the commit each `.json` names (schemas 2 and 5; 5 is the last with knit's own MLMD-shaped
tables, before they became ml-metadata's): uploads with changed tags, plans (one inactive), runs in every
status, log data, and a user's own ML Metadata beside knit's. Each test opens a copy; the fixtures
themselves are never written.
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

FIXTURES = {v: Path(__file__).parent / "fixtures" / f"catalog-v{v}.db" for v in (2, 5)}
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


@pytest.fixture(params=sorted(FIXTURES), ids=lambda v: f"v{v}")
def fixture(request) -> Path:
    return FIXTURES[request.param]


@pytest.fixture
def MANIFEST(fixture):
    return json.loads(fixture.with_suffix(".json").read_text())


@pytest.fixture
def old_home(tmp_path, monkeypatch, fixture):
    home = Home.resolve(tmp_path / "home")
    home.ensure()
    shutil.copyfile(fixture, home.catalog)
    monkeypatch.setenv("KNIT_HOME", str(home.root))
    return home


def test_the_fixture_is_what_its_manifest_says(fixture, MANIFEST):
    conn = sqlite3.connect(f"file:{fixture}?mode=ro&immutable=1", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == MANIFEST["schema_version"] == int(fixture.stem[-1])
    statuses = dict(conn.execute("SELECT status, count(*) FROM run GROUP BY status").fetchall())
    conn.close()
    assert statuses == MANIFEST["run_statuses"] and set(statuses) == ALL_STATUSES
    assert fixture.stat().st_size < 512 * 1024


def test_the_tests_leave_the_fixtures_alone():
    folder = next(iter(FIXTURES.values())).parent
    for f in FIXTURES.values():
        assert sorted(p.name for p in folder.iterdir() if p.name.startswith(f.name)) == [f.name]


# Schema 6 moved knit's MLMD-shaped tables onto ml-metadata's own: old table -> (new table, renamed columns).
# Values ml-metadata encodes differently (a struct or proto value, a base type, a path step's position)
# are compared through the metadata API below (test_the_users_metadata_survives_the_upgrade).
_NODE = {"create_time_ms": "create_time_since_epoch", "update_time_ms": "last_update_time_since_epoch"}
_PROP = {"is_custom": "is_custom_property"}
MOVED = {
    "type": ("Type", {"kind": "type_kind"}), "type_property": ("TypeProperty", {}), "parent_type": ("ParentType", {}),
    "artifact": ("Artifact", _NODE), "execution": ("Execution", _NODE), "context": ("Context", _NODE),
    "artifact_property": ("ArtifactProperty", _PROP), "execution_property": ("ExecutionProperty", _PROP),
    "context_property": ("ContextProperty", _PROP), "event": ("Event", {}), "event_path": ("EventPath", {}),
    "attribution": ("Attribution", {}), "association": ("Association", {}), "parent_context": ("ParentContext", {}),
}
ENCODED = {"base_type", "struct_value", "proto_value", "position"}


def test_an_old_catalog_upgrades_in_place_and_keeps_every_row(old_home, fixture):
    before = rows(fixture, immutable=True)
    session = Session.open(old_home)
    try:
        assert session.catalog.version == LATEST
    finally:
        session.close()
    after = rows(old_home.catalog)
    for table, (cols, old_rows) in before.items():
        new_table, renamed = MOVED.get(table, (table, {}))
        assert new_table in after, f"table {table} is gone after the upgrade"
        new_cols, new_rows = after[new_table]
        kept = [c for c in cols if c not in ENCODED]
        if "struct_value" in cols:  # rows holding an encoded value are compared through the API
            old_rows = [r for r in old_rows if r[cols.index("struct_value")] is None and r[cols.index("proto_value")] is None]
        keep = [new_cols.index(renamed.get(c, c)) for c in kept if renamed.get(c, c) in new_cols]
        assert len(keep) == len(kept), f"{table}: columns {set(kept) - set(new_cols)} are gone"
        old_projected = sorted((tuple(r[cols.index(c)] for c in kept) for r in old_rows), key=repr)
        projected = sorted((tuple(r[i] for i in keep) for r in new_rows), key=repr)
        if table in MOVED:  # ml-metadata's built-in types and knit's tags as properties are added
            missing = [r for r in old_projected if r not in projected]
            assert not missing, f"{table}: rows lost in the upgrade: {missing[:3]}"
        else:
            assert projected == old_projected, f"{table}: rows changed in the upgrade"


def test_the_upgraded_catalog_shows_knits_tags_as_custom_properties(old_home, fixture):
    Session.open(old_home).close()
    conn = sqlite3.connect(old_home.catalog)
    tags = conn.execute("SELECT d.artifact_id, t.key, group_concat(t.value, char(10)) FROM data d JOIN"
                        " (SELECT * FROM tag ORDER BY value) t ON t.knit_id = d.knit_id GROUP BY d.artifact_id, t.key").fetchall()
    props = conn.execute("SELECT p.artifact_id, p.name, p.string_value FROM ArtifactProperty p JOIN data d"
                         " ON d.artifact_id = p.artifact_id WHERE p.is_custom_property = 1").fetchall()
    conn.close()
    assert tags and set(tags) <= set(props)


def test_knit_reads_the_upgraded_catalog(old_home, MANIFEST):
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


def test_the_users_metadata_survives_the_upgrade(old_home, MANIFEST):
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


def test_downgrade_schema_takes_the_upgraded_catalog_back_to_what_the_old_release_wrote(old_home, fixture, MANIFEST):
    Session.open(old_home).close()
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(old_home.catalog)
    metadata_store.downgrade_schema(config, MANIFEST["schema_version"])
    assert rows(old_home.catalog) == rows(fixture, immutable=True)
