"""Marking bad data under a real knitd in Docker (issue 17's "mark bad data on an upload with a two-level
downstream"): every descendant marked, none nominated, a run finishing from a marked input (knitd's finish)
makes marked output, and unmark restores nomination without re-running anything that already ran."""

from __future__ import annotations

import json

import pytest

from conftest import BUSYBOX_IMAGE, catalog_rows, make_tree, require_images, wait_run


@pytest.fixture
def knitd(knitd, docker_client):
    require_images(docker_client, BUSYBOX_IMAGE)
    return knitd


def plan(cli, tmp_path, name: str, inputs: list[str], out_tag: str) -> str:
    doc = {"image": BUSYBOX_IMAGE, "args": ["sh", "-c", "cp -r /in/. /out/ && echo step >> /out/steps"],
           "inputs": [{"path": "/in", "tags": inputs}], "outputs": [{"path": "/out", "tags": [out_tag]}]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(doc))
    r = cli("plan", "apply", path, "-o", "json")
    assert r.code == 0, r
    return r.json()["plan_id"]


def runs(home, plan_id: str) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in catalog_rows(home, "SELECT run_id, status, assignment FROM run WHERE plan_id = ? ORDER BY created_ms", (plan_id,))]


def outputs(home, run_id: str) -> list[str]:
    return [r[0] for r in catalog_rows(home, "SELECT knit_id FROM data WHERE run_id = ?", (run_id,))]


def tags_of(cli, knit_id: str) -> list[str]:
    r = cli("data", "show", knit_id, "-o", "json")
    assert r.code == 0, r
    return r.json()["tags"]


def test_mark_bad_a_two_level_downstream_then_unmark(cli, knitd, knit_home, tmp_path):
    knitd()
    src = make_tree(tmp_path / "raw", {"x.txt": "rows"})
    r = cli("data", "push", src, "-t", "kind:raw", "-o", "json")
    assert r.code == 0, r
    u = r.json()[0]["knit_id"]
    a = plan(cli, tmp_path, "a", ["kind:raw"], "kind:mid")
    (ra, _, _), = runs(knit_home, a)
    assert wait_run(knit_home, ra)["status"] == "done"
    (mid,) = outputs(knit_home, ra)
    b = plan(cli, tmp_path, "b", ["kind:mid"], "kind:final")
    (rb, _, _), = runs(knit_home, b)
    assert wait_run(knit_home, rb)["status"] == "done"
    (final,) = outputs(knit_home, rb)

    r = cli("data", "mark-bad", u, "--reason", "rows shifted", "-o", "json")
    assert r.code == 0, r
    assert {x["knit_id"] for x in r.json()} == {u, mid, final}
    for k in (u, mid, final):
        assert f"knit#bad:{u}" in tags_of(cli, k)

    # none nominated: plans that would take them get no run
    c = plan(cli, tmp_path, "c", ["kind:final"], "kind:report")
    d = plan(cli, tmp_path, "d", ["kind:raw"], "kind:other")
    assert runs(knit_home, c) == [] and runs(knit_home, d) == []

    # a plan asking for the marked data takes them; knitd's finish marks what it made
    audit = plan(cli, tmp_path, "audit", ["kind:mid", f"knit#bad:{u}"], "kind:audit")
    (raudit, _, _), = runs(knit_home, audit)
    assert wait_run(knit_home, raudit)["status"] == "done"
    (audited,) = outputs(knit_home, raudit)
    assert f"knit#bad:{u}" in tags_of(cli, audited)

    before = {p: runs(knit_home, p) for p in (a, b, audit)}
    r = cli("data", "unmark", u)
    assert r.code == 0, r
    for k in (u, mid, final, audited):
        assert not any(t.startswith("knit#bad:") for t in tags_of(cli, k))
    # nominated again: c and d run now, once each; a, b and the audit plan do not run again
    (rc, _, ac), = runs(knit_home, c)
    (rd, _, ad), = runs(knit_home, d)
    assert ac == f"/in={final}" and ad == f"/in={u}"
    assert wait_run(knit_home, rc)["status"] == "done" and wait_run(knit_home, rd)["status"] == "done"
    assert {p: runs(knit_home, p) for p in (a, b, audit)} == before
