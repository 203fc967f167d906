"""Lineage: recursive walks over data and runs, the renderers, `data lineage` and `data show`."""

from __future__ import annotations

import json

import pydot
import pytest

from knitctl import data as data_api
from knitctl import lineage, render
from knitctl import runs as runs_api
from knitctl.catalog import records

from conftest import apply_plan, finish_run, push_datum, runs_of

# pydot's parser still calls pyparsing's old camelCase names
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated - use:DeprecationWarning")


def walk(session, knit_id, *, up=True, down=True, depth=None):
    return lineage.walk(session, "data", knit_id, up=up, down=down, depth=depth)


def out_of(session, run_id, path="/out") -> str:
    return session.catalog.one("SELECT knit_id FROM data WHERE run_id = ? AND output_path = ?", (run_id, path))[0]


def make_chain(session, length: int, key: str = "s"):
    """upload d0 (s:0) → run r1 of plan 1 → d1 (s:1) → ... → d<length>; every run done.

    Plan 1 also has a log. Returns (data ids, run ids): data[0] is the upload, runs[0] its upload run.
    """
    plans = []
    for i in range(length):
        log = ["type:log"] if i == 0 else None
        plans.append(apply_plan(session, {"/in": [f"{key}:{i}"]}, {"/out": [f"{key}:{i + 1}"]}, log=log).plan)
    d0 = push_datum(session, f"{key}:0")
    data, runs = [d0.knit_id], [d0.run_id]
    for plan in plans:
        (run_id, _, _), = runs_of(session, plan.plan_id)
        finish_run(session, run_id)
        runs.append(run_id)
        data.append(out_of(session, run_id))
    return data, runs


@pytest.fixture
def chain(session):
    return make_chain(session, 2)


def node_ids(g) -> set[tuple[str, str]]:
    return set(g.nodes)


def edge_pairs(g) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    return {(a, b) for a, b, _ in g.edges}


# -- walking --------------------------------------------------------------------------------------


def test_upstream_of_the_end_of_a_chain_reaches_the_upload(session, chain):
    (d0, d1, d2), (u0, r1, r2) = chain
    g = walk(session, d2, down=False)
    assert node_ids(g) == {("data", d2), ("run", r2), ("data", d1), ("run", r1), ("data", d0), ("run", u0)}
    assert edge_pairs(g) == {
        (("run", r2), ("data", d2)), (("data", d1), ("run", r2)), (("run", r1), ("data", d1)),
        (("data", d0), ("run", r1)), (("run", u0), ("data", d0)),
    }
    assert g.nodes[("run", u0)]["plan_id"] == records.UPLOAD_PLAN


def test_edges_are_labelled_with_mount_paths(session, chain):
    (d0, d1, d2), (u0, r1, r2) = chain
    labels = {(a, b): p for a, b, p in walk(session, d2, down=False).edges}
    assert labels[(("run", u0), ("data", d0))] == "/upload"
    assert labels[(("data", d0), ("run", r1))] == "/in"
    assert labels[(("run", r1), ("data", d1))] == "/out"


def test_downstream_of_an_upload_reaches_every_output(session, chain):
    (d0, d1, d2), (u0, r1, r2) = chain
    log1 = out_of(session, r1, "log")
    g = walk(session, d0, up=False)
    assert node_ids(g) == {("data", d0), ("run", r1), ("data", d1), ("data", log1), ("run", r2), ("data", d2)}
    assert edge_pairs(g) == {
        (("data", d0), ("run", r1)), (("run", r1), ("data", d1)), (("run", r1), ("data", log1)),
        (("data", d1), ("run", r2)), (("run", r2), ("data", d2)),
    }


def test_both_directions_by_default(session, chain):
    (d0, d1, d2), (u0, r1, r2) = chain
    g = walk(session, d1)
    assert node_ids(g) == {("data", d1), ("run", r1), ("data", d0), ("run", u0), ("run", r2), ("data", d2)}
    assert len(g.edges) == 5


@pytest.mark.parametrize(
    "depth, runs_seen", [(0, []), (1, ["r2"]), (2, ["r2", "r1"]), (3, ["r2", "r1", "u0"]), (None, ["r2", "r1", "u0"])]
)
def test_depth_counts_runs(session, chain, depth, runs_seen):
    (d0, d1, d2), (u0, r1, r2) = chain
    names = {"u0": u0, "r1": r1, "r2": r2}
    g = walk(session, d2, down=False, depth=depth)
    assert {i for k, i in g.nodes if k == "run"} == {names[r] for r in runs_seen}
    # a run's inputs come with it
    expected_data = {d2} | ({d1} if depth is None or depth >= 1 else set()) | ({d0} if depth is None or depth >= 2 else set())
    assert {i for k, i in g.nodes if k == "data"} == expected_data


def test_depth_downstream(session, chain):
    (d0, d1, d2), (u0, r1, r2) = chain
    g = walk(session, d0, up=False, depth=1)
    assert {i for k, i in g.nodes if k == "run"} == {r1}
    assert ("data", d1) in g.nodes and ("data", d2) not in g.nodes


def test_a_datum_with_nothing_downstream(session, chain):
    (d0, d1, d2), _ = chain
    g = walk(session, d2, up=False)
    assert node_ids(g) == {("data", d2)} and g.edges == set()


def test_invalidated_runs_are_left_out_downstream(session, chain):
    (d0, d1, d2), (u0, r1, r2) = chain
    runs_api.rm(session, r2)
    g = walk(session, d1, up=False)
    assert node_ids(g) == {("data", d1)}


def test_a_diamond_is_walked_once_per_node(session):
    a = apply_plan(session, {"/in": ["s:0"]}, {"/out": ["s:x"]}).plan
    b = apply_plan(session, {"/in": ["s:0"]}, {"/out": ["s:y"]}).plan
    c = apply_plan(session, {"/in/x": ["s:x"], "/in/y": ["s:y"]}, {"/out": ["s:z"]}).plan
    d0 = push_datum(session, "s:0")
    for p in (a, b):
        finish_run(session, runs_of(session, p.plan_id)[0][0])
    (rc, _, _), = runs_of(session, c.plan_id)
    g = walk(session, d0.knit_id, up=False)
    assert len([n for n in g.nodes if n[0] == "run"]) == 3
    assert (("data", out_of(session, runs_of(session, a.plan_id)[0][0])), ("run", rc)) in edge_pairs(g)
    assert len(g.edges) == 2 + 2 + 2 + 1   # d0→ra, d0→rb, ra→x, rb→y, x→rc, y→rc, rc→z


def test_one_recursive_query_per_direction_whatever_the_size(session):
    def statements(length):
        data, _ = make_chain(session, length, key=f"chain{length}")
        seen: list[str] = []
        with session.catalog.read() as conn:
            conn.set_trace_callback(seen.append)
            try:
                g = lineage.walk(session, "data", data[1], up=True, down=True, depth=None)
            finally:
                conn.set_trace_callback(None)
        return seen, g

    short, g_short = statements(2)
    long, g_long = statements(6)
    assert len(g_long.nodes) > len(g_short.nodes)
    assert sum("WITH RECURSIVE" in s for s in long) == 2
    assert len(long) == len(short)


# -- renderers -----------------------------------------------------------------------------------


def parse_dot(text: str):
    graphs = pydot.graph_from_dot_data(text)
    assert graphs and len(graphs) == 1, text
    g = graphs[0]
    nodes = [n for n in g.get_nodes() if n.get_name() not in ("node", "edge", "graph", "\\n")]
    return g, nodes, g.get_edges()


def test_dot_parses_with_every_node_and_edge(session, chain):
    (d0, d1, d2), _ = chain
    doc = walk(session, d1).to_dict()
    g, nodes, edges = parse_dot(render.to_dot(doc))
    assert g.get_type() == "digraph"
    assert len(nodes) == len(doc["nodes"]) == 6
    assert len(edges) == len(doc["edges"]) == 5
    names = {n.get_name(): n for n in nodes}
    assert names[f"data_{d1}"].get("penwidth") == "2"          # the root stands out
    want = {(f"{e['from']['kind']}_{e['from']['id']}", f"{e['to']['kind']}_{e['to']['id']}") for e in doc["edges"]}
    assert {(e.get_source(), e.get_destination()) for e in edges} == want
    assert {e.get_source() for e in edges} | {e.get_destination() for e in edges} == set(names)
    assert {e.get("label") for e in edges} == {'"/upload"', '"/in"', '"/out"'}


def test_dot_escapes_quotes_and_backslashes_in_tags(session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    d = push_datum(session, "k:v", 'note:say "hi" \\ bye', "a:{b};c")
    doc = walk(session, d.knit_id).to_dict()
    g, nodes, edges = parse_dot(render.to_dot(doc))
    assert len(nodes) == 3 and len(edges) == 2
    label = next(n for n in nodes if n.get_name() == f"data_{d.knit_id}").get("label")
    assert 'say \\"hi\\" \\\\ bye' in label
    assert runs_of(session, plan.plan_id)


def test_mermaid_shape(session, chain):
    (d0, d1, d2), _ = chain
    doc = walk(session, d1).to_dict()
    lines = render.to_mermaid(doc).splitlines()
    assert lines[0] == "flowchart LR"
    node_lines = [line for line in lines[1:] if "-->" not in line]
    edge_lines = [line for line in lines[1:] if "-->" in line]
    assert len(node_lines) == 6 and len(edge_lines) == 5
    assert any(line.strip().startswith(f"data_{d1}[\"") for line in node_lines)
    assert sum(line.strip().startswith("run_") and '(["' in line for line in node_lines) == 3
    assert any(f"data_{d0} -->|\"/in\"| run_" in line for line in edge_lines)


def test_mermaid_escapes_quotes(session):
    d = push_datum(session, 'q:a "quoted" tag')
    text = render.to_mermaid(walk(session, d.knit_id).to_dict())
    assert "#quot;quoted#quot;" in text and '"quoted"' not in text


def test_json_has_root_nodes_and_edges(session, chain):
    (d0, d1, d2), (u0, r1, r2) = chain
    doc = json.loads(render.to_json(walk(session, d1).to_dict()))
    assert doc["root"] == {"kind": "data", "id": d1}
    assert len(doc["nodes"]) == 6 and len(doc["edges"]) == 5
    by_id = {n["id"]: n for n in doc["nodes"]}
    assert by_id[r1]["status"] == "done" and by_id[r1]["image"] == "busybox:1.36"
    assert "s:1" in by_id[d1]["tags"] and any(t.startswith("knit#timestamp:") for t in by_id[d1]["tags"])
    assert {"from": {"kind": "run", "id": r1}, "to": {"kind": "data", "id": d1}, "path": "/out"} in doc["edges"]


def test_tree_lists_upstream_to_the_upload_and_downstream(session, chain):
    (d0, d1, d2), (u0, r1, r2) = chain
    text = render.to_tree(walk(session, d1).to_dict())
    lines = text.splitlines()
    assert lines[0].startswith(f"data {d1} ")
    up, down = lines.index("upstream:"), lines.index("downstream:")
    assert up < down
    upstream = "\n".join(lines[up:down])
    assert f"run {r1} plan" in upstream and f"data {d0}" in upstream and f"run {u0} upload" in upstream
    downstream = "\n".join(lines[down:])
    assert f"run {r2} plan" in downstream and f"data {d2}" in downstream and "[/out]" in downstream


# -- the CLI ---------------------------------------------------------------------------------------


def test_cli_data_lineage_formats_and_flags(session, cli, cli_inproc):
    (d0, d1, d2, d3), (u0, r1, r2, r3) = make_chain(session, 3)

    r = cli("data", "lineage", d3, "-o", "dot", "-n", "all")
    assert r.code == 0, r
    g, nodes, edges = parse_dot(r.out)
    assert len(nodes) == 8 and len(edges) == 7      # 4 data, 4 runs (one an upload)
    assert {f"run_{u0}", f"data_{d0}"} <= {n.get_name() for n in nodes}

    r = cli_inproc("data", "lineage", d1, "-d", "-n", "1", "-o", "json")
    assert {n["id"] for n in r.json()["nodes"]} == {d1, r2, d2}

    r = cli_inproc("data", "lineage", d1, "-u", "-o", "mermaid")
    assert r.code == 0 and r.out.startswith("flowchart LR\n") and f"run_{u0}" in r.out and f"run_{r2}" not in r.out

    r = cli_inproc("data", "lineage", d3[:6])                           # a tree, both ways, 3 runs deep by default
    assert r.code == 0 and r.out.startswith(f"data {d3} ") and "upstream:" in r.out, r
    assert all(f"run {x} " in r.out for x in (r3, r2, r1)) and f"data {d0}" in r.out and f"run {u0}" not in r.out

    r = cli_inproc("data", "lineage", d1, "-n", "deep")
    assert r.code == 2 and r.out == "" and "--numbers: 'deep' is not a depth" in r.err, r


def test_depth_option_parsing():
    from knitctl.cli.graphs import parse_depth
    from knitctl.errors import UsageError

    assert (parse_depth("3"), parse_depth("0"), parse_depth("all"), parse_depth(" ALL ")) == (3, 0, None, None)
    for bad in ("deep", "-1", "1.5"):
        with pytest.raises(UsageError, match="--numbers"):
            parse_depth(bad)


# -- data show ---------------------------------------------------------------------------------------


def test_data_show_lists_upstream_run_downstream_runs_and_nominations(session):
    a = apply_plan(session, {"/in": ["s:0"]}, {"/out": ["s:1"]}).plan
    b = apply_plan(session, {"/in": ["s:1"]}).plan
    d0 = push_datum(session, "s:0")
    (ra, _, _), = runs_of(session, a.plan_id)
    shown = data_api.show(session, d0.knit_id)
    assert shown.run_id == d0.run_id and shown.plan_id == records.UPLOAD_PLAN
    assert shown.downstream == [{"run_id": ra, "plan_id": a.plan_id, "path": "/in", "status": "waiting"}]
    assert shown.nominations == [{"plan_id": a.plan_id, "path": "/in"}]
    d1 = out_of(session, ra)
    pending = data_api.show(session, d1)
    assert (pending.run_id, pending.plan_id, pending.nominations, pending.downstream) == (ra, a.plan_id, [], [])
    finish_run(session, ra)
    done = data_api.show(session, d1)
    assert done.nominations == [{"plan_id": b.plan_id, "path": "/in"}]
    assert [x["plan_id"] for x in done.downstream] == [b.plan_id]
    assert done.to_dict()["upstream"] == {"run_id": ra, "plan_id": a.plan_id, "path": "/out"}
