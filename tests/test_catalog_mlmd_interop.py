"""One file, two libraries: the real ml-metadata 1.17.1 opens knit's `catalog.db` and knit reads what it wrote.

The catalog's metadata tables are ml-metadata's own (schema version 10), so ml-metadata sees knit's data
as artifacts (uri, state, tags as custom properties), runs as executions with INPUT/OUTPUT events, plans
as contexts; what ml-metadata writes there (its own types and nodes) knit shows through its metadata
API and `knitctl metadata`, and never takes for knit data. Both sides dump the store the same way
(test_metadata_mlmd_files.DUMP) and must agree value for value.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from test_metadata_mlmd_files import DUMP, knit_dump

from knitctl.metadata import metadata_store
from knitctl.metadata import metadata_store_pb2 as pb

import mlmd_venv
from conftest import PYTHON_IMAGE, require_images, wait_run, wait_until

pytestmark = pytest.mark.slow  # builds ml-metadata's virtualenv on first use

OPEN = r'''
import json, sys
from ml_metadata import metadata_store
from ml_metadata.metadata_store import ListOptions
from ml_metadata.proto import metadata_store_pb2 as pb
c = pb.ConnectionConfig(); c.sqlite.filename_uri = sys.argv[1]
c.sqlite.connection_mode = getattr(pb.SqliteMetadataSourceConfig, sys.argv[2])
store = metadata_store.MetadataStore(c)
'''

# What ml-metadata reads of knit's objects: the dump (less its TFX-specific parts) and a lineage walk.
READ = OPEN + DUMP + r'''
def knit_view(store):
    d = dump(store)
    Q = pb.LineageSubgraphQueryOptions
    start = sys.argv[3]
    g = store.get_lineage_subgraph(Q(starting_artifacts=Q.StartingNodes(filter_query=f"name = '{start}'"),
                                     max_num_hops=20, direction=Q.UPSTREAM))
    d["upstream"] = {"artifacts": sorted(a.name for a in g.artifacts), "executions": sorted(e.name for e in g.executions)}
    return d
print(json.dumps(knit_view(store)))
'''

# ml-metadata records its own pipeline in the knit catalog: a type, an artifact reading a knit datum.
WRITE = OPEN + r'''
knit_data = store.get_artifacts_by_type("knit.Data")
t = pb.ArtifactType(name="Model"); t.properties["layers"] = pb.INT
mt = store.put_artifact_type(t)
xt = store.put_execution_type(pb.ExecutionType(name="Trainer"))
m = pb.Artifact(type_id=mt, uri="/models/" + sys.argv[3], name=sys.argv[3]); m.properties["layers"].int_value = 3
m.custom_properties["note"].string_value = "written by ml-metadata"
[mid] = store.put_artifacts([m])
[xid] = store.put_executions([pb.Execution(type_id=xt, name="train-" + sys.argv[3], last_known_state=pb.Execution.COMPLETE)])
ev = [pb.Event(artifact_id=mid, execution_id=xid, type=pb.Event.OUTPUT)]
if knit_data:
    ev.append(pb.Event(artifact_id=knit_data[0].id, execution_id=xid, type=pb.Event.INPUT))
store.put_events(ev)
print(json.dumps({"model": mid, "execution": xid}))
'''


@pytest.fixture(scope="module")
def mlmd():
    try:
        mlmd_venv.python()
    except mlmd_venv.Unavailable as e:
        pytest.fail(str(e))


def read_by_mlmd(catalog, start: str, mode: str = "READONLY") -> dict:
    return json.loads(mlmd_venv.run(READ, str(catalog), mode, start))


def read_by_knit(home, start: str) -> dict:
    with metadata_store.knit_catalog(home, readonly=True) as store:
        d = knit_dump(store)
        Q = pb.LineageSubgraphQueryOptions
        g = store.get_lineage_subgraph(Q(starting_artifacts=Q.StartingNodes(filter_query=f"name = '{start}'"),
                                         max_num_hops=20, direction=Q.UPSTREAM))
        d["upstream"] = {"artifacts": sorted(a.name for a in g.artifacts), "executions": sorted(e.name for e in g.executions)}
    return json.loads(json.dumps(d))


@pytest.mark.docker
def test_ml_metadata_reads_a_catalog_after_pushes_plans_and_real_runs(mlmd, cli, knit_home, knitd, session, tmp_path,
                                                                       docker_client):
    from pipeline_scripts import apply_chain, push_points

    require_images(docker_client, PYTHON_IMAGE)
    prepare, train, evaluate = apply_chain(session)
    knitd(parallelism=2)
    upload = push_points(cli, tmp_path)
    runs = wait_until(lambda: [r for r in session.catalog.query("SELECT run_id FROM run WHERE plan_id = ?", (evaluate,))],
                      what="the evaluate run", home=knit_home, timeout=90)
    assert wait_run(knit_home, runs[0][0], timeout=90)["status"] == "done"
    metrics = session.catalog.one("SELECT knit_id FROM data WHERE run_id = ? AND output_path = '/metrics'", (runs[0][0],))[0]

    seen = read_by_mlmd(knit_home / "catalog.db", metrics)
    assert seen == read_by_knit(knit_home, metrics)  # value for value, the same as knit's own API
    arts = {a["name"]: a for a in seen["artifacts"]}
    assert {upload, metrics} <= set(arts)
    assert arts[metrics]["type"] == "knit.Data" and arts[metrics]["state"] == pb.Artifact.LIVE
    assert arts[metrics]["uri"].endswith(metrics)
    assert arts[metrics]["custom"]["kind"] == ["string_value", "metrics"]  # knit's tags, as custom properties
    execs = {e["name"]: e for e in seen["executions"]}
    run_ids = {r[0] for r in session.catalog.query("SELECT run_id FROM run WHERE status = 'done'")}
    assert run_ids <= set(execs) and all(execs[r]["type"] == "knit.Run" and execs[r]["state"] == pb.Execution.COMPLETE
                                         for r in run_ids)
    kinds = {(e[1], e[2]) for e in seen["events"]}
    evaluate_exec = execs[runs[0][0]]["id"]
    assert (evaluate_exec, pb.Event.INPUT) in kinds and (evaluate_exec, pb.Event.OUTPUT) in kinds
    assert {prepare, train, evaluate, "knit#uploaded"} <= {c["name"] for c in seen["contexts"] if c["type"] == "knit.Plan"}
    # lineage: the metrics reach back through evaluate, train and prepare to the push
    assert upload in seen["upstream"]["artifacts"] and runs[0][0] in seen["upstream"]["executions"]
    assert len(seen["upstream"]["executions"]) >= 4  # evaluate, train, prepare, the upload
    conn = sqlite3.connect(knit_home / "catalog.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_ml_metadata_writes_into_the_catalog_and_knit_shows_it_apart_from_its_data(mlmd, cli, knit_home, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    pushed = cli("data", "push", str(src), "-t", "project:demo", "-t", "split:train", "-t", "split:test", "-o", "json")
    assert pushed.code == 0, pushed
    knit_id = pushed.json()[0]["knit_id"]
    wrote = json.loads(mlmd_venv.run(WRITE, str(knit_home / "catalog.db"), "READWRITE", "m1"))

    with metadata_store.knit_catalog(knit_home, readonly=True) as store:
        (model,) = store.get_artifacts_by_type("Model")
        assert (model.id, model.uri, model.properties["layers"].int_value) == (wrote["model"], "/models/m1", 3)
        assert model.custom_properties["note"].string_value == "written by ml-metadata"
        (datum,) = store.get_artifacts_by_type("knit.Data")
        assert datum.custom_properties["split"].string_value == "test\ntrain"  # several values: one per line
        events = store.get_events_by_execution_ids([wrote["execution"]])
        assert {(e.artifact_id, e.type) for e in events} == {(model.id, pb.Event.OUTPUT), (datum.id, pb.Event.INPUT)}
    listed = cli("metadata", "artifacts", "-t", "Model", "-o", "json")
    assert listed.code == 0 and [a["uri"] for a in listed.json()] == ["/models/m1"], listed
    found = cli("data", "find", "-o", "json")  # knit's data are knit's alone
    assert found.code == 0 and [d["knit_id"] for d in found.json()] == [knit_id], found
    # knit keeps working on the file ml-metadata wrote to, and ml-metadata sees knit's later writes
    assert cli("data", "tag", knit_id, "--add", "quality:good").code == 0
    seen = read_by_mlmd(knit_home / "catalog.db", knit_id)
    datum = [a for a in seen["artifacts"] if a["name"] == knit_id][0]
    assert datum["custom"]["quality"] == ["string_value", "good"]
    assert seen == read_by_knit(knit_home, knit_id)


def test_interleaved_writes_from_both_libraries_all_land(mlmd, cli, knit_home, tmp_path):
    ids = []
    for i in range(3):
        src = tmp_path / f"src{i}"
        src.mkdir()
        (src / "f").write_text(str(i))
        r = cli("data", "push", str(src), "-t", f"round:{i}", "-o", "json")
        assert r.code == 0, r
        ids.append(r.json()[0]["knit_id"])
        mlmd_venv.run(WRITE, str(knit_home / "catalog.db"), "READWRITE", f"m{i}")
    seen = read_by_mlmd(knit_home / "catalog.db", ids[-1])
    assert seen == read_by_knit(knit_home, ids[-1])
    assert sorted(a["name"] for a in seen["artifacts"] if a["type"] == "Model") == ["m0", "m1", "m2"]
    assert {a["name"] for a in seen["artifacts"] if a["type"] == "knit.Data"} == set(ids)
    found = cli("data", "find", "-o", "json")
    assert found.code == 0 and sorted(d["knit_id"] for d in found.json()) == sorted(ids)
