"""knitctl.metadata reads and writes a store the real ml-metadata 1.17.1 wrote, and ml-metadata sees the writes.

ml-metadata (in its own virtualenv, see mlmd_venv) writes a TFX-shaped store: types with properties
and base types, a pipeline context whose three runs are child contexts, ExampleGen → Trainer →
Evaluator executions per run with event paths, attributions and associations, custom properties
of every value kind. Then both libraries read everything back through the same dump function (one
source text, run against each library's API) and the dumps must be equal.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from knitctl.metadata import errors
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.metadata.metadata_store import MetadataStore

import mlmd_venv

# Runs with either library's `metadata_store_pb2` as `pb`; `dump(store)` is a plain, comparable dict.
DUMP = r'''
def plain(x):
    if hasattr(x, "keys"):  # a Struct or a dict (protobuf's ListValue has items() but no keys())
        return {k: plain(x[k]) for k in sorted(x.keys())}
    if hasattr(x, "__len__") and not isinstance(x, (str, bytes)):  # a list or a ListValue
        return [plain(x[i]) for i in range(len(x))]
    return x


def value(v):
    which = v.WhichOneof("value")
    if which == "struct_value":
        return ["struct", plain(v.struct_value)]
    if which == "proto_value":
        return ["proto", v.proto_value.type_url, v.proto_value.value.hex()]
    return [which, getattr(v, which)] if which else None


def props(m):
    return {k: value(v) for k, v in sorted(m.items())}


def node(n, kind):
    d = {"id": n.id, "type_id": n.type_id, "type": n.type, "name": n.name, "external_id": n.external_id,
         "create": n.create_time_since_epoch, "update": n.last_update_time_since_epoch,
         "properties": props(n.properties), "custom": props(n.custom_properties)}
    if kind == "artifact":
        d.update(uri=n.uri, state=int(n.state))
    if kind == "execution":
        d.update(state=int(n.last_known_state))
    return d


def typ(t):
    d = {"id": t.id, "name": t.name, "version": t.version, "description": t.description,
         "external_id": t.external_id, "properties": {k: int(v) for k, v in sorted(t.properties.items())}}
    if hasattr(t, "base_type"):
        d["base_type"] = int(t.base_type)
    return d


def lineage(store):
    Q = pb.LineageSubgraphQueryOptions
    q = Q(starting_artifacts=Q.StartingNodes(filter_query="uri = '/pipelines/taxi/2/model'"), max_num_hops=2)
    g = store.get_lineage_subgraph(q)
    return {"artifacts": sorted(a.id for a in g.artifacts), "executions": sorted(e.id for e in g.executions),
            "events": sorted([e.artifact_id, e.execution_id, int(e.type)] for e in g.events)}


def dump(store):
    arts, execs, ctxs = store.get_artifacts(), store.get_executions(), store.get_contexts()
    events = store.get_events_by_execution_ids([e.id for e in execs])
    return {
        "artifact_types": [typ(t) for t in store.get_artifact_types()],
        "execution_types": [typ(t) for t in store.get_execution_types()],
        "context_types": [typ(t) for t in store.get_context_types()],
        "artifacts": [node(a, "artifact") for a in arts],
        "executions": [node(e, "execution") for e in execs],
        "contexts": [node(c, "context") for c in ctxs],
        "events": sorted([[e.artifact_id, e.execution_id, int(e.type), e.milliseconds_since_epoch,
                           [["index", s.index] if s.WhichOneof("value") == "index" else ["key", s.key]
                            for s in e.path.steps]] for e in events]),
        "parents": {c.id: sorted(p.id for p in store.get_parent_contexts_by_context(c.id)) for c in ctxs},
        "children": {c.id: sorted(p.id for p in store.get_children_contexts_by_context(c.id)) for c in ctxs},
        "attributions": {c.id: sorted(a.id for a in store.get_artifacts_by_context(c.id)) for c in ctxs},
        "associations": {c.id: sorted(e.id for e in store.get_executions_by_context(c.id)) for c in ctxs},
        "by_type_and_name": node(store.get_artifact_by_type_and_name("Examples", "run-2-examples", type_version="1.0"),
                                 "artifact") if any(a["name"] == "run-2-examples" for a in [{"name": x.name} for x in arts]) else None,
        "lineage": lineage(store) if any(a.uri == "/pipelines/taxi/2/model" for a in arts) else None,
        "filtered": sorted(a.id for a in store.get_artifacts(list_options=ListOptions(
            filter_query="type = 'Examples' AND properties.span.int_value >= 2"))),
    }
'''

WRITE = r'''
import json, sys
from ml_metadata import metadata_store
from ml_metadata.metadata_store import ListOptions
from ml_metadata.proto import metadata_store_pb2 as pb

c = pb.ConnectionConfig(); c.sqlite.filename_uri = sys.argv[1]
store = metadata_store.MetadataStore(c)

def atype(name, base=None, **ps):
    t = pb.ArtifactType(name=name, version="1.0", description=f"{name} artifacts")
    if base is not None:
        t.base_type = base
    for k, v in ps.items():
        t.properties[k] = v
    return store.put_artifact_type(t)

examples = atype("Examples", pb.ArtifactType.DATASET, span=pb.INT, split_names=pb.STRING)
model = atype("Model", pb.ArtifactType.MODEL)
evaluation = atype("ModelEvaluation", blessed=pb.BOOLEAN)
xt = {}
for name, ps in (("ExampleGen", {"input_base": pb.STRING}), ("Trainer", {"train_steps": pb.INT, "lr": pb.DOUBLE}),
                 ("Evaluator", {})):
    t = pb.ExecutionType(name=name)
    if name == "Trainer":
        t.base_type = pb.ExecutionType.TRAIN
    for k, v in ps.items():
        t.properties[k] = v
    xt[name] = store.put_execution_type(t)
pipeline_t = store.put_context_type(pb.ContextType(name="pipeline"))
run_t = pb.ContextType(name="pipeline_run"); run_t.properties["run_number"] = pb.INT
run_t = store.put_context_type(run_t)
[pipeline] = store.put_contexts([pb.Context(type_id=pipeline_t, name="taxi", external_id="pipeline-taxi")])
pipeline_ctx = store.get_contexts_by_id([pipeline])[0]

def ev(kind, *steps):
    e = pb.Event(type=kind)
    for s in steps:
        if isinstance(s, int):
            e.path.steps.add().index = s
        else:
            e.path.steps.add().key = s
    return e

for n in (1, 2, 3):
    run = pb.Context(type_id=run_t, name=f"taxi-run-{n}")
    run.properties["run_number"].int_value = n
    run.custom_properties["started_by"].string_value = "scheduler"
    ex = pb.Artifact(type_id=examples, uri=f"/pipelines/taxi/{n}/examples", name=f"run-{n}-examples",
                     state=pb.Artifact.LIVE)
    ex.properties["span"].int_value = n
    ex.properties["split_names"].string_value = '["train", "eval"]'
    ex.custom_properties["rows"].int_value = 1000 * n
    ex.custom_properties["fraction"].double_value = 0.25 * n
    ex.custom_properties["validated"].bool_value = n != 2
    ex.custom_properties["schema"].struct_value.update({"columns": ["a", "b"], "nested": {"k": n, "ok": True}})
    ex.custom_properties["origin"].proto_value.Pack(pb.Artifact(uri=f"gs://raw/{n}"))
    gen = pb.Execution(type_id=xt["ExampleGen"], name=f"run-{n}-examplegen", last_known_state=pb.Execution.COMPLETE)
    gen.properties["input_base"].string_value = "/data/taxi"
    gen_id, [ex_id], _ = store.put_execution(gen, [(ex, ev(pb.Event.OUTPUT, "examples", 0))], [pipeline_ctx, run])
    run_ctx = store.get_context_by_type_and_name("pipeline_run", f"taxi-run-{n}")
    ex = store.get_artifacts_by_id([ex_id])[0]
    m = pb.Artifact(type_id=model, uri=f"/pipelines/taxi/{n}/model", state=pb.Artifact.LIVE if n < 3 else pb.Artifact.PENDING)
    m.custom_properties["framework"].string_value = "tensorflow"
    tr = pb.Execution(type_id=xt["Trainer"], last_known_state=pb.Execution.COMPLETE if n < 3 else pb.Execution.RUNNING)
    tr.properties["train_steps"].int_value = 100 * n
    tr.properties["lr"].double_value = 0.01
    _, [_, m_id], _ = store.put_execution(tr, [(ex, ev(pb.Event.INPUT, "examples", 0)),
                                               (m, ev(pb.Event.OUTPUT, "model"))], [pipeline_ctx, run_ctx])
    if n < 3:
        m = store.get_artifacts_by_id([m_id])[0]
        e = pb.Artifact(type_id=evaluation, uri=f"/pipelines/taxi/{n}/eval")
        e.properties["blessed"].bool_value = n == 1
        store.put_execution(pb.Execution(type_id=xt["Evaluator"], last_known_state=pb.Execution.COMPLETE),
                            [(m, ev(pb.Event.INPUT, "model")), (ex, ev(pb.Event.INPUT, "examples", 1)),
                             (e, ev(pb.Event.OUTPUT, "evaluation"))], [pipeline_ctx, run_ctx])
    store.put_parent_contexts([pb.ParentContext(child_id=run_ctx.id, parent_id=pipeline)])
''' + DUMP + r'''
print(json.dumps(dump(store)))
'''

READ_BACK = r'''
import json, sys
from ml_metadata import metadata_store
from ml_metadata.metadata_store import ListOptions
from ml_metadata.proto import metadata_store_pb2 as pb
c = pb.ConnectionConfig(); c.sqlite.filename_uri = sys.argv[1]
store = metadata_store.MetadataStore(c)
''' + DUMP + r'''
print(json.dumps(dump(store)))
'''


def knit_dump(store) -> dict:
    from knitctl.metadata.metadata_store import ListOptions

    ns = {"pb": pb, "ListOptions": ListOptions}
    exec(DUMP, ns)
    return json.loads(json.dumps(ns["dump"](store)))  # the same JSON round trip as ml-metadata's side


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tfx_store(tmp_path_factory):
    try:
        mlmd_venv.python()
    except mlmd_venv.Unavailable as e:
        pytest.fail(str(e))
    path = tmp_path_factory.mktemp("tfx") / "metadata.sqlite"
    written = json.loads(mlmd_venv.run(WRITE, str(path)))
    return path, written


def config(path: Path, mode: int) -> pb.ConnectionConfig:
    c = pb.ConnectionConfig()
    c.sqlite.filename_uri = str(path)
    c.sqlite.connection_mode = mode
    return c


@pytest.mark.parametrize("mode", [pb.SqliteMetadataSourceConfig.READONLY, pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE],
                         ids=["readonly", "readwrite"])
def test_knit_reads_what_ml_metadata_wrote_value_for_value(tfx_store, mode):
    path, written = tfx_store
    assert len(written["artifacts"]) == 3 + 3 + 2 and len(written["executions"]) == 3 + 3 + 2
    assert written["children"][str(written["contexts"][0]["id"])] == [2, 3, 4]
    assert len(written["lineage"]["artifacts"]) == 3 and len(written["lineage"]["events"]) == 5
    before = sha(path)
    with MetadataStore(config(path, mode)) as store:
        got = knit_dump(store)
    for key in written:
        assert got[key] == written[key], key
    assert sha(path) == before and sorted(p.name for p in path.parent.iterdir()) == [path.name]


MLMD_WRITES_MORE = r'''
import sys
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
c = pb.ConnectionConfig(); c.sqlite.filename_uri = sys.argv[1]
store = metadata_store.MetadataStore(c)
pushed = store.get_artifact_type("PushedModel")
a = pb.Artifact(type_id=pushed.id, uri="/serving/taxi/2", name="pushed-2")
a.properties["destination"].string_value = "prod"
x = store.get_executions_by_type("Pusher")[0]
store.put_execution(x, [(a, pb.Event(type=pb.Event.OUTPUT))], [])
'''


def knit_writes(store) -> None:
    """A user's writes with knit into the store ml-metadata wrote: every kind of write MetadataStore has."""
    t = pb.ArtifactType(name="PushedModel", base_type=pb.ArtifactType.MODEL)
    t.properties["destination"] = pb.STRING
    pushed = store.put_artifact_type(t)
    pusher = store.put_execution_type(pb.ExecutionType(name="Pusher", base_type=pb.ExecutionType.DEPLOY))
    ex = store.get_artifact_type("Examples", type_version="1.0")
    ex.properties["source"] = pb.STRING
    store.put_artifact_type(ex, can_add_fields=True)
    deployments = store.put_context_type(pb.ContextType(name="deployments"))

    model = store.get_artifacts_by_uri("/pipelines/taxi/1/model")[0]
    out = pb.Artifact(type_id=pushed, uri="/serving/taxi/1", name="pushed-1", state=pb.Artifact.LIVE)
    out.properties["destination"].string_value = "staging"
    out.custom_properties["replicas"].int_value = 3
    out.custom_properties["latency"].double_value = 0.02
    out.custom_properties["canary"].bool_value = False
    out.custom_properties["config"].struct_value.update({"regions": ["eu", "us"], "limits": {"qps": 100}})
    out.custom_properties["blob"].proto_value.type_url = "type.googleapis.com/ml_metadata.Artifact"
    out.custom_properties["blob"].proto_value.value = b"\x1a\x03abc"
    x = pb.Execution(type_id=pusher, name="push-1", last_known_state=pb.Execution.COMPLETE)
    into = pb.Event(type=pb.Event.INPUT)
    into.path.steps.add().key = "model"
    into.path.steps.add().index = 0
    taxi = store.get_context_by_type_and_name("pipeline", "taxi")
    store.put_execution(x, [(model, into), (out, pb.Event(type=pb.Event.OUTPUT))],
                        [taxi, pb.Context(type_id=deployments, name="prod")])
    prod = store.get_context_by_type_and_name("deployments", "prod")
    store.put_parent_contexts([pb.ParentContext(child_id=prod.id, parent_id=taxi.id)])
    old = store.get_artifacts_by_uri("/pipelines/taxi/3/examples")[0]
    old.state = pb.Artifact.DELETED
    old.custom_properties["rows"].int_value = 0
    store.put_artifacts([old], field_mask_paths=["state", "custom_properties.rows"])
    whole = store.get_artifacts_by_uri("/pipelines/taxi/2/examples")[0]
    whole.properties["source"].string_value = "bq"
    del whole.custom_properties["validated"]
    store.put_artifacts([whole])
    store.put_attributions_and_associations([pb.Attribution(context_id=prod.id, artifact_id=whole.id)], [])


def test_knit_writes_into_an_ml_metadata_store_and_ml_metadata_sees_them(tfx_store, tmp_path):
    import shutil
    import sqlite3

    path = tmp_path / "shared.sqlite"
    shutil.copyfile(tfx_store[0], path)
    with MetadataStore(config(path, pb.SqliteMetadataSourceConfig.READWRITE)) as store:
        knit_writes(store)
        with pytest.raises(errors.AlreadyExistsError):
            store.put_artifacts([pb.Artifact(type_id=store.get_artifact_type("PushedModel").id, name="pushed-1")])
        with pytest.raises(errors.InvalidArgumentError):
            store.put_events([pb.Event(artifact_id=9999, execution_id=1, type=pb.Event.INPUT)])
        by_knit = knit_dump(store)
    by_mlmd = json.loads(mlmd_venv.run(READ_BACK, str(path)))
    assert by_mlmd == by_knit
    pushed = [a for a in by_mlmd["artifacts"] if a["name"] == "pushed-1"][0]
    assert pushed["custom"]["config"] == ["struct", {"limits": {"qps": 100.0}, "regions": ["eu", "us"]}]
    assert pushed["custom"]["blob"] == ["proto", "type.googleapis.com/ml_metadata.Artifact", "1a03616263"]
    assert [t["base_type"] for t in by_mlmd["artifact_types"] if t["name"] == "PushedModel"] == [2]
    assert [t["base_type"] for t in by_mlmd["execution_types"] if t["name"] == "Pusher"] == [5]
    deleted = [a for a in by_mlmd["artifacts"] if a["uri"] == "/pipelines/taxi/3/examples"][0]
    assert deleted["state"] == pb.Artifact.DELETED and deleted["custom"]["rows"] == ["int_value", 0]

    # and back: ml-metadata writes after knit, knit reads what it wrote
    mlmd_venv.run(MLMD_WRITES_MORE, str(path))
    with MetadataStore(config(path, pb.SqliteMetadataSourceConfig.READONLY)) as store:
        assert knit_dump(store) == json.loads(mlmd_venv.run(READ_BACK, str(path)))
        assert [a.name for a in store.get_artifacts_by_type("PushedModel")] == ["pushed-1", "pushed-2"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # ml-metadata's, not switched to WAL
    conn.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.sqlite"]


def test_a_read_only_open_refuses_writes_and_changes_nothing(tfx_store):
    path, written = tfx_store
    before = sha(path)
    with MetadataStore(config(path, pb.SqliteMetadataSourceConfig.READONLY)) as store:
        with pytest.raises(errors.PermissionDeniedError, match="read-only"):
            store.put_artifact_type(pb.ArtifactType(name="Mine"))
    assert sha(path) == before


def test_an_ml_metadata_store_of_another_schema_version_is_refused(tfx_store, tmp_path):
    import shutil
    import sqlite3

    path = tmp_path / "old.sqlite"
    shutil.copyfile(tfx_store[0], path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE MLMDEnv SET schema_version = 8")
    conn.commit()
    conn.close()
    before = sha(path)
    with pytest.raises(errors.FailedPreconditionError, match="schema version 8; knit reads version 10 .*enable_upgrade_migration"):
        MetadataStore(config(path, pb.SqliteMetadataSourceConfig.READONLY))
    assert sha(path) == before


def test_struct_decoding_rules():
    from knitctl.metadata import mlmd_file

    # google.protobuf.Struct {"a": 1.5, "b": ["x", true], "c": {"d": null}} in wire format, by hand
    def ld(field, payload):  # a length-delimited field
        return bytes([field << 3 | 2, len(payload)]) + payload

    def entry(key, value):
        return ld(1, ld(1, key.encode()) + ld(2, value))

    num = bytes([2 << 3 | 1]) + __import__("struct").pack("<d", 1.5)
    lst = ld(6, ld(1, ld(3, b"x")) + ld(1, bytes([4 << 3, 1])))
    inner = ld(5, entry("d", bytes([1 << 3, 0])))
    data = entry("a", num) + entry("b", lst) + entry("c", inner)
    assert mlmd_file.decode_struct(data) == {"a": 1.5, "b": ["x", True], "c": {"d": None}}
    assert mlmd_file.struct_json("plain text") is None and mlmd_file.plain_string("mlmd-struct::AAAA") is None


def test_knitctl_metadata_lists_an_ml_metadata_store(cli, tfx_store):
    path, written = tfx_store
    r = cli("metadata", "artifacts", "--db", str(path), "-o", "json")
    assert r.code == 0, r
    assert sorted(a["uri"] for a in r.json()) == sorted(a["uri"] for a in written["artifacts"])
    r = cli("metadata", "types", "--db", str(path))
    assert r.code == 0 and {"Examples", "Trainer", "pipeline_run"} <= set(r.out.split()), r


def test_knit_does_not_downgrade_an_ml_metadata_store(tfx_store):
    from knitctl.metadata import downgrade_schema

    path, _ = tfx_store
    before = sha(path)
    with pytest.raises(errors.FailedPreconditionError, match="ml-metadata's own downgrade_schema"):
        downgrade_schema(config(path, pb.SqliteMetadataSourceConfig.READWRITE), 1)
    assert sha(path) == before
