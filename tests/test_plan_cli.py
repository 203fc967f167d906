"""`knitctl plan`: template, apply (and --dry-run), show, find, active, resource, annotate, graph.

Logic is tested through the library; a few subprocess runs check exit codes, stdout/stderr and formats.
"""

from __future__ import annotations

import pydot
import pytest
import yaml

from knitctl.errors import NotFound, UsageError
from knitctl.plans import registry
from knitctl.plans.spec import parse_plan

from conftest import apply_plan, catalog_dump, plan_doc, push_datum, runs_of

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated - use:DeprecationWarning")

TWO_INPUTS = {"/in/data": ["type:dataset"], "/in/model": ["type:model"]}


def write_plan(tmp_path, name="plan.yaml", **kw) -> str:
    inputs = kw.pop("inputs", TWO_INPUTS)
    outputs = kw.pop("outputs", {"/out": ["type:score"]})
    p = tmp_path / name
    p.write_text(yaml.safe_dump(plan_doc(inputs, outputs, **kw), sort_keys=False))
    return str(p)


def changed(before: dict, after: dict) -> dict[str, tuple[set, set]]:
    """Per table: (rows gone, rows new)."""
    out = {}
    for t in set(before) | set(after):
        b, a = set(before.get(t, [])), set(after.get(t, []))
        if a != b:
            out[t] = (b - a, a - b)
    return out


def plan_columns(session) -> list[str]:
    return [r[1] for r in session.catalog.query("PRAGMA table_info(plan)")]


def only_column_changed(session, before, after, column: str) -> None:
    diff = changed(before, after)
    assert set(diff) == {"plan"}, diff
    (old,), (new,) = diff["plan"]
    cols = plan_columns(session)
    assert [c for c, x, y in zip(cols, old, new) if x != y] == [column]


# -- template ------------------------------------------------------------------------------------


def test_cli_template_is_a_plan_and_scratch_a_skeleton(cli_inproc):
    r = cli_inproc("plan", "template")
    assert r.code == 0 and r.err == "", r
    assert {m.path for m in parse_plan(r.out, "template").inputs} == {"/in/data", "/in/code"}
    assert "#" in r.out
    r = cli_inproc("plan", "template", "--scratch")
    assert r.code == 0 and "#" not in r.out
    assert set(yaml.safe_load(r.out)) == {"image", "inputs", "outputs"}


def test_cli_apply_of_bad_yaml_names_the_line(cli_inproc, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("image: busybox:1\ninputs:\n  - path: /in\n    tags: ['k:v'\n")
    r = cli_inproc("plan", "apply", broken, "--dry-run")
    assert r.code == 2 and r.out == "" and len(r.err_lines) == 1, r
    assert r.err.startswith(f"knitctl: error: {broken}: line 5, column 1: not valid YAML")
    r = cli_inproc("plan", "apply", tmp_path / "missing.yaml")
    assert r.code == 2 and "no such file" in r.err, r


# -- apply ---------------------------------------------------------------------------------------


def test_cli_apply_of_a_bad_plan_is_one_line_naming_file_and_field(cli, tmp_path, knit_home):
    bad = tmp_path / "bad.yaml"
    bad.write_text("image: busybox:1\ninputs:\n  - path: /in\n    tags: ['k:v']\nlogs:\n  tags: ['type:log']\n")
    r = cli("plan", "apply", bad)
    assert r.code == 2 and r.out == "", r
    assert r.err_lines == [f"knitctl: error: {bad}: logs: unknown key; did you mean `log`?"]



def test_cli_apply_creates_then_finds_the_same_plan(cli_inproc, tmp_path, session):
    push_datum(session, "type:dataset", n=2)
    push_datum(session, "type:model", n=3)
    f = write_plan(tmp_path)
    r = cli_inproc("plan", "apply", f, "-o", "json")
    assert r.code == 0, r
    plan_id = r.json()["plan_id"]
    assert f"created plan {plan_id} with 6 run(s)" in r.err
    assert len(runs_of(session, plan_id)) == 6
    r = cli_inproc("plan", "apply", f)
    assert r.code == 0 and f"plan {plan_id} already exists" in r.err, r
    assert [p.plan_id for p in registry.find(session)] == [plan_id]
    assert len(runs_of(session, plan_id)) == 6


def test_dry_run_changes_nothing_and_lists_the_runs(session):
    ds = push_datum(session, "type:dataset", n=2)
    ms = push_datum(session, "type:model", n=3)
    before = catalog_dump(session.home.root)
    result = apply_plan(session, TWO_INPUTS, dry_run=True)
    assert catalog_dump(session.home.root) == before
    assert result.dry_run and result.created and len(result.new_runs) == 6
    assert {(a["/in/data"], a["/in/model"]) for a in result.assignments} == {(d.knit_id, m.knit_id) for d in ds for m in ms}
    assert registry.find(session) == []


def test_dry_run_of_an_existing_plan_changes_nothing(session):
    real = apply_plan(session, TWO_INPUTS)
    before = catalog_dump(session.home.root)
    dry = apply_plan(session, TWO_INPUTS, dry_run=True)
    assert (dry.created, dry.plan.plan_id, dry.new_runs) == (False, real.plan.plan_id, [])
    assert catalog_dump(session.home.root) == before


def test_dry_run_of_a_cycle_is_refused_too(session):
    from knitctl.errors import Conflict

    with pytest.raises(Conflict, match="feed itself"):
        apply_plan(session, {"/in": ["t:x"]}, {"/out": ["t:x"]}, dry_run=True)


def test_apply_warns_when_an_input_matches_no_data(session):
    push_datum(session, "type:dataset")
    result = apply_plan(session, TWO_INPUTS, dry_run=True)
    assert result.warnings == ["input /in/model matches no data yet (type:model); runs start when such data arrive"]
    assert result.assignments == []


def test_apply_warns_when_the_product_exceeds_the_threshold(session):
    assert registry.CARTESIAN_WARN == 100
    push_datum(session, "type:dataset", n=10)
    push_datum(session, "type:model", n=10)
    at = apply_plan(session, TWO_INPUTS, dry_run=True)
    assert len(at.assignments) == 100 and at.warnings == []           # 100 is not more than 100
    push_datum(session, "type:model")
    over = apply_plan(session, TWO_INPUTS, dry_run=True)
    assert len(over.assignments) == 110
    assert over.warnings == ["the inputs combine into 110 runs (10 × 11); narrow the input tags if that is not meant"]


def test_cli_dry_run_prints_the_warnings_and_would_be_runs(cli_inproc, tmp_path, session):
    d = push_datum(session, "type:dataset")
    ms = push_datum(session, "type:model", n=2)
    before = catalog_dump(session.home.root)
    r = cli_inproc("plan", "apply", write_plan(tmp_path), "--dry-run", "-o", "json")
    assert r.code == 0, r
    assert catalog_dump(session.home.root) == before
    doc = r.json()
    assert doc["plan_id"] is None
    assert sorted(a["/in/model"] for a in doc["would_create_runs"]) == sorted(m.knit_id for m in ms)
    assert "dry run: would create a new plan with 2 run(s)" in r.err
    would = [line.strip() for line in r.err_lines if "would run with" in line]
    assert sorted(would) == sorted(f"would run with /in/data={d.knit_id}, /in/model={m.knit_id}" for m in ms)
    r = cli_inproc("plan", "apply", write_plan(tmp_path, "p2.yaml", inputs={"/in": ["type:nothing"]}), "--dry-run")
    assert r.code == 0 and "warning: input /in matches no data yet (type:nothing)" in r.err, r


# -- find ---------------------------------------------------------------------------------------------


@pytest.fixture
def plans(session):
    a = apply_plan(session, {"/in": ["k:v", "x:1"]}, {"/out": ["type:model", "team:a"]}, image="busybox:1.36").plan
    b = apply_plan(session, {"/in": ["k:v"]}, {"/out": ["type:score"]}, image="python:3.11", log=["type:log"]).plan
    c = apply_plan(session, {"/in": ["other:1"]}, image="busybox:1.37", active=False).plan
    return a, b, c


def found(session, **kw) -> list[str]:
    return [p.plan_id for p in registry.find(session, **kw)]


def test_find_filters(session, plans):
    a, b, c = (p.plan_id for p in plans)
    assert found(session) == [a, b, c]
    assert found(session, active="yes") == [a, b]
    assert found(session, active="no") == [c]
    assert found(session, image="busybox") == [a, c]
    assert found(session, image="busybox:1.37") == [c]
    assert found(session, in_tags=["k:v"]) == [a, b]
    assert found(session, in_tags=["k:v", "x:1"]) == [a]
    assert found(session, in_tags=["x:1", "other:1"]) == []
    assert found(session, out_tags=["type:model"]) == [a]
    assert found(session, out_tags=["type:log"]) == [b]
    assert found(session, in_tags=["k:v"], image="python", active="yes") == [b]


def test_find_counts_runs_by_status(session, plans):
    a, b, c = plans
    push_datum(session, "k:v", "x:1")
    by_id = {p.plan_id: p for p in registry.find(session)}
    assert by_id[a.plan_id].runs == {"waiting": 1} and by_id[b.plan_id].runs == {"waiting": 1} and by_id[c.plan_id].runs == {}


def test_find_errors(session):
    with pytest.raises(UsageError, match="--active: 'maybe' is not one of yes, no, both"):
        registry.find(session, active="maybe")
    with pytest.raises(UsageError, match="--in-tag"):
        registry.find(session, in_tags=["novalue"])


# -- show -----------------------------------------------------------------------------------------------


def test_cli_show_lists_upstream_and_downstream_plans(cli_inproc, session):
    up = apply_plan(session, {"/in": ["s:0"]}, {"/out": ["s:1", "kind:x"]}).plan
    mid = apply_plan(session, {"/in/a": ["s:1"], "/in/b": ["other:1"]}, {"/out": ["s:2"]}, log=["type:log"]).plan
    down = apply_plan(session, {"/in": ["s:2"]}).plan
    logs = apply_plan(session, {"/in": ["type:log"]}).plan
    r = cli_inproc("plan", "show", mid.plan_id[:6], "-o", "json")
    assert r.code == 0, r
    doc = r.json()
    assert doc["plan_id"] == mid.plan_id
    ins = {m["path"]: m["upstream"] for m in doc["inputs"]}
    assert ins == {"/in/a": [{"plan_id": up.plan_id, "path": "/out"}], "/in/b": []}
    assert doc["outputs"][0]["downstream"] == [{"plan_id": down.plan_id, "path": "/in"}]
    assert doc["log"] == {"tags": ["type:log"], "downstream": [{"plan_id": logs.plan_id, "path": "/in"}]}
    up_edges, down_edges = registry.neighbours(session, mid.plan_id)
    assert up_edges == [(up.plan_id, "/out", mid.plan_id, "/in/a")]
    assert sorted(down_edges) == sorted([(mid.plan_id, "/out", down.plan_id, "/in"), (mid.plan_id, "log", logs.plan_id, "/in")])
    r = cli_inproc("plan", "show", mid.plan_id)                     # the table form, piped: field<TAB>value
    assert r.code == 0 and f"input /in/a\ts:1  ← plan {up.plan_id} /out" in r.out, r
    r = cli_inproc("plan", "show", "abcdef123456")
    assert r.code == 1 and r.err_lines == ["knitctl: error: no plan with id 'abcdef123456'; list them with `knitctl plan find`"], r


def test_get_by_prefix_and_unknown(session, plans):
    a = plans[0]
    assert registry.get(session, a.plan_id[:5]).plan_id == a.plan_id
    with pytest.raises(NotFound):
        registry.get(session, "ffffffffffff")
    unused = next(c for c in "0123456789abcdef" if not any(p.plan_id.startswith(c) for p in plans))
    with pytest.raises(NotFound):   # the pseudo-plan is not a plan users can address
        registry.resolve_id(session, unused)


# -- active -------------------------------------------------------------------------------------------------


def test_cli_active_swaps_runs(cli_inproc, session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    push_datum(session, "k:v", n=2)
    r = cli_inproc("plan", "active", "no", plan.plan_id)
    assert r.code == 0 and f"plan {plan.plan_id} is inactive; 2 run(s) now deactivated" in r.err, r
    assert sorted(s for _, s, _ in runs_of(session, plan.plan_id)) == ["deactivated"] * 2
    r = cli_inproc("plan", "active", "maybe", plan.plan_id)
    assert r.code == 2 and "'maybe' is not yes or no" in r.err, r


def test_set_active_changes_only_active_and_the_runs(session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    before = catalog_dump(session.home.root)
    registry.set_active(session, plan.plan_id, False)
    registry.set_active(session, plan.plan_id, False)
    only_column_changed(session, before, catalog_dump(session.home.root), "active")


# -- resource and annotate ------------------------------------------------------------------------------------


def test_resource_sets_and_unsets_only_resources(session):
    plan = apply_plan(session, {"/in": ["k:v"]}, resources={"cpu": 1, "memory": "1Gi"}).plan
    push_datum(session, "k:v")
    before = catalog_dump(session.home.root)
    p = registry.set_resources(session, plan.plan_id, ["memory=2Gi", "gpu=1"], ["cpu"])
    assert p.resources.to_dict() == {"memory": 2 * 2**30, "gpu": 1}
    only_column_changed(session, before, catalog_dump(session.home.root), "resources")
    assert registry.get(session, plan.plan_id).spec.hash == plan.spec.hash


@pytest.mark.parametrize(
    "set_, unset, expected",
    [
        (["cpu=500m"], [], {"cpu": 0.5, "gpu": 1}),
        (["memory=1G"], [], {"cpu": 1, "gpu": 1, "memory": 10**9}),
        (["nvidia.com/gpu=2"], [], {"cpu": 1, "gpu": 2}),
        (["gpu=0,3"], [], {"cpu": 1, "gpu": ["0", "3"]}),
        (["gpu=[1]"], [], {"cpu": 1, "gpu": ["1"]}),
        ([], ["nvidia.com/gpu"], {"cpu": 1}),
        ([], ["cpu", "gpu"], {}),
        (["gpu=2"], ["gpu"], {"cpu": 1, "gpu": 2}),          # unset first, then set
    ],
)
def test_resource_values(session, set_, unset, expected):
    plan = apply_plan(session, {"/in": ["k:v"]}, resources={"cpu": 1, "gpu": 1}).plan
    assert registry.set_resources(session, plan.plan_id, set_, unset).resources.to_dict() == expected


@pytest.mark.parametrize(
    "set_, unset, what",
    [(["disk=1G"], [], "is not a resource"), (["memory"], [], "is not NAME=QUANTITY"), (["memory=lots"], [], "not a memory quantity"),
     (["cpu=0"], [], "more than 0"), ([], ["disk"], "is not a resource")],
)
def test_resource_errors_change_nothing(session, set_, unset, what):
    plan = apply_plan(session, {"/in": ["k:v"]}, resources={"cpu": 1}).plan
    before = catalog_dump(session.home.root)
    with pytest.raises(UsageError, match=what):
        registry.set_resources(session, plan.plan_id, set_, unset)
    assert catalog_dump(session.home.root) == before


def test_annotate_adds_removes_and_changes_only_annotations(session):
    plan = apply_plan(session, {"/in": ["k:v"]}, annotations=["owner=me", "team=a", "team=b"]).plan
    push_datum(session, "k:v")
    before = catalog_dump(session.home.root)
    p = registry.annotate(session, plan.plan_id, add=["stage = prod", "owner=me"], remove=["owner=me"], remove_keys=["team"])
    assert p.annotations == ("owner=me", "stage=prod")
    only_column_changed(session, before, catalog_dump(session.home.root), "annotations")
    p = registry.annotate(session, plan.plan_id, add=[], remove=["absent=1"], remove_keys=["nokey"])
    assert p.annotations == ("owner=me", "stage=prod")


def test_annotate_errors(session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    with pytest.raises(UsageError, match="is not key=value"):
        registry.annotate(session, plan.plan_id, add=["novalue"], remove=[], remove_keys=[])


def test_cli_resource_and_annotate(cli_inproc, session):
    plan = apply_plan(session, {"/in": ["k:v"]}, annotations=["b=1", "b=2"]).plan
    r = cli_inproc("plan", "resource", plan.plan_id, "-s", "memory=512Mi", "-s", "cpu=2", "-o", "json")
    assert r.code == 0 and r.json()["resources"] == {"cpu": 2.0, "memory": 512 * 2**20}, r
    r = cli_inproc("plan", "annotate", plan.plan_id, "--add", "a=1", "--remove-key", "b", "-o", "json")
    assert r.code == 0 and r.json()["annotations"] == ["a=1"], r
    r = cli_inproc("plan", "resource", plan.plan_id, "-s", "disk=1G")
    assert r.code == 2 and r.err_lines == [
        "knitctl: error: --set: 'disk' is not a resource; use cpu, memory, gpu, ephemeral-storage, hugepages-<size> "
        "(e.g. hugepages-2Mi) or an extended resource DOMAIN/NAME (e.g. amd.com/gpu)"], r
    r = cli_inproc("plan", "find", "-i", "k:v", "--active", "yes", "--output", "json")
    assert r.code == 0 and [p["plan_id"] for p in r.json()] == [plan.plan_id], r
    r = cli_inproc("plan", "find", "-O", "k:v")                      # -O is --out-tag (-o is the format)
    assert r.code == 0 and r.out == "", r


# -- graph ---------------------------------------------------------------------------------------------------


def test_cli_graph_formats_and_directions(cli_inproc, session):
    p1 = apply_plan(session, {"/in": ["s:0"]}, {"/out": ["s:1"]}).plan.plan_id
    p2 = apply_plan(session, {"/in": ["s:1"]}, {"/out": ["s:2"]}).plan.plan_id
    p3 = apply_plan(session, {"/in": ["s:2"]}, {"/out": ["s:3"]}).plan.plan_id
    p4 = apply_plan(session, {"/in": ["s:1"]}, {"/out": ["s:x"]}).plan.plan_id

    r = cli_inproc("plan", "graph", p2, "-o", "dot")
    assert r.code == 0, r
    graphs = pydot.graph_from_dot_data(r.out)
    assert graphs and len(graphs) == 1
    g = graphs[0]
    nodes = {n.get_name() for n in g.get_nodes() if n.get_name() not in ("node", "edge", "graph")}
    assert nodes == {f"plan_{p}" for p in (p1, p2, p3)}
    assert {(e.get_source(), e.get_destination()) for e in g.get_edges()} == {(f"plan_{p1}", f"plan_{p2}"), (f"plan_{p2}", f"plan_{p3}")}

    r = cli_inproc("plan", "graph", p1, "-d", "-n", "1", "-o", "json")
    doc = r.json()
    assert {n["id"] for n in doc["nodes"]} == {p1, p2, p4}
    assert {(e["from"]["id"], e["to"]["id"]) for e in doc["edges"]} == {(p1, p2), (p1, p4)}
    assert all(e["path"] == "/out → /in" for e in doc["edges"])

    r = cli_inproc("plan", "graph", p3, "-u", "-n", "all", "-o", "mermaid")
    lines = r.out.splitlines()
    assert lines[0] == "flowchart LR"
    assert sum("-->" in line for line in lines) == 2 and f"plan_{p4}" not in r.out and f"plan_{p1}" in r.out
