"""`knitctl.metadata.transfer`: an ml-metadata store copied into the knit catalog (ids remapped,
idempotent), and the knit catalog exported to a new file the real ml-metadata 1.17.1 opens."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_metadata_mlmd_files import READ_BACK, tfx_store  # noqa: F401  (the module's fixture)

from knitctl.home import Home
from knitctl.metadata import errors, metadata_store, transfer
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.session import Session

import mlmd_venv

FIXTURE = Path(__file__).parent / "fixtures" / "catalog-v2.db"


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = Home.resolve(tmp_path / "home")
    monkeypatch.setenv("KNIT_HOME", str(h.root))
    return h


def by_uri(store) -> dict[str, tuple]:
    return {a.uri: (a.type, a.name, a.state, sorted((k, str(v)) for k, v in a.properties.items()),
                    sorted((k, str(v)) for k, v in a.custom_properties.items())) for a in store.get_artifacts()}


def test_import_copies_an_ml_metadata_store_into_the_catalog_once(tfx_store, home):  # noqa: F811
    path, written = tfx_store
    first = transfer.import_store(path, home.root)
    assert first.copied == {"types": 8, "artifacts": 8, "executions": 8, "contexts": 4, "events": 15,
                            "attributions": 8 + 8, "associations": 8 + 8, "parent contexts": 3}
    assert set(first.present.values()) == {0}
    with metadata_store.MetadataStore(transfer._sqlite(path, pb.SqliteMetadataSourceConfig.READONLY)) as src, \
            metadata_store.knit_catalog(home.root) as dst:
        source = by_uri(src)
        copied = {u: v for u, v in by_uri(dst).items() if u in source}
        assert copied == source
        run2 = dst.get_context_by_type_and_name("pipeline_run", "taxi-run-2")
        assert [p.name for p in dst.get_parent_contexts_by_context(run2.id)] == ["taxi"]
        trainer = [x for x in dst.get_executions_by_context(run2.id) if x.type == "Trainer"][0]
        events = dst.get_events_by_execution_ids([trainer.id])
        assert sorted((e.type, [s.key for s in e.path.steps if s.HasField("key")]) for e in events) == [
            (pb.Event.INPUT, ["examples"]), (pb.Event.OUTPUT, ["model"])]
        unnamed = [x for x in dst.get_executions() if x.type == "Trainer"]
        assert all(x.external_id.startswith(f"{Path(path).resolve()}#execution/") for x in unnamed)
        counts = (len(dst.get_artifacts()), len(dst.get_executions()), len(dst.get_contexts()))
    again = transfer.import_store(path, home.root)
    assert set(again.copied.values()) == {0}
    assert again.present == first.copied
    with metadata_store.knit_catalog(home.root) as dst:
        assert (len(dst.get_artifacts()), len(dst.get_executions()), len(dst.get_contexts())) == counts
    assert "\n".join(again.lines()).startswith("types: 0 copied, 8 already there")


def test_export_makes_a_file_ml_metadata_opens_with_knits_data(home):
    home.ensure()
    shutil.copyfile(FIXTURE, home.catalog)
    Session.open(home).close()  # brought to this knit's schema
    dest = home.root.parent / "exported.sqlite"
    summary = transfer.export_catalog(dest, home.root)
    seen = json.loads(mlmd_venv.run(READ_BACK, str(dest)))
    with metadata_store.knit_catalog(home.root, readonly=True) as cat:
        data = {a.name: a for a in cat.get_artifacts_by_type("knit.Data")}
        runs = cat.get_executions_by_type("knit.Run")
        plans = cat.get_contexts_by_type("knit.Plan")
        n_events = len(cat.get_events_by_execution_ids([x.id for x in cat.get_executions()]))
    assert summary.copied["artifacts"] == len(seen["artifacts"]) and summary.copied["events"] == n_events
    exported = {a["name"]: a for a in seen["artifacts"] if a["type"] == "knit.Data"}
    assert set(exported) == set(data)
    for name, a in data.items():
        assert exported[name]["uri"] == a.uri and exported[name]["state"] == a.state
    assert len([x for x in seen["executions"] if x["type"] == "knit.Run"]) == len(runs)
    assert {c["name"] for c in seen["contexts"] if c["type"] == "knit.Plan"} == {c.name for c in plans}
    model = [a for a in seen["artifacts"] if a["type"] == "Model"][0]
    assert model["custom"]["params"] == ["struct", {"lr": 0.1, "tags": ["a", "b"]}]
    assert len(seen["events"]) == n_events
    with pytest.raises(errors.FailedPreconditionError, match="exists already"):
        transfer.export_catalog(dest, home.root)


def test_import_of_a_missing_file_is_one_clear_error(home, tmp_path):
    with pytest.raises(errors.NotFoundError, match="no store at"):
        transfer.import_store(tmp_path / "nope.sqlite", home.root)


def test_the_cli_imports_and_exports(cli, knit_home, tfx_store, tmp_path):  # noqa: F811
    path, _ = tfx_store
    r = cli("metadata", "import", str(path))
    assert r.code == 0 and r.out == "" and r.err_lines[1] == "artifacts: 8 copied, 0 already there", r
    r = cli("metadata", "import", str(path))
    assert r.code == 0 and r.err_lines[1] == "artifacts: 0 copied, 8 already there", r
    dest = tmp_path / "out.sqlite"
    r = cli("metadata", "export", str(dest))
    assert r.code == 0 and dest.exists() and not (tmp_path / ".out.sqlite.partial").exists(), r
    assert json.loads(mlmd_venv.run(READ_BACK, str(dest)))["artifacts"]
    for args, words in ((["export", str(dest)], "exists already"),
                        (["export", str(tmp_path / "no" / "dir.sqlite")], "not a directory"),
                        (["import", str(tmp_path / "missing.sqlite")], "no store at")):
        r = cli("metadata", *args)
        assert r.code == 1 and len(r.err_lines) == 1 and words in r.err and "Traceback" not in r.err, r
