"""`knitctl quickstart` end to end against the real dockerd.

It runs as a newcomer would run it — a subprocess from the checkout, on a fresh KNIT_HOME and
config — and must exit 0 having trained and evaluated for real; then its evaluation datum is
looked up with the public commands, and its lineage walked back, run by run, to the uploads.
The `knitd` fixture (not called: quickstart starts its own knitd) stops that knitd at teardown
and removes the containers labelled with the home.
"""

from __future__ import annotations

import json

import pytest

from conftest import PYTHON_IMAGE, REPO, require_images

QUICKSTART_TIMEOUT = 600


@pytest.fixture
def quickstart(cli, knit_home, docker_client, knitd):
    """One quickstart run on a fresh home: (Result, the metrics datum as `data find -o json` gives it)."""
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get("python:3.11-slim")
    except ImageNotFound:  # no registry here: the quickstart falls back to the offline image
        require_images(docker_client, PYTHON_IMAGE)
    r = cli("quickstart", cwd=REPO, timeout=QUICKSTART_TIMEOUT)
    assert r.code == 0, str(r)
    found = cli("data", "find", "-t", "project:quickstart", "-t", "type:metrics", "-o", "json")
    assert found.code == 0, str(found)
    return r, found.json()


def test_quickstart_trains_and_prints_metrics_and_lineage(quickstart):
    r, metrics = quickstart
    assert len(metrics) == 1, metrics
    m = metrics[0]
    assert {"project:quickstart", "type:metrics"} <= set(m["tags"])
    assert m["status"] == "done"
    # stdout: the metrics the evaluation wrote, then the lineage tree; stderr: progress and what to try next
    assert f"metrics ({m['knit_id']}):" in r.out
    doc = json.loads(r.out.split(f"metrics ({m['knit_id']}):", 1)[1].split("\nlineage:", 1)[0])
    assert doc["accuracy"] >= 0.8, doc  # a real model that learnt something
    assert doc["test_rows"] == sum(map(sum, doc["confusion"]))
    assert f"data {m['knit_id']} project:quickstart type:metrics" in r.out
    for step in ("prepare", "train", "evaluate"):
        assert f"of {step}" in r.err
    assert "knitctl tui" in r.err and "run log" in r.err and f"data lineage {m['knit_id']} -o dot" in r.err


def test_quickstart_lineage_is_three_runs_back_to_the_upload(quickstart, cli):
    _, metrics = quickstart
    metrics_id = metrics[0]["knit_id"]
    r = cli("data", "lineage", metrics_id, "-u", "-n", "all", "-o", "json")
    assert r.code == 0, str(r)
    g = r.json()
    runs = {n["id"]: n for n in g["nodes"] if n["kind"] == "run"}
    data = {n["id"]: n for n in g["nodes"] if n["kind"] == "data"}
    made_by = {e["to"]["id"]: e["from"]["id"] for e in g["edges"] if e["from"]["kind"] == "run"}
    inputs = {}  # run id -> {mount path: datum id}
    for e in g["edges"]:
        if e["from"]["kind"] == "data":
            inputs.setdefault(e["to"]["id"], {})[e["path"]] = e["from"]["id"]

    def plan_entrypoint(plan_id: str) -> str:
        p = cli("plan", "show", plan_id, "-o", "json")
        assert p.code == 0, str(p)
        return p.json()["entrypoint"][-1]

    # metrics <- evaluate <- (model) <- train <- (prepared) <- prepare <- (raw) <- upload
    chain = []
    datum = metrics_id
    for mount in ("/in/model", "/in/data", "/in/raw"):
        run = runs[made_by[datum]]
        assert run["status"] == "done", run
        chain.append(plan_entrypoint(run["plan_id"]))
        datum = inputs[run["id"]][mount]
    assert chain == ["/in/code/evaluate.py", "/in/code/train.py", "/in/code/prepare.py"]
    upload = runs[made_by[datum]]
    assert upload["plan_id"] == "knit#uploaded"
    assert "type:raw" in data[datum]["tags"]
    # three plan runs in all; every other upstream run is an upload (the raw data and the code)
    plan_runs = [r for r in runs.values() if r["plan_id"] != "knit#uploaded"]
    assert len(plan_runs) == 3
    assert len({r["plan_id"] for r in plan_runs}) == 3
    code = [d for d in data.values() if "type:code" in d["tags"]]
    assert len(code) == 1 and runs[made_by[code[0]["id"]]]["plan_id"] == "knit#uploaded"
