"""`knitctl data compare`: the pure rules (knitctl/compare.py) and the command over a catalog built
without Docker (runs finished by hand, their output files written into the store as a run would)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from knitctl import compare as rules
from knitctl import comparison
from knitctl.errors import NotFound, UsageError

from conftest import apply_plan, finish_run, make_tree, runs_of

# -- a sweep built by hand ----------------------------------------------------------------------

LRS = [0.1, 0.01, 0.3, 0.001]


def accuracy(lr: float) -> float:
    return round(0.95 - abs(lr - 0.01) * 0.5, 4)


def outputs(session, run_id: str) -> dict[str, str]:
    return {p: k for k, p in session.catalog.query("SELECT knit_id, output_path FROM data WHERE run_id = ?", (run_id,))}


def complete(session, run_id: str, files: dict[str, dict[str, str]]) -> None:
    """Write each output's files into the store (as knitd's finish would publish them), then move the run to done."""
    for path, kid in outputs(session, run_id).items():
        make_tree(session.store.path_of(kid), files.get(path, {}))
    finish_run(session, run_id)


def push(session, tmp_path: Path, name: str, files: dict, *tags: str) -> str:
    from knitctl import data as data_api

    src = make_tree(tmp_path / name, files)
    return data_api.push(session, [src], list(tags))[0].knit_id


def build_sweep(session, tmp_path: Path, lrs=LRS, *, metrics=None) -> dict:
    """params (one upload per lr, params.json) × one dataset → train (model.bin) → evaluate (metrics.json).

    `metrics(lr)` gives the files an evaluate run writes (default: metrics.json with accuracy and loss).
    Returns {"params": {lr: id}, "dataset": id, "metrics": {lr: id}, "models": {lr: id}}."""
    metrics = metrics or (lambda lr: {"metrics.json": json.dumps({"accuracy": accuracy(lr), "loss": {"final": lr * 2}})})
    train = apply_plan(session, {"/in/params": ["type:params"], "/in/data": ["type:dataset"]},
                       {"/out": ["type:model"]}).plan.plan_id
    evaluate = apply_plan(session, {"/in/model": ["type:model"], "/in/data": ["type:dataset"]},
                          {"/out": ["type:metrics"]}).plan.plan_id
    dataset = push(session, tmp_path, "dataset", {"points.csv": "x,y\n1,2\n2,4\n3,6\n"}, "type:dataset")
    params = {lr: push(session, tmp_path, f"params-{lr}", {"params.json": json.dumps({"lr": lr, "epochs": 3})},
                       "type:params", f"sweep:{lr}") for lr in lrs}
    by_params = {v: k for k, v in params.items()}
    models = {}
    for run_id, _, assignment in runs_of(session, train):
        lr = by_params[dict(line.split("=", 1) for line in assignment.split("\n"))["/in/params"]]
        complete(session, run_id, {"/out": {"model.bin": f"weights for {lr}"}})
        models[outputs(session, run_id)["/out"]] = lr
    result = {}
    for run_id, _, assignment in runs_of(session, evaluate):
        lr = models[dict(line.split("=", 1) for line in assignment.split("\n"))["/in/model"]]
        complete(session, run_id, {"/out": metrics(lr)})
        result[lr] = outputs(session, run_id)["/out"]
    return {"params": params, "dataset": dataset, "metrics": result, "models": {v: k for k, v in models.items()},
            "train": train, "evaluate": evaluate}


@pytest.fixture
def sweep(session, tmp_path):
    return build_sweep(session, tmp_path)


# -- pure rules ---------------------------------------------------------------------------------


def test_flatten_dotted_keys_lists_by_index_and_scalars_kept():
    doc = {"a": {"b": 1, "c": {"d": "x"}}, "l": [2, {"e": None}], "f": 1.5, "t": True, "nan": float("nan")}
    assert dict(rules.flatten(doc)) == {"a.b": 1, "a.c.d": "x", "l.0": 2, "l.1.e": None, "f": 1.5, "t": True, "nan": "nan"}


def test_parse_file_by_extension():
    assert rules.parse_file("m.json", '{"acc": 0.9, "n": {"ok": 3}}') == {"acc": 0.9, "n.ok": 3}
    assert rules.parse_file("m.yaml", "acc: 0.9\nper_class:\n  cat: 0.8\n") == {"acc": 0.9, "per_class.cat": 0.8}
    assert rules.parse_file("sub/m.yml", "acc: 1\n") == {"acc": 1}
    assert rules.parse_file("m.csv", "acc,loss,name\n0.91, 3 ,run a\n") == {"acc": 0.91, "loss": 3, "name": "run a"}
    assert rules.parse_file("m.txt", '{"acc": 2}') == {"acc": 2}     # neither: JSON, then YAML
    assert rules.parse_file("m.txt", "acc: 2\n") == {"acc": 2}


@pytest.mark.parametrize("name, text, why", [
    ("m.csv", "acc\n1\n2\n", "3 non-empty rows; a one-row CSV"),
    ("m.csv", "acc,loss\n1\n", "header has 2 columns and its row 1"),
    ("m.json", "{nope", "not valid JSON"),
    ("m.json", "[1, 2]", "holds a list, not key-values"),
    ("m.yaml", "0.93\n", "holds a single float value, not key-values"),
    ("m.yaml", "a: [1,\n", "not valid YAML"),
])
def test_parse_file_says_why_a_file_gives_nothing(name, text, why):
    with pytest.raises(rules.Unreadable, match=why.replace("[", r"\[")):
        rules.parse_file(name, text)


def test_globs_match_names_at_any_depth_and_paths_from_the_end():
    g = rules.check_globs([])
    assert g == list(rules.DEFAULT_FILES)
    assert rules.matches("metrics.json", g) and rules.matches("eval/deep/m.yml", g) and not rules.matches("model.bin", g)
    assert rules.matches("out/eval/m.json", ["eval/*.json"]) and not rules.matches("out/train/m.json", ["eval/*.json"])


@pytest.mark.parametrize("bad, why", [
    ("", "empty"), ("/etc/*.json", "absolute"), ("../x.json", "'..'"), ("a//b", "empty parts"), ("[ab.json", "'\\['"),
    ("a\tb", "control character"),
])
def test_bad_globs_are_refused_with_one_line(bad, why):
    with pytest.raises(UsageError, match=why):
        rules.check_globs([bad])


def test_labels_are_the_shortest_unambiguous_tails():
    chains = [("/in/model",), ("/in/data",), ("/in/model", "/in/params"), ("/in/model", "/in/data")]
    assert rules.labels(chains) == {("/in/model",): "model", ("/in/data",): "data",
                                    ("/in/model", "/in/params"): "params", ("/in/model", "/in/data"): "model.data"}
    assert rules.labels([("/a/x",), ("/b/x",)]) == {("/a/x",): "/a/x", ("/b/x",): "/b/x"}


def test_merge_names_a_key_two_files_hold_by_file():
    assert rules.merge([("a.json", {"acc": 1, "n": 2}), ("b.json", {"acc": 3})]) == {"a.json:acc": 1, "n": 2, "b.json:acc": 3}


def _subject(kid, metrics, upstream, plan="p", tags=None, why=None):
    return rules.Subject(kid, plan, tags or {"type": "metrics"}, metrics, why, upstream)


def test_shape_shows_what_varies_then_every_metric():
    P, M, D = ("/in/model", "/in/params"), ("/in/model",), ("/in/data",)
    subjects = [
        _subject("m1", {"acc": 0.9, "n": 10}, {M: "mod1", P: "p1", D: "d"}),
        _subject("m2", {"acc": 0.8, "n": 10}, {M: "mod2", P: "p2", D: "d"}),
    ]
    upstream = {"mod1": rules.Upstream({"type": "model"}, {}), "mod2": rules.Upstream({"type": "model"}, {}),
                "p1": rules.Upstream({"type": "params"}, {"lr": 0.1, "epochs": 3}),
                "p2": rules.Upstream({"type": "params"}, {"lr": 0.2, "epochs": 3})}
    t = rules.shape(subjects, upstream)
    assert [(c.name, c.kind) for c in t.columns] == [
        ("id", "input"), ("params/lr", "parameter"), ("acc", "metric"), ("n", "metric")]
    assert t.rows == [["m1", 0.1, 0.9, 10], ["m2", 0.2, 0.8, 10]]
    assert t.unreadable == []
    # the model's id is shown only when nothing above it says why it differs
    upstream["p2"] = upstream["p1"]
    subjects[1].upstream[P] = "p1"
    t = rules.shape(subjects, upstream)
    assert [c.name for c in t.columns] == ["id", "model", "acc", "n"]
    assert [r[1] for r in t.rows] == ["mod1", "mod2"]


def test_shape_names_data_without_metrics_and_keeps_their_row():
    t = rules.shape([_subject("m1", {"acc": 1}, {}), _subject("m2", {}, {}, why="no file matches *.json")], {})
    assert t.rows == [["m1", 1], ["m2", None]]
    assert t.unreadable == [("m2", "no file matches *.json")]


def test_shape_shows_varying_plans_and_tags_and_an_upstream_tag():
    subjects = [_subject("a", {}, {("/in",): "u1"}, plan="p1", tags={"type": "m", "run": "1"}),
                _subject("b", {}, {("/in",): "u2"}, plan="p2", tags={"type": "m", "run": "2"})]
    t = rules.shape(subjects, {"u1": rules.Upstream({"seed": "1"}, {}), "u2": rules.Upstream({"seed": "2"}, {})})
    assert [c.name for c in t.columns] == ["id", "plan", "tag:run", "in:seed"]


def test_sort_numbers_then_text_empty_last_either_way():
    t = rules.Table([rules.Column("id", "input"), rules.Column("params/lr", "parameter"), rules.Column("acc", "metric")],
                    [["a", 0.1, 0.5], ["b", 0.3, None], ["c", 0.2, 0.9], ["d", 0.05, 0.7]], [])
    assert [r[0] for r in rules.sort(t, "acc").rows] == ["a", "d", "c", "b"]
    assert [r[0] for r in rules.sort(t, "-acc").rows] == ["c", "d", "a", "b"]
    assert [r[0] for r in rules.sort(t, "acc", descending=True).rows] == ["c", "d", "a", "b"]
    assert [r[0] for r in rules.sort(t, "lr").rows] == ["d", "a", "c", "b"]      # the tail of params/lr
    with pytest.raises(UsageError, match="no such column; the columns are id, params/lr, acc"):
        rules.sort(t, "accuracy")
    for empty in ("", "-", " "):
        with pytest.raises(UsageError, match="--sort: give a column to sort by"):
            rules.sort(t, empty)
    assert rules.sort(t, None) is t


def test_chart_orders_by_the_parameter_and_scales_bars():
    t = rules.Table([rules.Column("id", "input"), rules.Column("lr", "parameter"), rules.Column("acc", "metric")],
                    [["a", 0.3, 0.5], ["b", 0.1, 1.0], ["c", 0.2, None]], [])
    lines = rules.chart(t, "acc", "lr", width=10)
    assert lines[0] == "acc by lr (bars from 0.45)"      # a tenth of the range below the smallest
    assert lines[1] == "0.1 │██████████ 1"
    assert lines[2] == "0.2 │           (no number)"
    assert lines[3] == "0.3 │█          0.5"
    t.rows = [["a", 0.3, 2], ["b", 0.1, 2]]
    assert rules.chart(t, "acc", "lr", width=4)[1:] == ["0.1 │████ 2", "0.3 │████ 2"]   # all alike: whole bars


def test_csv_keeps_numbers_whole():
    t = rules.Table([rules.Column("id", "input"), rules.Column("acc", "metric")], [["a", 1 / 3], ["b", None]], [])
    assert rules.csv_text(t) == f"id,acc\na,{1 / 3!r}\nb,\n"


# -- the library and the command on a catalog built by hand --------------------------------------


def test_compare_a_sweep_by_tag(session, sweep):
    t = comparison.compare(session, tags=["type:metrics"])
    names = [c.name for c in t.columns]
    assert names == ["id", "params:sweep", "params/lr", "accuracy", "loss.final"]
    rows = {r[names.index("params/lr")]: r for r in t.rows}
    assert sorted(rows) == sorted(LRS)
    for lr, r in rows.items():
        assert r[0] == sweep["metrics"][lr] and r[names.index("accuracy")] == accuracy(lr)
        assert r[names.index("params:sweep")] == str(lr)


def test_compare_by_ids_keeps_their_order_and_only_what_varies(session, sweep):
    ids = [sweep["metrics"][0.3], sweep["metrics"][0.1]]
    t = comparison.compare(session, ids=[i[:8] for i in ids])
    assert [r[0] for r in t.rows] == ids
    assert "data" not in [c.name for c in t.columns]          # the one dataset: the same in both rows


def test_the_cli_sorts_and_writes_json_and_csv(cli_inproc, session, sweep):
    r = cli_inproc("data", "compare", "-t", "type:metrics", "--sort", "-accuracy", "-o", "json")
    assert r.code == 0, r
    doc = r.json()
    accs = [row["accuracy"] for row in doc["rows"]]
    assert accs == sorted((accuracy(lr) for lr in LRS), reverse=True)
    assert [row["params/lr"] for row in doc["rows"]] == sorted(LRS, key=accuracy, reverse=True)
    assert {c["name"]: c["kind"] for c in doc["columns"]}["params/lr"] == "parameter"
    assert doc["unreadable"] == []

    r = cli_inproc("data", "compare", "-t", "type:metrics", "--sort", "lr", "-o", "csv")
    assert r.code == 0, r
    table = list(csv.DictReader(io.StringIO(r.out)))
    assert [float(row["params/lr"]) for row in table] == sorted(LRS)
    assert [float(row["accuracy"]) for row in table] == [accuracy(lr) for lr in sorted(LRS)]

    r = cli_inproc("data", "compare", "-t", "type:metrics", "--sort", "accuracy", "--desc")   # piped: tab-separated
    assert r.code == 0, r
    lines = [line.split("\t") for line in r.out_lines]
    assert len(lines) == len(LRS) and [float(cells[-2]) for cells in lines] == sorted(map(accuracy, LRS), reverse=True)

    r = cli_inproc("data", "compare", "-t", "type:metrics", "-o", "table")
    assert r.code == 0 and r.out_lines[0].split() == ["ID", "PARAMS:SWEEP", "PARAMS/LR", "ACCURACY", "LOSS.FINAL"], r


def test_data_without_readable_metrics_are_named(cli_inproc, session, tmp_path):
    files = {0.1: {"metrics.csv": "acc\n1\n2\n"}, 0.2: {"model.bin": "x"}, 0.3: {"m.json": '{"acc": 0.5}'}}
    s = build_sweep(session, tmp_path, lrs=[0.1, 0.2, 0.3], metrics=lambda lr: files[lr])
    r = cli_inproc("data", "compare", "-t", "type:metrics", "-o", "json")
    assert r.code == 0, r
    assert f"datum {s['metrics'][0.1]}: no readable metrics (metrics.csv: 3 non-empty rows; a one-row CSV" in r.err
    assert f"datum {s['metrics'][0.2]}: no readable metrics (no file matches *.json *.yaml *.yml *.csv" in r.err
    assert s["metrics"][0.3] not in r.err
    doc = r.json()
    assert {u["knit_id"] for u in doc["unreadable"]} == {s["metrics"][0.1], s["metrics"][0.2]}
    assert len(doc["rows"]) == 3                     # named, and still in the table with their parameters


def test_files_option_chooses_the_files(cli_inproc, session, tmp_path):
    s = build_sweep(session, tmp_path, lrs=[0.1, 0.2], metrics=lambda lr: {
        "eval": {"m.json": json.dumps({"acc": lr})}, "train": {"m.json": json.dumps({"loss": lr})}})
    r = cli_inproc("data", "compare", *s["metrics"].values(), "--files", "eval/*.json", "-o", "json")
    assert r.code == 0, r
    names = [c["name"] for c in r.json()["columns"]]
    assert "acc" in names and "loss" not in names


@pytest.mark.parametrize("args, code, says", [
    (["ffffffffffff"], 1, "no data with id 'ffffffffffff'"),
    (["-t", "type:nothing"], 1, "no committed data carry type:nothing"),
    (["-t", "type:metrics", "--files", "/abs/*.json"], 2, "--files '/abs/*.json': is absolute"),
    (["-t", "type:metrics", "--sort", "nope"], 2, "--sort 'nope': no such column"),
    ([], 2, "give the data to compare"),
])
def test_bad_input_is_one_line_and_an_exit_code(cli, session, sweep, args, code, says):
    r = cli("data", "compare", *args)
    assert r.code == code and says in r.err and len(r.err_lines) == 1 and "Traceback" not in r.err, str(r)
    assert r.out == ""


def test_a_bad_output_format_is_typers_usage_error(cli):
    r = cli("data", "compare", "-t", "type:metrics", "-o", "xml")
    assert r.code == 2 and "'xml' is not one of 'table', 'json', 'csv'" in r.err and "Traceback" not in r.err, str(r)


def test_a_lineage_that_differs_in_shape_shows_the_missing_place(session, tmp_path):
    """One metrics datum pushed by hand beside the sweep's: its places upstream are missing, so they vary."""
    s = build_sweep(session, tmp_path, lrs=[0.1])
    hand = push(session, tmp_path, "by-hand", {"metrics.json": '{"accuracy": 0.5}'}, "type:metrics")
    t = comparison.compare(session, tags=["type:metrics"])
    names = [c.name for c in t.columns]
    assert names[:2] == ["id", "plan"] and "params/lr" in names
    rows = {r[0]: r for r in t.rows}
    assert rows[hand][names.index("params/lr")] is None and rows[s["metrics"][0.1]][names.index("params/lr")] == 0.1


def test_errors_from_the_library(session, sweep):
    with pytest.raises(UsageError, match="not both"):
        comparison.compare(session, ids=["abc"], tags=["type:metrics"])
    with pytest.raises(NotFound):
        comparison.compare(session, tags=["type:none"])


def test_links_are_not_followed_and_big_or_many_files_are_not_read(session, tmp_path, monkeypatch):
    from conftest import Link

    linked = push(session, tmp_path, "linked", {"m.json": Link("secret.txt"), "secret.txt": '{"password": "hunter2"}'}, "k:v")
    big = push(session, tmp_path, "big", {"m.json": json.dumps({"acc": 1, "pad": "x" * 200})}, "k:v")
    many = push(session, tmp_path, "many", {f"m{i}.json": json.dumps({f"a{i}": i}) for i in range(5)}, "k:v")
    fine = push(session, tmp_path, "fine", {"m.json": '{"acc": 2}'}, "k:v")
    monkeypatch.setattr(rules, "MAX_FILE_BYTES", 100)
    monkeypatch.setattr(rules, "MAX_FILES", 4)
    t = comparison.compare(session, ids=[linked, big, many, fine])
    why = dict(t.unreadable)
    assert why[linked].startswith("no file matches")                 # a link is not a file here
    assert "hunter2" not in json.dumps(t.to_dict())
    assert why[big].startswith("m.json: ") and "more than the 100 a metric file is read up to" in why[big]
    assert why[many] == "5 files match *.json *.yaml *.yml *.csv, more than the 4 read; narrow --files"
    assert fine not in why and t.rows[3][t.index("acc")] == 2


def test_a_datum_still_being_made_is_named(session, tmp_path):
    plan = apply_plan(session, {"/in": ["k:in"]}, {"/out": ["k:out"]}).plan.plan_id
    push(session, tmp_path, "in", {"m.json": '{"acc": 1}'}, "k:in")
    (run_id, status, _), = runs_of(session, plan)
    out = outputs(session, run_id)["/out"]
    t = comparison.compare(session, ids=[out, out[:6]])             # the same datum twice: one row
    assert [r[0] for r in t.rows] == [out]
    assert t.unreadable == [(out, f"not committed yet (its run is {status})")]


def test_an_upstream_run_output_is_read_only_when_nothing_above_it_varies(session, tmp_path):
    """Models differ because their params do: the params' lr is shown, not the models' weights. Two
    train plans over the same params make models that differ by themselves: their weights are shown."""
    s = build_sweep(session, tmp_path, lrs=[0.1, 0.2])
    for lr, model in s["models"].items():                    # each model also holds a small JSON
        path = session.store.path_of(model) / "model.json"
        path.write_text(json.dumps({"w": lr * 10}))
    names = [c.name for c in comparison.compare(session, tags=["type:metrics"]).columns]
    assert "params/lr" in names and not any(n.startswith("model") for n in names)

    other = tmp_path / "other"
    other.mkdir()
    apply_plan(session, {"/in/params": ["type:params2"]}, {"/out": ["type:model2"]}, image="knit/busybox:1")
    apply_plan(session, {"/in/params": ["type:params2"]}, {"/out": ["type:model2"]}, image="knit/python:3.11")
    evaluate = apply_plan(session, {"/in/model": ["type:model2"]}, {"/out": ["type:metrics2"]}).plan.plan_id
    push(session, other, "p", {"params.json": '{"lr": 0.5}'}, "type:params2")
    trains = [p for p, in session.catalog.query("SELECT plan_id FROM plan_output_tag WHERE key = 'type' AND value = 'model2'")]
    for i, plan in enumerate(trains):
        (run_id, _, _), = runs_of(session, plan)
        complete(session, run_id, {"/out": {"model.json": json.dumps({"w": i})}})
    for run_id, _, _ in runs_of(session, evaluate):
        complete(session, run_id, {"/out": {"m.json": '{"acc": 1}'}})
    t = comparison.compare(session, tags=["type:metrics2"])
    assert [c.name for c in t.columns] == ["id", "model/w", "acc"]
    assert sorted(r[1] for r in t.rows) == [0, 1]


def test_explained_means_a_place_further_up_the_same_path_shows_something():
    assert rules.explained(("/in/model",), [("/in/model", "/in/params")])
    assert not rules.explained(("/in/model",), [("/in/data",), ("/in/model",)])
    assert not rules.explained(("/in/model", "/in/params"), [("/in/model",)])


def test_the_fast_path_answers_as_typer_does(session, sweep, knit_home, tmp_path):
    """`data compare` is a one-liner of cli/fast.py: once Typer has described it, it is answered
    without Typer, with the same output; `--sort -NAME` (a value that looks like an option) is Typer's."""
    import subprocess
    import sys

    from conftest import cli_env

    probe = ("import atexit, json, sys\n"
             "out = sys.argv[1]\n"
             "atexit.register(lambda: open(out, 'w').write(json.dumps('typer' in sys.modules)))\n"
             "sys.argv = ['knitctl', *sys.argv[2:]]\n"
             "from knitctl.cli.main import run\n"
             "run()\n")
    env = cli_env(knit_home, {"XDG_CACHE_HOME": str(tmp_path / "cache")})

    def knitctl(*args):
        flag = tmp_path / "typer.json"
        p = subprocess.run([sys.executable, "-c", probe, str(flag), *args], env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120)
        return p.returncode, p.stdout, p.stderr, json.loads(flag.read_text())

    args = ["data", "compare", "-t", "type:metrics", "--sort", "accuracy", "--desc", "-o", "csv"]
    first, second = knitctl(*args), knitctl(*args)
    assert first[3] and not second[3], "the second run is the fast path's"
    assert first[:3] == second[:3] and first[0] == 0, first
    dashed = knitctl("data", "compare", "-t", "type:metrics", "--sort", "-accuracy", "-o", "csv")
    assert dashed[:3] == first[:3]
    bad = knitctl("data", "compare", "-t", "type:metrics", "--files", "/x")
    assert bad[0] == 2 and bad[2].startswith("knitctl: error: --files '/x': is absolute") and not bad[3], bad
