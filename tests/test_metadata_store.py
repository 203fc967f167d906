"""MetadataStore: every method's success path and its documented errors, on each kind of store."""

from __future__ import annotations

import sqlite3
import time

import pytest

from knitctl.catalog import Catalog
from knitctl.catalog.schema import LATEST
from knitctl.metadata import (
    ListOptions,
    MetadataStore,
    OrderByField,
    downgrade_schema,
    errors,
    metadata_store,
)
from knitctl.metadata import (
    metadata_store_pb2 as pb,
)

E = pb.Event


def fake_config() -> pb.ConnectionConfig:
    c = pb.ConnectionConfig()
    c.fake_database.SetInParent()
    return c


def sqlite_config(path, mode=pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE) -> pb.ConnectionConfig:
    c = pb.ConnectionConfig()
    c.sqlite.filename_uri = str(path)
    c.sqlite.connection_mode = mode
    return c


@pytest.fixture
def store():
    s = MetadataStore(fake_config())
    yield s
    s.close()


def data_type(name="DataSet", **props):
    t = pb.ArtifactType(name=name)
    for k, v in (props or {"day": pb.INT, "split": pb.STRING}).items():
        t.properties[k] = v
    return t


def artifact(type_id, uri=None, name=None, **props):
    a = pb.Artifact(type_id=type_id)
    if uri is not None:
        a.uri = uri
    if name is not None:
        a.name = name
    for k, v in props.items():
        if isinstance(v, bool):
            a.properties[k].bool_value = v
        elif isinstance(v, int):
            a.properties[k].int_value = v
        elif isinstance(v, float):
            a.properties[k].double_value = v
        else:
            a.properties[k].string_value = v
    return a


@pytest.fixture
def typed(store):
    """A store with an artifact, an execution and a context type."""
    at = store.put_artifact_type(data_type())
    et = pb.ExecutionType(name="Trainer")
    et.properties["state"] = pb.STRING
    xt = store.put_execution_type(et)
    ct = pb.ContextType(name="Experiment")
    ct.properties["note"] = pb.STRING
    cx = store.put_context_type(ct)
    return store, at, xt, cx


# -- connections -----------------------------------------------------------------------------


def test_sqlite_file_modes(tmp_path):
    path = tmp_path / "m.db"
    with pytest.raises(errors.NotFoundError, match="does not create"):
        MetadataStore(sqlite_config(path, pb.SqliteMetadataSourceConfig.READWRITE))
    with pytest.raises(errors.NotFoundError):
        MetadataStore(sqlite_config(path, pb.SqliteMetadataSourceConfig.READONLY))
    with MetadataStore(sqlite_config(path)) as s:  # READWRITE_OPENCREATE creates it
        tid = s.put_artifact_type(data_type())
        s.put_artifacts([artifact(tid, "u")])
    with MetadataStore(sqlite_config(path, pb.SqliteMetadataSourceConfig.READWRITE)) as s:
        assert [a.uri for a in s.get_artifacts()] == ["u"]
    with MetadataStore(sqlite_config(path, pb.SqliteMetadataSourceConfig.READONLY)) as s:
        assert [a.uri for a in s.get_artifacts()] == ["u"]
        with pytest.raises(errors.PermissionDeniedError, match="read-only"):
            s.put_artifacts([artifact(tid, "v")])
    assert Catalog(path).version == LATEST  # every store is a migrated catalog


def test_config_errors():
    with pytest.raises(errors.InvalidArgumentError, match="names no database"):
        MetadataStore(pb.ConnectionConfig())
    with pytest.raises(RuntimeError):  # what ml-metadata raises for it
        MetadataStore(pb.ConnectionConfig())
    c = pb.ConnectionConfig()
    c.mysql.host = "db"
    with pytest.raises(errors.UnimplementedError, match="SQLite"):
        MetadataStore(c)


def test_empty_sqlite_filename_is_a_fresh_in_memory_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = pb.ConnectionConfig()
    c.sqlite.SetInParent()  # ml-metadata's own tests open their stores this way
    a, b = MetadataStore(c), MetadataStore(c)
    a.put_artifact_type(data_type())
    assert [t.name for t in a.get_artifact_types()] == ["DataSet"] and b.get_artifact_types() == []
    assert list(tmp_path.iterdir()) == []  # no file written anywhere


def test_retry_options_are_kept_as_in_ml_metadata():
    assert MetadataStore(fake_config())._max_num_retries == 5
    c = fake_config()
    c.retry_options.max_num_retries = 100
    assert MetadataStore(c)._max_num_retries == 100


def test_fake_databases_are_separate():
    a, b = MetadataStore(fake_config()), MetadataStore(fake_config())
    a.put_artifact_type(data_type())
    assert [t.name for t in a.get_artifact_types()] == ["DataSet"] and b.get_artifact_types() == []


def test_errors_module_matches_mlmd_codes():
    assert errors.NotFoundError("x").error_code == errors.NOT_FOUND == 5
    assert errors.AlreadyExistsError("x").error_code == 6
    assert isinstance(errors.make_exception("boom", errors.INVALID_ARGUMENT), errors.InvalidArgumentError)
    assert errors.exception_type_from_error_code(9) is errors.FailedPreconditionError
    assert isinstance(errors.make_exception("?", 99), errors.StatusError)


# -- types -------------------------------------------------------------------------------------


def test_put_type_creates_reads_and_is_idempotent(store):
    tid = store.put_artifact_type(data_type())
    assert store.put_artifact_type(data_type()) == tid
    got = store.get_artifact_type("DataSet")
    assert got.id == tid and dict(got.properties) == {"day": pb.INT, "split": pb.STRING}
    assert [t.id for t in store.get_artifact_types_by_id([tid, 999])] == [tid]
    # the same name is a different type in another kind
    xid = store.put_execution_type(pb.ExecutionType(name="DataSet"))
    assert xid != tid and store.get_artifact_types_by_id([xid]) == []
    assert [t.id for t in store.get_execution_types_by_id([xid])] == [xid]
    # versions are separate types; an empty version is no version
    vid = store.put_artifact_type(pb.ArtifactType(name="DataSet", version="2"))
    assert vid != tid and store.get_artifact_type("DataSet", "2").version == "2"
    assert store.put_artifact_type(data_type()) == tid


def test_put_type_evolution_rules(store):
    tid = store.put_artifact_type(data_type(day=pb.INT))
    more = data_type(day=pb.INT, split=pb.STRING)
    with pytest.raises(errors.AlreadyExistsError, match="can_add_fields"):
        store.put_artifact_type(more)
    assert store.put_artifact_type(more, can_add_fields=True) == tid
    fewer = data_type(day=pb.INT)
    with pytest.raises(errors.AlreadyExistsError, match="can_omit_fields"):
        store.put_artifact_type(fewer)
    assert store.put_artifact_type(fewer, can_omit_fields=True) == tid
    assert set(store.get_artifact_type("DataSet").properties) == {"day", "split"}  # omitted ones stay
    with pytest.raises(errors.AlreadyExistsError, match="cannot change"):
        store.put_artifact_type(data_type(day=pb.STRING, split=pb.STRING), can_add_fields=True, can_omit_fields=True)
    with pytest.raises(errors.InvalidArgumentError, match="no name"):
        store.put_artifact_type(pb.ArtifactType())
    bad = pb.ArtifactType(name="Bad")
    bad.properties["p"] = pb.UNKNOWN
    with pytest.raises(errors.InvalidArgumentError, match="UNKNOWN"):
        store.put_artifact_type(bad)
    with pytest.raises(errors.InvalidArgumentError, match="has id"):
        store.put_artifact_type(pb.ArtifactType(id=tid + 100, name="DataSet"), can_omit_fields=True)


def test_type_getters_and_external_ids(store):
    with pytest.raises(errors.NotFoundError, match="no artifact type named 'nope'"):
        store.get_artifact_type("nope")
    with pytest.raises(errors.NotFoundError):
        store.get_execution_type("nope")
    with pytest.raises(errors.NotFoundError):
        store.get_context_type("nope", "v1")
    a = store.put_artifact_type(pb.ArtifactType(name="A", external_id="ext-a", description="d"))
    x = store.put_execution_type(pb.ExecutionType(name="X", external_id="ext-x", base_type=pb.ExecutionType.TRAIN))
    c = store.put_context_type(pb.ContextType(name="C", external_id="ext-c"))
    assert [t.id for t in store.get_artifact_types_by_external_ids(["ext-a", "none"])] == [a]
    assert [t.id for t in store.get_execution_types_by_external_ids(["ext-x"])] == [x]
    assert [t.id for t in store.get_context_types_by_external_ids(["ext-c"])] == [c]
    assert store.get_artifact_types_by_external_ids(["none"]) == []
    assert store.get_execution_type("X").base_type == pb.ExecutionType.TRAIN
    assert store.get_artifact_type("A").description == "d"
    assert [t.name for t in store.get_execution_types()] == ["X"]
    assert [t.name for t in store.get_context_types()] == ["C"]
    assert [t.id for t in store.get_context_types_by_id([c])] == [c]
    with pytest.raises(errors.AlreadyExistsError, match="external_id"):
        store.put_context_type(pb.ContextType(name="D", external_id="ext-a"))


# -- nodes -------------------------------------------------------------------------------------


def test_put_and_get_artifacts(typed):
    store, at, _, _ = typed
    a1 = artifact(at, "/d/1", name="one", day=1, split="train")
    a1.custom_properties["score"].double_value = 0.5
    a1.custom_properties["ok"].bool_value = True
    a1.custom_properties["meta"].struct_value.update({"k": [1, 2]})
    a1.state = pb.Artifact.LIVE
    ids = store.put_artifacts([a1, artifact(at, "/d/2", day=2), artifact(at, "/d/1")])
    assert len(ids) == 3 and ids == sorted(ids)
    [got] = store.get_artifacts_by_id([ids[0]])
    assert (got.uri, got.name, got.type, got.state) == ("/d/1", "one", "DataSet", pb.Artifact.LIVE)
    assert got.properties["day"].int_value == 1 and got.custom_properties["score"].double_value == 0.5
    assert got.custom_properties["ok"].bool_value is True
    assert got.custom_properties["meta"].struct_value["k"] == [1.0, 2.0]
    assert got.create_time_since_epoch > 0 and got.last_update_time_since_epoch >= got.create_time_since_epoch
    assert [a.id for a in store.get_artifacts_by_uri("/d/1")] == [ids[0], ids[2]]
    assert [a.id for a in store.get_artifacts_by_type("DataSet")] == ids
    assert store.get_artifacts_by_type("Nope") == []
    assert store.get_artifact_by_type_and_name("DataSet", "one").id == ids[0]
    assert store.get_artifact_by_type_and_name("DataSet", "two") is None
    assert store.get_artifacts_by_id([]) == [] and store.get_artifacts_by_id([999]) == []
    arts, types = store.get_artifacts_and_types_by_artifact_ids([ids[1], 999])
    assert [a.id for a in arts] == [ids[1]] and [t.name for t in types] == ["DataSet"]


def test_put_artifacts_errors(typed):
    store, at, xt, _ = typed
    store.put_artifacts([artifact(at, name="n")])
    with pytest.raises(errors.AlreadyExistsError, match="named 'n'"):
        store.put_artifacts([artifact(at, name="n")])
    with pytest.raises(errors.InvalidArgumentError, match="no type_id"):
        store.put_artifacts([pb.Artifact(uri="x")])
    with pytest.raises(errors.NotFoundError, match="no artifact type with id"):
        store.put_artifacts([pb.Artifact(type_id=999)])
    with pytest.raises(errors.NotFoundError):
        store.put_artifacts([pb.Artifact(type_id=xt)])  # an execution type
    with pytest.raises(errors.InvalidArgumentError, match="not declared"):
        store.put_artifacts([artifact(at, zz=1)])
    with pytest.raises(errors.InvalidArgumentError, match="Found unmatched property type: day: .* declared INT"):
        store.put_artifacts([artifact(at, day="one")])
    with pytest.raises(errors.InvalidArgumentError, match="no artifact with id 999"):
        store.put_artifacts([pb.Artifact(id=999, type_id=at)])
    e1 = pb.Artifact(type_id=at, external_id="e")
    with pytest.raises(errors.AlreadyExistsError, match="external_id"):
        store.put_artifacts([e1, pb.Artifact(type_id=at, external_id="e")])
    # the failed call changed nothing: one transaction per call
    assert store.get_artifacts_by_external_ids(["e"]) == []
    assert len(store.get_artifacts()) == 1


def test_update_whole_and_masked(typed):
    store, at, _, _ = typed
    [aid] = store.put_artifacts([artifact(at, "/u", name="n", day=1, split="a")])
    stored = store.get_artifacts_by_id([aid])[0]
    assert store.put_artifacts([stored]) == [aid]  # unchanged: update time stays
    assert store.get_artifacts_by_id([aid])[0].last_update_time_since_epoch == stored.last_update_time_since_epoch
    partial = pb.Artifact(id=aid)
    partial.properties["day"].int_value = 5
    partial.uri = "/v"
    store.put_artifacts([partial], field_mask_paths=["properties.day"])
    got = store.get_artifacts_by_id([aid])[0]
    assert (got.uri, got.name, got.properties["day"].int_value, got.properties["split"].string_value) == ("/u", "n", 5, "a")
    store.put_artifacts([partial], field_mask_paths=["uri", "properties.split"])  # split absent: removed
    got = store.get_artifacts_by_id([aid])[0]
    assert got.uri == "/v" and "split" not in got.properties and got.properties["day"].int_value == 5
    store.put_artifacts([partial])  # no mask: the whole artifact is replaced
    got = store.get_artifacts_by_id([aid])[0]
    assert got.name == "" and not got.HasField("name") and dict(got.properties).keys() == {"day"}
    with pytest.raises(errors.InvalidArgumentError, match="cannot change"):
        store.put_artifacts([pb.Artifact(id=aid, type_id=at + 100)])
    # as in ml-metadata, mask entries that name no field are skipped (code written for it passes them)
    before = store.get_artifacts_by_id([aid])[0]
    assert store.put_artifacts([pb.Artifact(id=aid, uri="/w")], field_mask_paths=["bogus", "", "properties."]) == [aid]
    after = store.get_artifacts_by_id([aid])[0]
    assert (after.uri, dict(after.properties).keys()) == (before.uri, dict(before.properties).keys())


def test_executions_and_contexts(typed):
    store, at, xt, cx = typed
    x = pb.Execution(type_id=xt, name="run-1", last_known_state=pb.Execution.RUNNING, external_id="x1")
    x.properties["state"].string_value = "RUNNING"
    [xid] = store.put_executions([x])
    assert store.get_execution_by_type_and_name("Trainer", "run-1").id == xid
    assert [e.id for e in store.get_executions_by_type("Trainer")] == [xid]
    assert [e.id for e in store.get_executions_by_external_ids(["x1"])] == [xid]
    x.id = xid
    x.last_known_state = pb.Execution.COMPLETE
    store.put_executions([x], field_mask_paths=["last_known_state"])
    assert store.get_executions_by_id([xid])[0].last_known_state == pb.Execution.COMPLETE
    with pytest.raises(errors.AlreadyExistsError):
        store.put_executions([pb.Execution(type_id=xt, name="run-1")])

    with pytest.raises(errors.InvalidArgumentError, match="non-empty name"):
        store.put_contexts([pb.Context(type_id=cx)])
    c = pb.Context(type_id=cx, name="exp", external_id="c1")
    c.properties["note"].string_value = "first"
    [cid] = store.put_contexts([c])
    with pytest.raises(errors.AlreadyExistsError, match="named 'exp'"):
        store.put_contexts([pb.Context(type_id=cx, name="exp")])
    assert store.get_context_by_type_and_name("Experiment", "exp").properties["note"].string_value == "first"
    assert [c.id for c in store.get_contexts_by_type("Experiment")] == [cid]
    assert [c.id for c in store.get_contexts_by_external_ids(["c1"])] == [cid]
    assert [c.id for c in store.get_contexts()] == [cid]


# -- edges -------------------------------------------------------------------------------------


def test_events(typed):
    store, at, xt, _ = typed
    a, b = store.put_artifacts([artifact(at), artifact(at)])
    [x] = store.put_executions([pb.Execution(type_id=xt)])
    ev = E(artifact_id=a, execution_id=x, type=E.INPUT, milliseconds_since_epoch=123)
    ev.path.steps.add().key = "examples"
    ev.path.steps.add().index = 2
    store.put_events([ev, E(artifact_id=b, execution_id=x, type=E.OUTPUT)])
    got = store.get_events_by_execution_ids([x])
    assert [(e.artifact_id, e.type) for e in got] == [(a, E.INPUT), (b, E.OUTPUT)]
    assert got[0].milliseconds_since_epoch == 123 and got[1].milliseconds_since_epoch > 0
    assert [(s.WhichOneof("value"), getattr(s, s.WhichOneof("value"))) for s in got[0].path.steps] == [
        ("key", "examples"), ("index", 2)]
    assert [e.execution_id for e in store.get_events_by_artifact_ids([b])] == [x]
    assert store.get_events_by_artifact_ids([]) == []
    with pytest.raises(errors.AlreadyExistsError, match="INPUT event"):
        store.put_events([E(artifact_id=a, execution_id=x, type=E.INPUT)])
    with pytest.raises(errors.InvalidArgumentError, match="no artifact with id 999"):
        store.put_events([E(artifact_id=999, execution_id=x, type=E.INPUT)])
    with pytest.raises(errors.InvalidArgumentError, match="no execution with id 999"):
        store.put_events([E(artifact_id=a, execution_id=999, type=E.INPUT)])
    with pytest.raises(errors.InvalidArgumentError, match="no type"):
        store.put_events([E(artifact_id=a, execution_id=x)])
    with pytest.raises(errors.InvalidArgumentError, match="no artifact_id"):
        store.put_events([E(execution_id=x, type=E.INPUT)])
    with pytest.raises(errors.InvalidArgumentError, match="no execution_id"):
        store.put_events([E(artifact_id=a, type=E.INPUT)])


def test_attributions_associations_and_context_reads(typed):
    store, at, xt, cx = typed
    a, b = store.put_artifacts([artifact(at), artifact(at)])
    [x] = store.put_executions([pb.Execution(type_id=xt)])
    c1, c2 = store.put_contexts([pb.Context(type_id=cx, name="c1"), pb.Context(type_id=cx, name="c2")])
    store.put_attributions_and_associations(
        [pb.Attribution(artifact_id=a, context_id=c1), pb.Attribution(artifact_id=b, context_id=c1)],
        [pb.Association(execution_id=x, context_id=c1)],
    )
    store.put_attributions_and_associations([pb.Attribution(artifact_id=a, context_id=c1)], [])  # again: no-op
    assert [n.id for n in store.get_artifacts_by_context(c1)] == [a, b]
    assert [n.id for n in store.get_artifacts_by_context(c1, ListOptions(limit=1, is_asc=False,
                                                                            order_by=OrderByField.ID))] == [b]
    assert [n.id for n in store.get_executions_by_context(c1)] == [x]
    assert store.get_artifacts_by_context(999) == [] and store.get_executions_by_context(c2) == []
    assert [c.id for c in store.get_contexts_by_artifact(a)] == [c1]
    assert [c.id for c in store.get_contexts_by_execution(x)] == [c1]
    [c2_only] = store.put_artifacts([artifact(at)])
    assert store.get_contexts_by_artifact(c2_only) == []  # in no context: [] (ML Metadata raises NotFoundError)
    with pytest.raises(errors.NotFoundError, match="no artifact with id 999"):
        store.get_contexts_by_artifact(999)
    with pytest.raises(errors.NotFoundError, match="no execution with id 999"):
        store.get_contexts_by_execution(999)
    with pytest.raises(errors.InvalidArgumentError, match="no artifact with id 999"):
        store.put_attributions_and_associations([pb.Attribution(artifact_id=999, context_id=c1)], [])
    with pytest.raises(errors.InvalidArgumentError, match="no context with id 999"):
        store.put_attributions_and_associations([], [pb.Association(execution_id=x, context_id=999)])


def test_parent_contexts(typed):
    store, _, _, cx = typed
    p, c, g = store.put_contexts([pb.Context(type_id=cx, name=n) for n in ("p", "c", "g")])
    store.put_parent_contexts([pb.ParentContext(child_id=c, parent_id=p), pb.ParentContext(child_id=g, parent_id=c)])
    assert [x.id for x in store.get_parent_contexts_by_context(c)] == [p]
    assert [x.id for x in store.get_children_contexts_by_context(c)] == [g]
    assert store.get_parent_contexts_by_context(999) == [] and store.get_children_contexts_by_context(g) == []
    with pytest.raises(errors.AlreadyExistsError, match="already a parent"):
        store.put_parent_contexts([pb.ParentContext(child_id=c, parent_id=p)])
    with pytest.raises(errors.InvalidArgumentError, match="cycle"):
        store.put_parent_contexts([pb.ParentContext(child_id=p, parent_id=g)])
    with pytest.raises(errors.InvalidArgumentError, match="its own parent"):
        store.put_parent_contexts([pb.ParentContext(child_id=p, parent_id=p)])
    with pytest.raises(errors.InvalidArgumentError, match="no context with id 999"):
        store.put_parent_contexts([pb.ParentContext(child_id=p, parent_id=999)])


# -- atomic writes ------------------------------------------------------------------------------


def test_put_execution(typed):
    store, at, xt, cx = typed
    x = pb.Execution(type_id=xt, last_known_state=pb.Execution.RUNNING)
    data = artifact(at, "/in", day=1)
    model = artifact(at, "/out", day=2)
    ctx = pb.Context(type_id=cx, name="exp")
    xid, (ain, aout), [cid] = store.put_execution(x, [(data, E(type=E.INPUT)), (model, E(type=E.OUTPUT))], [ctx])
    assert [(e.artifact_id, e.type) for e in store.get_events_by_execution_ids([xid])] == [(ain, E.INPUT), (aout, E.OUTPUT)]
    assert [a.id for a in store.get_artifacts_by_context(cid)] == [ain, aout]
    assert [e.id for e in store.get_executions_by_context(cid)] == [xid]
    # the same context name again: AlreadyExists, unless reused
    with pytest.raises(errors.AlreadyExistsError):
        store.put_execution(pb.Execution(type_id=xt), [], [pb.Context(type_id=cx, name="exp")])
    x2, _, [c2] = store.put_execution(pb.Execution(type_id=xt), [], [pb.Context(type_id=cx, name="exp")],
                                      reuse_context_if_already_exist=True)
    assert c2 == cid and [e.id for e in store.get_executions_by_context(cid)] == [xid, x2]
    # pairs without events, and an update of the execution with an existing artifact
    x3, [a3], [] = store.put_execution(pb.Execution(type_id=xt), [(artifact(at),)], None)
    assert store.get_events_by_execution_ids([x3]) == []
    stored_in = store.get_artifacts_by_id([ain])[0]
    upd = pb.Execution(id=xid, type_id=xt, last_known_state=pb.Execution.COMPLETE)
    assert store.put_execution(upd, [(stored_in, E(type=E.DECLARED_INPUT))], [])[:2] == (xid, [ain])
    assert store.get_executions_by_id([xid])[0].last_known_state == pb.Execution.COMPLETE
    # mismatched ids
    with pytest.raises(errors.InvalidArgumentError, match="does not match its artifact"):
        store.put_execution(pb.Execution(type_id=xt), [(stored_in, E(type=E.INPUT, artifact_id=aout))], [])
    with pytest.raises(errors.InvalidArgumentError, match="execution_id"):
        store.put_execution(pb.Execution(type_id=xt), [(stored_in, E(type=E.INPUT, execution_id=xid))], [])
    with pytest.raises(errors.AlreadyExistsError, match="event"):
        store.put_execution(pb.Execution(id=xid), [(stored_in, E(type=E.INPUT))], [])
    # reuse by external id
    ext = artifact(at, "/e")
    ext.external_id = "ext"
    _, [e1], _ = store.put_execution(pb.Execution(type_id=xt), [(ext, E(type=E.OUTPUT))], [])
    ext.uri = "/e2"
    with pytest.raises(errors.AlreadyExistsError, match="external_id"):
        store.put_execution(pb.Execution(type_id=xt), [(ext, E(type=E.OUTPUT))], [])
    _, [e2], _ = store.put_execution(pb.Execution(type_id=xt), [(ext, E(type=E.OUTPUT))], [],
                                     reuse_artifact_if_already_exist_by_external_id=True)
    assert e1 == e2 and store.get_artifacts_by_id([e1])[0].uri == "/e2"
    # a failure rolls the whole call back
    before = len(store.get_executions())
    with pytest.raises(errors.InvalidArgumentError):
        store.put_execution(pb.Execution(type_id=xt), [(artifact(at), E(type=E.OUTPUT)), (artifact(at, zz=1), None)], [])
    assert len(store.get_executions()) == before


def test_put_execution_force_update_time_and_force_reuse_context(typed):
    store, at, xt, cx = typed
    [cid] = store.put_contexts([pb.Context(type_id=cx, name="c")])
    xid, _, _ = store.put_execution(pb.Execution(type_id=xt), [], [])
    before = store.get_executions_by_id([xid])[0]
    ctx = pb.Context(id=cid, type_id=cx)  # no name: would fail as an update
    with pytest.raises(errors.InvalidArgumentError, match="non-empty name"):
        store.put_execution(before, [], [ctx])
    _, _, [c] = store.put_execution(before, [], [ctx], force_reuse_context=True, force_update_time=True)
    assert c == cid and store.get_contexts_by_id([cid])[0].name == "c"
    after = store.get_executions_by_id([xid])[0]
    assert after.last_update_time_since_epoch >= before.last_update_time_since_epoch


def test_put_lineage_subgraph(typed):
    store, at, xt, cx = typed
    x_ids, a_ids, c_ids = store.put_lineage_subgraph(
        [pb.Execution(type_id=xt)], [artifact(at, "/in"), artifact(at, "/out")], [pb.Context(type_id=cx, name="g")],
        [(0, 0, E(type=E.INPUT)), (0, 1, E(type=E.OUTPUT))],
    )
    assert len(x_ids) == 1 and len(a_ids) == 2 and len(c_ids) == 1
    assert [(e.artifact_id, e.type) for e in store.get_events_by_execution_ids(x_ids)] == [
        (a_ids[0], E.INPUT), (a_ids[1], E.OUTPUT)]
    assert [a.id for a in store.get_artifacts_by_context(c_ids[0])] == a_ids
    assert [x.id for x in store.get_executions_by_context(c_ids[0])] == x_ids
    # edges by ids instead of indexes
    [extra] = store.put_artifacts([artifact(at)])
    store.put_lineage_subgraph([], [], [], [(None, None, E(type=E.INPUT, artifact_id=extra, execution_id=x_ids[0]))])
    assert len(store.get_events_by_execution_ids(x_ids)) == 3
    with pytest.raises(errors.OutOfRangeError, match="artifact_index 5"):
        store.put_lineage_subgraph([pb.Execution(type_id=xt)], [artifact(at)], [], [(0, 5, E(type=E.INPUT))])
    with pytest.raises(errors.InvalidArgumentError, match="neither"):
        store.put_lineage_subgraph([], [artifact(at)], [], [(None, 0, E(type=E.INPUT))])
    with pytest.raises(errors.InvalidArgumentError, match="does not match executions"):
        store.put_lineage_subgraph([pb.Execution(type_id=xt)], [], [], [(0, None, E(type=E.OUTPUT, artifact_id=extra,
                                                                                     execution_id=x_ids[0]))])
    with pytest.raises(errors.AlreadyExistsError):
        store.put_lineage_subgraph([], [], [pb.Context(type_id=cx, name="g")], [])
    assert store.put_lineage_subgraph([], [], [pb.Context(type_id=cx, name="g")], [],
                                      reuse_context_if_already_exist=True)[2] == c_ids


# -- listings --------------------------------------------------------------------------------------


def test_list_options_limit_order_and_pages(typed):
    store, at, _, _ = typed
    ids = store.put_artifacts([artifact(at, f"/{i}", day=i) for i in range(25)])
    assert [a.id for a in store.get_artifacts(ListOptions(limit=3))] == ids[:3]
    assert [a.id for a in store.get_artifacts(ListOptions(limit=3, is_asc=False))] == ids[::-1][:3]
    by_ct = store.get_artifacts(ListOptions(order_by=OrderByField.CREATE_TIME, is_asc=False))
    assert [a.create_time_since_epoch for a in by_ct] == sorted((a.create_time_since_epoch for a in by_ct), reverse=True)
    # touch one: it moves to the end of an update-time listing
    first = store.get_artifacts_by_id([ids[0]])[0]
    latest = max(a.last_update_time_since_epoch for a in store.get_artifacts())
    while int(time.time() * 1000) <= latest:  # times are milliseconds: let the clock pass the last write
        pass
    first.uri = "/changed"
    store.put_artifacts([first])
    assert store.get_artifacts(ListOptions(order_by=OrderByField.UPDATE_TIME, is_asc=False, limit=1))[0].id == ids[0]
    with pytest.raises(errors.InvalidArgumentError, match="limit"):
        store.get_artifacts(ListOptions(limit=0))
    # keyset pages: every artifact once, in order, whatever is written meanwhile
    seen, token = [], None
    opts = ListOptions(limit=10, filter_query="properties.day.int_value >= 5")
    while True:
        opts.next_page_token = token
        page, token = store.get_artifacts_page(opts)
        seen += [a.id for a in page]
        if token is None:
            break
        store.put_artifacts([artifact(at, "/late", day=100)])  # lands after the cursor: seen later
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert seen[:20] == ids[5:] and all(store.get_artifacts_by_id([i])[0].properties["day"].int_value >= 5 for i in seen)
    with pytest.raises(errors.InvalidArgumentError, match="different listing"):
        store.get_artifacts_page(ListOptions(limit=10, next_page_token=store.get_artifacts_page(ListOptions(limit=1))[1],
                                             filter_query="id > 0"))
    with pytest.raises(errors.InvalidArgumentError, match="not a token"):
        store.get_executions_page(ListOptions(next_page_token="garbage!"))
    assert store.get_contexts_page(ListOptions()) == ([], None)


def test_writes_are_one_transaction_per_call_and_errors_map(tmp_path):
    path = tmp_path / "m.db"
    s = MetadataStore(sqlite_config(path))
    tid = s.put_artifact_type(data_type())
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock...
    s._catalog.conn.execute("PRAGMA busy_timeout = 50")  # ...for longer than we wait
    with pytest.raises(errors.AbortedError, match="busy"):
        s.put_artifacts([artifact(tid)])
    holder.rollback()
    holder.close()
    assert s.put_artifacts([artifact(tid)]) == [1]


# -- downgrade ---------------------------------------------------------------------------------------


def test_downgrade_schema(tmp_path):
    path = tmp_path / "m.db"
    MetadataStore(sqlite_config(path)).close()
    with pytest.raises(errors.InvalidArgumentError, match="between 0 and"):
        downgrade_schema(sqlite_config(path), -1)
    with pytest.raises(errors.InvalidArgumentError, match="cannot be downgraded to schema_version"):
        downgrade_schema(sqlite_config(path), LATEST)  # as in ml-metadata: only to an older version
    with MetadataStore(sqlite_config(path)) as s:
        s.put_artifact_type(data_type())
    with pytest.raises(errors.FailedPreconditionError, match="1 type rows that would be lost; downgrade to 1 at most"):
        downgrade_schema(sqlite_config(path), 0)
    downgrade_schema(sqlite_config(path), 1)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'context_property_value'").fetchone() is None
    conn.close()
    with pytest.raises(errors.MigrationDisabledError, match="schema version 1, older .*enable_upgrade_migration=True"):
        MetadataStore(sqlite_config(path))  # as in ml-metadata: an older store is upgraded only when asked
    with MetadataStore(sqlite_config(path), enable_upgrade_migration=True) as s:
        assert [t.name for t in s.get_artifact_types()] == ["DataSet"]
    assert Catalog(path).version == LATEST


def test_an_empty_store_goes_back_to_schema_zero_and_reads_as_old_not_new(tmp_path):
    path = tmp_path / "m.db"
    MetadataStore(sqlite_config(path)).close()
    downgrade_schema(sqlite_config(path), 0)
    conn = sqlite3.connect(path)
    # nothing but SQLite's own (empty) counter table, which outlives the AUTOINCREMENT tables it served
    assert conn.execute("SELECT group_concat(name) FROM sqlite_master").fetchone()[0] == "sqlite_sequence"
    assert conn.execute("SELECT count(*) FROM sqlite_sequence").fetchone()[0] == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    with pytest.raises(RuntimeError, match="schema migration is disabled"):
        MetadataStore(sqlite_config(path))
    with MetadataStore(sqlite_config(path), enable_upgrade_migration=True) as s:
        assert s.get_artifact_types() == []
    fresh = tmp_path / "new.db"
    sqlite3.connect(fresh).execute("VACUUM").connection.close()  # an empty SQLite file of no one: a new store
    MetadataStore(sqlite_config(fresh)).close()


def test_every_migration_after_the_first_has_a_downgrade():
    from knitctl.catalog.schema import DOWNGRADES as _DOWNGRADES

    missing = sorted(set(range(2, LATEST + 1)) - set(_DOWNGRADES))
    assert not missing, f"migrations {missing} need a downgrade in knitctl/metadata/metadata_store.py _DOWNGRADES"


def test_package_exports_like_ml_metadata():
    import knitctl.metadata as mlmd

    assert mlmd.MetadataStore is metadata_store.MetadataStore
    assert mlmd.ListOptions is metadata_store.ListOptions and mlmd.OrderByField.ID.name == "ID"
    assert mlmd.downgrade_schema is metadata_store.downgrade_schema
    assert mlmd.errors.NotFoundError is errors.NotFoundError
    assert mlmd.proto.metadata_store_pb2 is pb


def test_every_property_type_round_trips(store):
    t = pb.ArtifactType(name="All")
    for name, ptype in (("i", pb.INT), ("d", pb.DOUBLE), ("s", pb.STRING), ("st", pb.STRUCT), ("p", pb.PROTO),
                        ("b", pb.BOOLEAN)):
        t.properties[name] = ptype
    tid = store.put_artifact_type(t)
    a = pb.Artifact(type_id=tid)
    a.properties["i"].int_value = -(1 << 62)
    a.properties["d"].double_value = 2.5
    a.properties["s"].string_value = "ünïcode\n\"quoted\""
    a.properties["st"].struct_value.update({"layers": [64, 32], "name": "mlp", "extra": None})
    a.properties["p"].proto_value.type_url = "type.googleapis.com/x.Y"
    a.properties["p"].proto_value.value = b"\x00\x01\xff"
    a.properties["b"].bool_value = False
    [aid] = store.put_artifacts([a])
    [got] = store.get_artifacts_by_id([aid])
    for name in ("i", "d", "s", "st", "p", "b"):
        assert got.properties[name] == a.properties[name], name
    assert store.put_artifacts([got]) == [aid]  # read back, written again: equal, so unchanged
    assert [x.id for x in store.get_artifacts(ListOptions(filter_query="properties.b.bool_value = FALSE"))] == [aid]
    assert store.get_artifacts(ListOptions(filter_query="properties.d.double_value < 2")) == []
    wrong = pb.Artifact(type_id=tid)
    wrong.properties["st"].string_value = "not a struct"
    with pytest.raises(errors.InvalidArgumentError, match="declared STRUCT"):
        store.put_artifacts([wrong])
    empty = pb.Artifact(type_id=tid)
    _ = empty.properties["i"]  # reading a map entry makes it, with no value set
    with pytest.raises(errors.InvalidArgumentError, match="empty"):
        store.put_artifacts([empty])
