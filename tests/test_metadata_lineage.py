"""get_lineage_subgraph: directions, hops, ending nodes, field masks, errors, and one query per walk."""

from __future__ import annotations

import pytest

from knitctl.metadata import MetadataStore, errors
from knitctl.metadata import metadata_store_pb2 as pb

E = pb.Event
Q = pb.LineageSubgraphQueryOptions


@pytest.fixture(scope="module")
def graph():
    """a0 -e0-> a1 -e1-> a2 -e2-> a3, and a side branch a1 -e3-> a4; a3 and e2 are in context 'c'.

    e1 reads a1 as DECLARED_INPUT; the others use INPUT / OUTPUT.
    """
    c = pb.ConnectionConfig()
    c.fake_database.SetInParent()
    s = MetadataStore(c)
    at = s.put_artifact_type(pb.ArtifactType(name="A"))
    et = s.put_execution_type(pb.ExecutionType(name="X"))
    ct = s.put_context_type(pb.ContextType(name="C"))
    a = s.put_artifacts([pb.Artifact(type_id=at, name=f"a{i}") for i in range(5)])
    x = s.put_executions([pb.Execution(type_id=et, name=f"e{i}") for i in range(4)])
    edges = [(0, 0, E.INPUT), (1, 0, E.OUTPUT), (1, 1, E.DECLARED_INPUT), (2, 1, E.OUTPUT), (2, 2, E.INPUT),
             (3, 2, E.OUTPUT), (1, 3, E.INPUT), (4, 3, E.OUTPUT)]
    s.put_events([E(artifact_id=a[i], execution_id=x[j], type=t) for i, j, t in edges])
    [cid] = s.put_contexts([pb.Context(type_id=ct, name="c")])
    s.put_attributions_and_associations([pb.Attribution(artifact_id=a[3], context_id=cid)],
                                        [pb.Association(execution_id=x[2], context_id=cid)])
    return s, a, x, cid


def walk(store, start, hops=None, direction=None, execution=False, **kw):
    q = Q(**kw)
    start_nodes = q.starting_executions if execution else q.starting_artifacts
    start_nodes.filter_query = f"id = {start}"
    if hops is not None:
        q.max_num_hops = hops
    if direction is not None:
        q.direction = direction
    return store.get_lineage_subgraph(q)


def names(g):
    return sorted(n.name for n in g.artifacts), sorted(n.name for n in g.executions)


@pytest.mark.parametrize("hops,arts,exes", [
    (0, ["a3"], []),
    (1, ["a3"], ["e2"]),
    (2, ["a2", "a3"], ["e2"]),
    (3, ["a2", "a3"], ["e1", "e2"]),
    (6, ["a0", "a1", "a2", "a3"], ["e0", "e1", "e2"]),
])
def test_upstream_by_hops(graph, hops, arts, exes):
    s, a, x, _ = graph
    assert names(walk(s, a[3], hops, Q.UPSTREAM)) == (arts, exes)


def test_directions(graph):
    s, a, x, _ = graph
    assert names(walk(s, a[3], 6, Q.DOWNSTREAM)) == (["a3"], [])
    assert names(walk(s, a[1], 6, Q.DOWNSTREAM)) == (["a1", "a2", "a3", "a4"], ["e1", "e2", "e3"])
    assert names(walk(s, a[1], 2, Q.BIDIRECTIONAL)) == (["a0", "a1", "a2", "a4"], ["e0", "e1", "e3"])
    both = walk(s, a[3], 10)  # direction unspecified: both ways; max_num_hops unset: 100
    assert names(walk(s, a[3])) == names(both) == (["a0", "a1", "a2", "a3", "a4"], ["e0", "e1", "e2", "e3"])
    assert names(walk(s, x[1], 10, Q.UPSTREAM, execution=True)) == (["a0", "a1"], ["e0", "e1"])


def test_ending_nodes(graph):
    s, a, x, _ = graph
    stop = Q.EndingNodes(filter_query="name = 'a1'")
    assert names(walk(s, a[3], 10, Q.UPSTREAM, ending_artifacts=stop)) == (["a2", "a3"], ["e1", "e2"])
    stop.include_ending_nodes = True
    g = walk(s, a[3], 10, Q.UPSTREAM, ending_artifacts=stop)
    assert names(g) == (["a1", "a2", "a3"], ["e1", "e2"])
    assert (a[1], x[1]) in {(e.artifact_id, e.execution_id) for e in g.events}
    g = walk(s, a[3], 10, Q.UPSTREAM, ending_executions=Q.EndingNodes(filter_query="name = 'e1'"))
    assert names(g) == (["a2", "a3"], ["e2"])
    # a starting node that matches the ending filter is still walked from
    assert names(walk(s, a[3], 2, Q.UPSTREAM, ending_artifacts=Q.EndingNodes(filter_query="name = 'a3'"))) == (
        ["a2", "a3"], ["e2"])


def test_graph_contents_events_contexts_types(graph):
    s, a, x, cid = graph
    g = walk(s, a[3], 2, Q.UPSTREAM)
    assert sorted((e.artifact_id, e.execution_id, e.type) for e in g.events) == [
        (a[2], x[2], E.INPUT), (a[3], x[2], E.OUTPUT)]
    assert [c.id for c in g.contexts] == [cid]
    assert [(t.artifact_id, t.context_id) for t in g.attributions] == [(a[3], cid)]
    assert [(t.execution_id, t.context_id) for t in g.associations] == [(x[2], cid)]
    assert [t.name for t in g.artifact_types] == ["A"] and [t.name for t in g.execution_types] == ["X"]
    assert [t.name for t in g.context_types] == ["C"]
    assert g.artifacts[0].type == "A"
    only = s.get_lineage_subgraph(Q(starting_artifacts=Q.StartingNodes(filter_query=f"id = {a[3]}"),
                                    max_num_hops=2, direction=Q.UPSTREAM), field_mask_paths=["artifacts", "events"])
    assert len(only.artifacts) == 2 and len(only.events) == 2
    assert only.executions == [] and only.contexts == [] and only.artifact_types == []


def test_starting_filter_can_match_many(graph):
    s, a, x, _ = graph
    g = s.get_lineage_subgraph(Q(starting_artifacts=Q.StartingNodes(filter_query="name IN ('a3', 'a4')"),
                                 max_num_hops=1, direction=Q.UPSTREAM))
    assert names(g) == (["a3", "a4"], ["e2", "e3"])


def test_errors(graph):
    s, a, _, _ = graph
    with pytest.raises(errors.InvalidArgumentError, match="starting nodes"):
        s.get_lineage_subgraph(Q(max_num_hops=1))
    with pytest.raises(errors.InvalidArgumentError, match="filter_query is empty"):
        s.get_lineage_subgraph(Q(starting_artifacts=Q.StartingNodes(), max_num_hops=1))
    with pytest.raises(errors.InvalidArgumentError, match="negative"):
        walk(s, a[0], -1)
    with pytest.raises(errors.NotFoundError, match="no artifacts match"):
        walk(s, 999, 1)
    with pytest.raises(errors.InvalidArgumentError, match="unknown name"):
        s.get_lineage_subgraph(Q(starting_artifacts=Q.StartingNodes(filter_query="bogus = 1")))
    with pytest.raises(errors.InvalidArgumentError, match="field_mask_paths"):
        s.get_lineage_subgraph(Q(starting_artifacts=Q.StartingNodes(filter_query="id = 1")), field_mask_paths=["nodes"])
    with pytest.raises(errors.InvalidArgumentError, match="LineageSubgraphQueryOptions"):
        s.get_lineage_subgraph({"max_num_hops": 1})


def test_one_query_walks_the_whole_chain():
    """The walk is one recursive query: the statements issued do not grow with the hops."""
    c = pb.ConnectionConfig()
    c.fake_database.SetInParent()
    s = MetadataStore(c)
    at = s.put_artifact_type(pb.ArtifactType(name="A"))
    et = s.put_execution_type(pb.ExecutionType(name="X"))
    [prev] = s.put_artifacts([pb.Artifact(type_id=at)])
    prev_msg = s.get_artifacts_by_id([prev])[0]
    for _ in range(40):
        _, [_, out], _ = s.put_execution(pb.Execution(type_id=et), [(prev_msg, E(type=E.INPUT)),
                                                                   (pb.Artifact(type_id=at), E(type=E.OUTPUT))], [])
        prev_msg = s.get_artifacts_by_id([out])[0]
    statements = []
    s._conn.set_trace_callback(statements.append)
    counts = {}
    for hops in (4, 80):
        statements.clear()
        g = walk(s, prev_msg.id, hops, Q.UPSTREAM)
        counts[hops] = (len(statements), len(g.artifacts), len(g.executions))
    s._conn.set_trace_callback(None)
    assert counts[80][1:] == (41, 40) and counts[4][1:] == (3, 2)
    assert counts[80][0] == counts[4][0] <= 10
    assert sum("WITH RECURSIVE" in q for q in statements) == 1
