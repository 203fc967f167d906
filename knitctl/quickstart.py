"""`knitctl quickstart`: a real three-plan pipeline on the embedded default, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from . import assets, knitd, lineage, render
from . import data as data_api
from .catalog import plans as plan_rows
from .errors import KnitError
from .plans import registry
from .plans.spec import load_plan
from .session import Session

PROJECT = "project:quickstart"
PLAN_FILES = ("prepare.yaml", "train.yaml", "evaluate.yaml")


def examples_dir() -> Path:
    """The examples shipped in the package (KNIT_EXAMPLES names another copy, for trying changes)."""
    chosen = os.environ.get("KNIT_EXAMPLES")
    ex = Path(chosen) if chosen else assets.path("examples")
    if not (ex / "quickstart" / "plans").is_dir():
        where = f"KNIT_EXAMPLES={chosen}" if chosen else f"the installed package ({ex})"
        fix = "point KNIT_EXAMPLES at a directory holding quickstart/ and iris/, or unset it" if chosen else "reinstall knit"
        raise KnitError(f"no quickstart examples in {where}: {fix}")
    return ex


def push_example(session: Session, src: Path, tags: list[str]) -> data_api.Datum:
    """Push an example directory through a temporary copy: the package holding it may lie inside
    KNIT_HOME (install.sh puts its virtualenv there), and pushes from inside the store's home are refused."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="knit-quickstart-") as tmp:
        staged = Path(tmp) / src.name
        shutil.copytree(src, staged, symlinks=False)
        return data_api.push(session, [staged], tags)[0]


def ensure_image(image: str, say) -> str:
    r = subprocess.run([sys.executable, "-m", "daemon.images", image, "--fallback", "python"],
                       stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    if r.returncode != 0:
        raise KnitError(f"no usable image for {image}; see the messages above")
    return r.stdout.strip().splitlines()[-1]


def run(session: Session, say, *, timeout: float = 600) -> dict:
    ex = examples_dir()
    qs = ex / "quickstart"
    specs = [load_plan(str(qs / "plans" / f)) for f in PLAN_FILES]
    image = ensure_image(specs[0].image, say)
    if image != specs[0].image:
        specs = [replace(s, image=image) for s in specs]
    pid = knitd.start(session.home)
    say(f"knitd is running (pid {pid})")
    for kind, src in (("type:raw", ex / "iris"), ("type:code", qs / "code")):
        have = data_api.find(session, [PROJECT, kind])
        if have:
            say(f"{kind} data already pushed: {have[0].knit_id}")
        else:
            d = push_example(session, src, [PROJECT, kind, f"name:{src.name}"])
            say(f"pushed {src} as {d.knit_id} ({kind})")
    plan_ids = []
    for f, spec in zip(PLAN_FILES, specs):
        res = registry.apply(session, spec)
        plan_ids.append(res.plan.plan_id)
        say(f"plan {res.plan.plan_id} ({f}) {'applied' if res.created else 'exists'}")
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    while True:
        rows = plan_rows.runs_in(session.catalog.conn, plan_ids)
        for run_id, plan_id, status in rows:
            if shown.get(run_id) != status:
                shown[run_id] = status
                say(f"  run {run_id} of {PLAN_FILES[plan_ids.index(plan_id)].removesuffix('.yaml'):8s} {status}")
        failed = [r for r in rows if r[2] == "failed"]
        if failed:
            raise KnitError(f"run {failed[0][0]} failed; `knitctl run show {failed[0][0]}` and `knitctl run log {failed[0][0]}` say why")
        metrics = data_api.find(session, [PROJECT, "type:metrics"])
        if metrics:
            break
        if time.monotonic() > deadline:
            raise KnitError("the pipeline did not finish in time; `knitctl run find` shows where it is")
        time.sleep(0.3)
    m = metrics[-1]
    g = lineage.walk(session, "data", m.knit_id, up=True, down=False, depth=None)
    metrics_text = (session.store.path_of(m.knit_id) / "metrics.json").read_text()
    return {"metrics_id": m.knit_id, "metrics": metrics_text, "tree": render.to_tree(g.to_dict())}
