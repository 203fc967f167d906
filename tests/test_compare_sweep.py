"""The issue's sweep, for real: 4 hyper-parameter data × 1 dataset through train → evaluate in Docker
(busybox sh tasks run by knitd), then `knitctl data compare -t type:metrics` shows a row per run with
its parameter and what the run wrote; sorted, as JSON and as CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import BUSYBOX_IMAGE, apply_plan, catalog_rows, require_images, wait_until

LRS = ["0.1", "0.03", "0.3", "0.01"]

# train: the learning rate from params.json and the dataset's row count into model.txt (not a metrics file)
TRAIN = ("lr=$(sed -n 's/.*\"lr\": *\\([0-9.]*\\).*/\\1/p' /in/params/params.json); "
         "rows=$(($(wc -l < /in/data/points.csv) - 1)); "
         "echo \"lr=$lr rows=$rows\" > /out/model.txt")
# evaluate: an accuracy that depends on the learning rate, written as metrics.json
EVALUATE = ("eval $(cat /in/model/model.txt); "
            "awk -v lr=$lr -v rows=$rows 'BEGIN { printf \"{\\\"accuracy\\\": %.4f, \\\"rows\\\": %d}\\n\", 0.99 - (lr - 0.03) * (lr - 0.03) * 4, rows }' "
            "> /out/metrics.json")


@pytest.fixture
def sweep(cli, knit_home, knitd, docker_client, session, tmp_path):
    """The sweep run to its end by knitd; {lr: metrics datum id}."""
    require_images(docker_client, BUSYBOX_IMAGE)
    sh = {"image": BUSYBOX_IMAGE}
    apply_plan(session, {"/in/params": ["type:params"], "/in/data": ["type:dataset"]}, {"/out": ["type:model"]},
               args=["sh", "-c", TRAIN], **sh)
    evaluate = apply_plan(session, {"/in/model": ["type:model"], "/in/data": ["type:dataset"]},
                          {"/out": ["type:metrics"]}, args=["sh", "-c", EVALUATE], **sh).plan.plan_id
    knitd(parallelism=2)
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "points.csv").write_text("x,y\n" + "".join(f"{x},{2 * x}\n" for x in range(12)))
    assert cli("data", "push", "-t", "type:dataset", str(data)).code == 0
    dirs = []
    for lr in LRS:
        d = tmp_path / f"params-{lr}"
        d.mkdir()
        (d / "params.json").write_text(json.dumps({"lr": float(lr), "batch": 32}))
        dirs.append(str(d))
    pushed = cli("data", "push", "-t", "type:params", *dirs, "-o", "json")
    assert pushed.code == 0, pushed

    def done():
        rows = catalog_rows(knit_home, "SELECT status FROM run WHERE plan_id = ?", (evaluate,))
        assert not any(s == "failed" for (s,) in rows), rows
        return len(rows) == len(LRS) and all(s == "done" for (s,) in rows)

    wait_until(done, timeout=180, what="the 4 evaluate runs done", home=knit_home)
    written = {}
    for (kid,) in catalog_rows(knit_home, "SELECT d.knit_id FROM data d JOIN run r ON r.run_id = d.run_id "
                                          "WHERE r.plan_id = ? AND d.output_path = '/out'", (evaluate,)):
        written[kid] = json.loads((knit_home / "data" / kid / "metrics.json").read_text())
    return written


def test_compare_the_sweep(cli, sweep):
    r = cli("data", "compare", "-t", "type:metrics", "-o", "json")
    assert r.code == 0, r
    doc = r.json()
    kinds = {c["name"]: c["kind"] for c in doc["columns"]}
    assert kinds["params/lr"] == "parameter" and kinds["accuracy"] == kinds["rows"] == "metric"
    assert "params/batch" not in kinds and "data" not in kinds      # the same in every row: not shown
    rows = doc["rows"]
    assert len(rows) == 4
    assert sorted(row["params/lr"] for row in rows) == sorted(float(lr) for lr in LRS)
    for row in rows:
        assert row["accuracy"] == sweep[row["id"]]["accuracy"] and row["rows"] == 12
        assert row["accuracy"] == round(0.99 - (row["params/lr"] - 0.03) ** 2 * 4, 4)
    assert doc["unreadable"] == []
    assert r.err == ""

    best_first = cli("data", "compare", "-t", "type:metrics", "--sort", "-accuracy", "-o", "json").json()["rows"]
    assert [row["accuracy"] for row in best_first] == sorted((w["accuracy"] for w in sweep.values()), reverse=True)
    assert best_first[0]["params/lr"] == 0.03

    r = cli("data", "compare", "-t", "type:metrics", "--sort", "lr", "-o", "csv")
    assert r.code == 0, r
    table = list(csv.DictReader(io.StringIO(r.out)))
    assert [float(row["params/lr"]) for row in table] == sorted(float(lr) for lr in LRS)
    assert [float(row["accuracy"]) for row in table] == [sweep[row["id"]]["accuracy"] for row in table]

    r = cli("data", "compare", "-t", "type:metrics", "--sort", "accuracy", "-o", "table")
    assert r.code == 0, r
    header, *lines = r.out_lines
    assert header.split() == ["ID", "PARAMS/LR", "ACCURACY", "ROWS"]    # the models differ because the params do
    assert [float(line.split()[2]) for line in lines] == sorted(w["accuracy"] for w in sweep.values())
