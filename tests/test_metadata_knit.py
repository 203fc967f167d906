"""The knit view: knit's uploads, runs and plans through the ML Metadata API, and `knitctl metadata`."""

from __future__ import annotations

import pytest

from knitctl.catalog import Catalog, mlmd, now_ms
from knitctl.catalog.records import UPLOAD_PATH, UPLOAD_PLAN, ensure_upload_plan, insert_datum, insert_run
from knitctl.home import Home
from knitctl.metadata import errors, metadata_store
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.tags import Tag

from conftest import run_cli

Q = pb.LineageSubgraphQueryOptions
E = pb.Event


def add_plan(conn, plan_id: str) -> None:
    """A bare plan row (the plan module makes real ones): its knit.Plan context and one input and output."""
    t = now_ms()
    ctx = conn.execute(
        "INSERT INTO Context(type_id, name, create_time_since_epoch, last_update_time_since_epoch) VALUES (?, ?, ?, ?)",
        (mlmd.type_id(conn, mlmd.CONTEXT_TYPE, mlmd.PLAN_TYPE), plan_id, t, t),
    ).lastrowid
    conn.execute(
        "INSERT INTO plan(plan_id, context_id, hash, image, spec, active, created_ms) VALUES (?, ?, ?, ?, '{}', 1, ?)",
        (plan_id, ctx, f"hash-{plan_id}", "busybox:1", t),
    )


@pytest.fixture
def knit(tmp_path):
    """An upload (datum U) and a run of plan 'train' that read U at /in and wrote datum M at /out."""
    home = Home.resolve(tmp_path / "home")
    home.ensure()
    cat = Catalog(home.catalog)
    with cat.write() as c:
        ensure_upload_plan(c)
        up_run = insert_run(c, UPLOAD_PLAN, "done")
        upload = insert_datum(c, up_run, UPLOAD_PATH, [Tag("project", "mnist")], uri=str(home.data / "u"))
        add_plan(c, "train")
        run = insert_run(c, "train", "done", assignment={"/in": upload})
        model = insert_datum(c, run, "/out", [Tag("type", "model")], uri=str(home.data / "m"))
    cat.close()
    return home, {"upload": upload, "up_run": up_run, "run": run, "model": model}


def test_knit_objects_are_mlmd_nodes(knit):
    home, ids = knit
    with metadata_store.knit_catalog(home.root) as store:
        assert {"knit.Data"} <= {t.name for t in store.get_artifact_types()}
        assert {"knit.Run"} <= {t.name for t in store.get_execution_types()}
        assert {"knit.Plan"} <= {t.name for t in store.get_context_types()}
        data = {a.name: a for a in store.get_artifacts_by_type("knit.Data")}
        assert set(data) == {ids["upload"], ids["model"]}
        assert data[ids["model"]].uri.endswith("/m") and data[ids["model"]].state == pb.Artifact.LIVE
        run = store.get_execution_by_type_and_name("knit.Run", ids["run"])
        assert run.last_known_state == pb.Execution.COMPLETE
        assert [c.name for c in store.get_contexts_by_execution(run.id)] == ["train"]
        events = store.get_events_by_execution_ids([run.id])
        assert sorted((e.type, e.path.steps[0].key) for e in events) == [(E.INPUT, "/in"), (E.OUTPUT, "/out")]
        done = store.get_executions(metadata_store.ListOptions(
            filter_query="type = 'knit.Run' AND last_known_state = COMPLETE AND contexts_p.name = 'train'"))
        assert [x.name for x in done] == [ids["run"]]


def test_lineage_from_a_run_output_reaches_its_upload(knit):
    home, ids = knit
    with metadata_store.knit_catalog(home.root, readonly=True) as store:
        g = store.get_lineage_subgraph(Q(
            starting_artifacts=Q.StartingNodes(filter_query=f"name = '{ids['model']}'"), direction=Q.UPSTREAM))
        assert sorted(a.name for a in g.artifacts) == sorted([ids["upload"], ids["model"]])
        assert sorted(x.name for x in g.executions) == sorted([ids["run"], ids["up_run"]])
        assert sorted(c.name for c in g.contexts) == sorted(["train", UPLOAD_PLAN])
        upload = next(a for a in g.artifacts if a.name == ids["upload"])
        up_run = next(x for x in g.executions if x.name == ids["up_run"])
        assert any(e.artifact_id == upload.id and e.execution_id == up_run.id and e.type == E.OUTPUT for e in g.events)


def test_a_script_records_its_own_nodes_beside_knits(knit):
    home, ids = knit
    with metadata_store.knit_catalog(home.root) as store:
        model = store.get_artifact_by_type_and_name("knit.Data", ids["model"])
        et = store.put_execution_type(pb.ExecutionType(name="Evaluator"))
        at = store.put_artifact_type(pb.ArtifactType(name="Metrics"))
        ct = store.put_context_type(pb.ContextType(name="Experiment"))
        xid, [_, mid], [cid] = store.put_execution(
            pb.Execution(type_id=et, last_known_state=pb.Execution.COMPLETE),
            [(model, E(type=E.INPUT)), (pb.Artifact(type_id=at, uri="/tmp/metrics.json"), E(type=E.OUTPUT))],
            [pb.Context(type_id=ct, name="exp")],
        )
        # knit's datum now belongs to the user's experiment too, unchanged
        assert [c.name for c in store.get_contexts_by_artifact(model.id)] == ["exp"]
        assert store.get_artifacts_by_id([model.id])[0] == model
        down = store.get_lineage_subgraph(Q(
            starting_artifacts=Q.StartingNodes(filter_query=f"name = '{ids['upload']}'"), direction=Q.DOWNSTREAM))
        assert {a.id for a in down.artifacts} >= {mid, model.id} and xid in {x.id for x in down.executions}
        # knit's own rows stay knit's
        changed = store.get_artifacts_by_id([model.id])[0]
        changed.uri = "/elsewhere"
        with pytest.raises(errors.PermissionDeniedError, match="belong to knit"):
            store.put_artifacts([changed])
        data_type = store.get_artifact_type("knit.Data")
        with pytest.raises(errors.PermissionDeniedError):
            store.put_artifacts([pb.Artifact(type_id=data_type.id, uri="/fake")])
        run = store.get_execution_by_type_and_name("knit.Run", ids["run"])
        with pytest.raises(errors.PermissionDeniedError):
            store.put_events([E(artifact_id=mid, execution_id=run.id, type=E.OUTPUT)])
        plan = store.get_context_by_type_and_name("knit.Plan", "train")
        with pytest.raises(errors.PermissionDeniedError):
            store.put_attributions_and_associations([], [pb.Association(execution_id=xid, context_id=plan.id)])
        with pytest.raises(errors.PermissionDeniedError):
            store.put_artifact_type(pb.ArtifactType(name="knit.Data", properties={"x": pb.INT}), can_add_fields=True)
        assert store.put_artifact_type(pb.ArtifactType(name="knit.Data")) == data_type.id  # unchanged: fine
    assert cid


def test_knit_catalog_config_and_missing_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("KNIT_HOME", str(tmp_path / "h"))
    c = pb.ConnectionConfig()
    c.knit.readonly = True
    with pytest.raises(errors.NotFoundError, match="knitctl init"):
        metadata_store.MetadataStore(c)
    c.knit.readonly = False
    with metadata_store.MetadataStore(c) as store:  # KNIT_HOME, created
        assert store.get_artifacts() == []
    assert (tmp_path / "h" / "catalog.db").exists()


def test_cli_lists_and_traces(knit):
    home, ids = knit
    r = run_cli(["metadata", "lineage", ids["model"], "-o", "json"], home=home.root)
    assert r.code == 0, r
    g = r.json()
    assert sorted(a["name"] for a in g["artifacts"]) == sorted([ids["upload"], ids["model"]])
    assert {e["type"] for e in g["events"]} == {"INPUT", "OUTPUT"}
    r = run_cli(["metadata", "lineage", ids["model"], "-o", "dot"], home=home.root)
    assert r.code == 0 and r.out.startswith("digraph lineage {") and "-> a" in r.out
    r = run_cli(["metadata", "artifacts", "--filter", "type = 'knit.Data' AND uri LIKE '%/u'", "-o", "json"], home=home.root)
    assert r.code == 0, r
    assert [a["name"] for a in r.json()] == [ids["upload"]]
    r = run_cli(["metadata", "types", "-k", "context"], home=home.root)
    assert r.code == 0 and "knit.Plan" in r.out
    r = run_cli(["metadata", "executions", "--filter", "last_known_state = DONE"], home=home.root)
    assert r.code == 1 and len(r.err_lines) == 1, r
    assert "column 20" in r.err and "DONE is not a value" in r.err
