"""The prepare → train → evaluate chain the Docker and Kubernetes chain tests both run:
its task scripts, its three plans, and the upload that drives it."""

from __future__ import annotations

from pathlib import Path

from conftest import PYTHON_IMAGE, apply_plan

PREPARE = """
import csv, numpy as np
rows = list(csv.reader(open('/in/points.csv')))[1:]
xy = np.array(rows, dtype=float)
xy[:, 0] = (xy[:, 0] - xy[:, 0].mean()) / xy[:, 0].std()
np.save('/out/xy.npy', xy)
print(f'prepare: {len(xy)} rows')
"""

TRAIN = """
import json, numpy as np
xy = np.load('/data/xy.npy')
a, b = np.polyfit(xy[:, 0], xy[:, 1], 1)
json.dump({'a': a, 'b': b}, open('/model/model.json', 'w'))
print(f'train: a={a:.3f} b={b:.3f}')
"""

EVALUATE = """
import json, numpy as np
xy = np.load('/data/xy.npy')
m = json.load(open('/model/model.json'))
mse = float(np.mean((m['a'] * xy[:, 0] + m['b'] - xy[:, 1]) ** 2))
json.dump({'mse': mse, 'n': len(xy)}, open('/metrics/metrics.json', 'w'))
print(f'evaluate: mse={mse:.6f}')
"""


def apply_chain(session) -> tuple[str, str, str]:
    """The three plans, chained by tags, each keeping its log; their ids (prepare, train, evaluate)."""
    def py(code: str) -> dict:
        return {"image": PYTHON_IMAGE, "args": ["python3", "-c", code]}

    prepare = apply_plan(session, {"/in": ["kind:points"]}, {"/out": ["kind:prepared"]},
                         log=["kind:log", "step:prepare"], **py(PREPARE)).plan.plan_id
    train = apply_plan(session, {"/data": ["kind:prepared"]}, {"/model": ["kind:model"]},
                       log=["kind:log", "step:train"], **py(TRAIN)).plan.plan_id
    evaluate = apply_plan(session, {"/data": ["kind:prepared"], "/model": ["kind:model"]},
                          {"/metrics": ["kind:metrics"]}, log=["kind:log", "step:evaluate"], **py(EVALUATE)).plan.plan_id
    return prepare, train, evaluate


def push_points(cli, tmp_path: Path) -> str:
    """Push the points (y = 3x + 1) through the real CLI; the upload's knit id."""
    src = tmp_path / "points"
    src.mkdir()
    (src / "points.csv").write_text("x,y\n" + "".join(f"{x},{3 * x + 1}\n" for x in range(10)))
    pushed = cli("data", "push", "-t", "kind:points", str(src), "-o", "json")
    assert pushed.code == 0, pushed
    return pushed.json()[0]["knit_id"]
