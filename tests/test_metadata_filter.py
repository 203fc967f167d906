"""Filter queries: a table of queries with the nodes they must find, and malformed ones with positions."""

from __future__ import annotations

import pytest

from knitctl.metadata import ListOptions, MetadataStore, errors
from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.metadata.filter_query import compile_filter, parse, tokenize

E = pb.Event


def _type(cls, name, **props):
    t = cls(name=name)
    for k, v in props.items():
        t.properties[k] = v
    return t


@pytest.fixture(scope="module")
def world():
    """Datasets d1..d3 feed trainers t1, t2 that make models m1, m2; runs run1/run2 under pipeline 'pipe'."""
    c = pb.ConnectionConfig()
    c.fake_database.SetInParent()
    s = MetadataStore(c)
    ds = s.put_artifact_type(_type(pb.ArtifactType, "Dataset", day=pb.INT, split=pb.STRING))
    mo = s.put_artifact_type(_type(pb.ArtifactType, "Model", version=pb.INT))
    tr = s.put_execution_type(_type(pb.ExecutionType, "Trainer", lr=pb.DOUBLE))
    pi = s.put_context_type(_type(pb.ContextType, "Pipeline", owner=pb.STRING))
    ru = s.put_context_type(_type(pb.ContextType, "Run"))

    d1 = pb.Artifact(type_id=ds, name="d1", uri="/data/1", state=pb.Artifact.LIVE)
    d1.properties["day"].int_value = 1
    d1.properties["split"].string_value = "train"
    d2 = pb.Artifact(type_id=ds, name="d2", uri="/data/2")
    d2.properties["day"].int_value = 2
    d2.properties["split"].string_value = "eval"
    d2.custom_properties["note"].string_value = "x"
    d3 = pb.Artifact(type_id=ds, uri="/DATA/3", state=pb.Artifact.PENDING)
    d3.properties["day"].int_value = 3
    d3.custom_properties["score"].double_value = 0.9
    d3.custom_properties["my prop"].bool_value = True
    m1 = pb.Artifact(type_id=mo, name="m1", uri="gs://m/1", external_id="model-1")
    m1.properties["version"].int_value = 1
    m2 = pb.Artifact(type_id=mo, name="m2", uri="gs://m/2")
    m2.custom_properties["tag"].string_value = "best"
    ids = dict(zip(["d1", "d2", "d3", "m1", "m2"], s.put_artifacts([d1, d2, d3, m1, m2])))

    t1 = pb.Execution(type_id=tr, name="t1", last_known_state=pb.Execution.COMPLETE)
    t1.properties["lr"].double_value = 0.1
    t2 = pb.Execution(type_id=tr, name="t2", last_known_state=pb.Execution.FAILED)
    ids.update(zip(["t1", "t2"], s.put_executions([t1, t2])))
    s.put_events([
        E(artifact_id=ids["d1"], execution_id=ids["t1"], type=E.INPUT),
        E(artifact_id=ids["d2"], execution_id=ids["t1"], type=E.DECLARED_INPUT),
        E(artifact_id=ids["m1"], execution_id=ids["t1"], type=E.OUTPUT),
        E(artifact_id=ids["d3"], execution_id=ids["t2"], type=E.INPUT),
        E(artifact_id=ids["m2"], execution_id=ids["t2"], type=E.PENDING_OUTPUT),
    ])
    pipe = pb.Context(type_id=pi, name="pipe")
    pipe.properties["owner"].string_value = "ann"
    ids.update(zip(["pipe", "run1", "run2"], s.put_contexts([
        pipe, pb.Context(type_id=ru, name="run1"), pb.Context(type_id=ru, name="run2")])))
    s.put_parent_contexts([pb.ParentContext(child_id=ids["run1"], parent_id=ids["pipe"]),
                           pb.ParentContext(child_id=ids["run2"], parent_id=ids["pipe"])])
    att = [("d1", "run1"), ("d2", "run1"), ("m1", "run1"), ("m1", "run2"), ("d3", "run2"), ("m2", "run2")]
    s.put_attributions_and_associations(
        [pb.Attribution(artifact_id=ids[a], context_id=ids[c]) for a, c in att],
        [pb.Association(execution_id=ids["t1"], context_id=ids["run1"]),
         pb.Association(execution_id=ids["t2"], context_id=ids["run2"])],
    )
    return s, ids


TABLE = [
    # attributes
    ("artifacts", "uri LIKE '/data/%'", ["d1", "d2", "d3"]),  # LIKE is ASCII case-insensitive, as in MLMD/SQLite
    ("artifacts", "uri IN ('/data/1', 'gs://m/2')", ["d1", "m2"]),
    ("artifacts", "uri NOT IN ('/data/1', 'gs://m/2')", ["d2", "d3", "m1"]),
    ("artifacts", "type = 'Model'", ["m1", "m2"]),
    ("artifacts", "name IS NULL", ["d3"]),
    ("artifacts", "external_id = 'model-1'", ["m1"]),
    ("artifacts", "state = LIVE", ["d1"]),
    ("artifacts", "state != LIVE", ["d2", "d3", "m1", "m2"]),  # unset states are not LIVE
    ("artifacts", "state IN (PENDING, LIVE)", ["d1", "d3"]),
    ("artifacts", "id > 0 AND NOT type = 'Dataset'", ["m1", "m2"]),
    ("artifacts", "create_time_since_epoch > 0 and last_update_time_since_epoch > 0 and type_id > 0",
     ["d1", "d2", "d3", "m1", "m2"]),
    ("artifacts", "name = \"d1\" or name = 'd2'", ["d1", "d2"]),
    ("artifacts", "name = 'x'' OR 1=1 --'", []),  # values are parameters, never SQL
    # properties
    ("artifacts", "properties.day.int_value >= 2", ["d2", "d3"]),
    ("artifacts", "properties.day.int_value = 1 OR properties.version.int_value = 1", ["d1", "m1"]),
    ("artifacts", "properties.split.string_value = 'eval' OR custom_properties.tag.string_value = 'best'", ["d2", "m2"]),
    ("artifacts", "properties.split.string_value IS NULL AND type = 'Dataset'", ["d3"]),
    ("artifacts", "NOT (properties.day.int_value < 3)", ["d3"]),
    ("artifacts", "custom_properties.score.double_value > 0.5", ["d3"]),
    ("artifacts", "custom_properties.`my prop`.bool_value = TRUE", ["d3"]),
    ("artifacts", "properties.day.int_value > 1.5", ["d2", "d3"]),
    # contexts and events
    ("artifacts", "contexts_r.name = 'run1'", ["d1", "d2", "m1"]),
    ("artifacts", "contexts_r.name = 'run1' AND contexts_s.name = 'run2'", ["m1"]),
    ("artifacts", "contexts_r.name = 'run1' AND contexts_r.name = 'run2'", []),  # one alias, one context
    ("artifacts", "contexts_r.name = 'run2' OR uri = '/data/1'", ["d1", "d3", "m1", "m2"]),
    ("artifacts", "contexts_r.type = 'Run' AND contexts_r.name LIKE '%2'", ["d3", "m1", "m2"]),
    ("artifacts", "events_e.type = OUTPUT", ["m1"]),
    ("artifacts", "events_e.type IN (OUTPUT, PENDING_OUTPUT)", ["m1", "m2"]),
    ("artifacts", "events_e.execution_id = {t1}", ["d1", "d2", "m1"]),
    ("artifacts", "events_e.type = INPUT AND contexts_r.name = 'run2'", ["d3"]),
    ("artifacts", "events_e.type = OUTPUT OR name = 'd2'", ["d2", "m1"]),
    ("executions", "last_known_state = FAILED", ["t2"]),
    ("executions", "properties.lr.double_value = 0.1", ["t1"]),
    ("executions", "events_e.type = PENDING_OUTPUT", ["t2"]),
    ("executions", "events_e.artifact_id = {d2}", ["t1"]),
    ("executions", "contexts_c.name = 'run1'", ["t1"]),
    ("executions", "name LIKE 't%' AND NOT name = 't2'", ["t1"]),
    ("contexts", "parent_contexts_p.name = 'pipe'", ["run1", "run2"]),
    ("contexts", "child_contexts_c.name = 'run2'", ["pipe"]),
    ("contexts", "parent_contexts_p.name = 'pipe' OR child_contexts_c.name = 'run2'", ["pipe", "run1", "run2"]),
    ("contexts", "type = 'Run' AND name != 'run1'", ["run2"]),
    ("contexts", "properties.owner.string_value = 'ann'", ["pipe"]),
]


KIND_NAMES = {"artifacts": ("d1", "d2", "d3", "m1", "m2"), "executions": ("t1", "t2"),
              "contexts": ("pipe", "run1", "run2")}


@pytest.mark.parametrize("kind,query,expected", TABLE, ids=[q for _, q, _ in TABLE])
def test_filter_table(world, kind, query, expected):
    store, ids = world
    names = {ids[n]: n for n in KIND_NAMES[kind]}  # ids are per kind
    q = query.format(**ids)
    found = getattr(store, f"get_{kind}")(ListOptions(filter_query=q))
    assert sorted(names[n.id] for n in found) == sorted(expected)


def test_filter_combines_with_limit_order_and_context_listing(world):
    store, ids = world
    got = store.get_artifacts(ListOptions(filter_query="type = 'Dataset'", limit=2, is_asc=False))
    assert [n.id for n in got] == [ids["d3"], ids["d2"]]
    got = store.get_artifacts_by_context(ids["run2"], ListOptions(filter_query="type = 'Model'"))
    assert [n.id for n in got] == [ids["m1"], ids["m2"]]


MALFORMED = [
    # (query, line, column, words in the message)
    ("uri = ", 1, 7, "expected a name or a value"),
    ("uri == 'a'", 1, 5, "single '='"),
    ("foo = 1", 1, 1, "unknown name 'foo'"),
    ("uri = 'a' AND (", 1, 16, "expected a name or a value"),
    ("(uri = 'a'", 1, 11, "to close the '('"),
    ("id = 1)", 1, 7, "without its '('"),
    ("uri = 'a' uri", 1, 11, "missing AND or OR"),
    ("id = '1'", 1, 4, "cannot compare an integer with text"),
    ("uri LIKE 3", 1, 10, "LIKE matches text"),
    ("state = BOGUS", 1, 9, "BOGUS is not a value"),
    ("state = 2", 1, 9, "value name"),
    ("properties.a = 1", 1, 1, "properties take the form"),
    ("properties.a.foo_value = 1", 1, 1, "unknown value field 'foo_value'"),
    ("contexts_a.uri = 'x'", 1, 1, "has no attribute 'uri'"),
    ("parent_contexts_a.name = 'x'", 1, 1, "cannot be used when listing artifacts"),
    ("uri = 'abc", 1, 7, "unterminated string"),
    ("id IN ()", 1, 8, "expected a name or a value"),
    ("name IS 3", 1, 9, "expected NULL"),
    ("uri = 'a' AND\n  id = ", 2, 8, "expected a name or a value"),
    ("uri ! 'a'", 1, 5, "did you mean '!='"),
    ("", 1, 1, "empty"),
]


@pytest.mark.parametrize("query,line,column,words", MALFORMED, ids=[m[0] or "<empty>" for m in MALFORMED])
def test_malformed_queries_name_the_position(world, query, line, column, words):
    store, _ = world
    with pytest.raises(errors.InvalidArgumentError) as err:
        if query:
            store.get_artifacts(ListOptions(filter_query=query))
        else:  # through the store an empty filter_query means no filter
            compile_filter(query, "artifact")
    e = err.value
    assert (e.line, e.column) == (line, column), str(e)
    assert f"line {line}, column {column}" in e.message and words in e.message
    assert "\n" not in e.message  # one line, for the CLI
    assert e.snippet.splitlines()[-1].index("^") == e.position  # a caret under the spot, for humans


def test_parser_builds_a_tree_with_precedence():
    tree = parse("a = 1 OR b = 2 AND NOT c = 3")
    assert type(tree).__name__ == "BoolOp" and tree.op == "OR"
    assert type(tree.items[1]).__name__ == "BoolOp" and tree.items[1].op == "AND"
    assert type(tree.items[1].items[1]).__name__ == "Not"
    kinds = [t.kind for t in tokenize("x.`a b`.int_value >= -1.5e3 AND y <> 'q'")]
    assert kinds == ["IDENT", ".", "IDENT", ".", "IDENT", "OP", "NUMBER", "KEYWORD", "IDENT", "OP", "STRING", "EOF"]


def test_compiled_sql_is_parameterised():
    c = compile_filter("properties.day.int_value = 1 OR uri = 'x''; DROP TABLE artifact; --'", "artifact")
    assert "DROP" not in c.joins + c.where
    assert "x'; DROP TABLE artifact; --" in c.all_params
