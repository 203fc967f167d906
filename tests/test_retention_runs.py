"""knitd applies the config's retention rules on their schedule, with a real run in Docker holding its input:
the input of a running run survives until the run finishes, pinned data always survive, and lineage and the
metadata of dropped data stay."""

from __future__ import annotations

import json
import os

import pytest

from conftest import BUSYBOX_IMAGE, catalog_rows, make_tree, require_images, wait_run, wait_until


@pytest.fixture
def knitd(knitd, docker_client):
    require_images(docker_client, BUSYBOX_IMAGE)
    return knitd


def push(cli, tmp_path, name: str, *tags: str) -> str:
    src = make_tree(tmp_path / name, {"x.bin": "x" * 4096})
    r = cli("data", "push", src, *sum((["-t", t] for t in tags), []), "-o", "json")
    assert r.code == 0, r
    return r.json()[0]["knit_id"]


def state(home, knit_id: str) -> str | None:
    rows = catalog_rows(home, "SELECT state FROM data_drop WHERE knit_id = ?", (knit_id,))
    return rows[0][0] if rows else None


def test_knitd_applies_the_rules_on_schedule_and_spares_inputs_in_use_and_pinned(cli, knitd, knit_home, tmp_path):
    config = os.environ["KNIT_CONFIG"]
    with open(config, "w") as f:
        f.write("retention:\n  rules:\n    - keep-newest: 1\n      tags: [kind:scratch]\n  every: 1s\n")
    pinned = push(cli, tmp_path, "pinned", "kind:scratch", "keep:true")
    held = push(cli, tmp_path, "held", "kind:scratch", "kind:hold")
    doc = {"image": BUSYBOX_IMAGE, "args": ["sh", "-c", "sleep 600"],
           "inputs": [{"path": "/in", "tags": ["kind:hold"]}], "outputs": [{"path": "/out", "tags": ["kind:out"]}]}
    (tmp_path / "hold.yaml").write_text(json.dumps(doc))
    r = cli("plan", "apply", tmp_path / "hold.yaml", "-o", "json")
    assert r.code == 0, r
    (run_id,) = [x[0] for x in catalog_rows(knit_home, "SELECT run_id FROM run WHERE plan_id = ?", (r.json()["plan_id"],))]
    older = push(cli, tmp_path, "older", "kind:scratch")
    newest = push(cli, tmp_path, "newest", "kind:scratch")
    knitd()
    wait_run(knit_home, run_id, ("running",))
    wait_until(lambda: state(knit_home, older) == "dropped", what="knitd's scheduled gc dropping the older datum")
    assert not (knit_home / "data" / older).exists()
    # the running run's input and the pinned datum stay; so does the newest
    for k in (held, pinned, newest):
        assert state(knit_home, k) is None and (knit_home / "data" / k).is_dir()
    r = cli("run", "stop", run_id)
    assert r.code == 0, r
    assert wait_run(knit_home, run_id)["status"] == "done"
    wait_until(lambda: state(knit_home, held) == "dropped", what="the held input dropped once its run finished")
    assert state(knit_home, pinned) is None and state(knit_home, newest) is None
    # lineage and metadata stay: the run still shows the input it took, the datum says why it is gone
    r = cli("data", "lineage", held, "-o", "json")
    assert r.code == 0, r
    nodes = {n["id"]: n for n in r.json()["nodes"]}
    assert nodes[held]["dropped"]["rule"] == "keep-newest 1 [kind:scratch]" and run_id in nodes
    r = cli("data", "pull", held, tmp_path / "out")
    assert r.code == 1 and "dropped by gc" in r.err
