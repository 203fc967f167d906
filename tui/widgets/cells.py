"""A table row's cells, from its catalog values and the time now. Pure."""

from __future__ import annotations

from rich.text import Text

from knitctl import runstate
from knitctl.catalog.records import UPLOAD_PLAN

from .. import format as fmt
from ..query import Row

MAX_TAGS = 64


def _clip(text: str, n: int) -> str:
    text = fmt.clean(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def run_cells(row: Row, now_ms: int) -> list:
    v = row.values
    live = v["status"] not in runstate.TERMINAL
    inputs = " ".join(f"{p}={k}" for p, k in v["inputs"]) or ("(upload)" if v["plan_id"] == UPLOAD_PLAN else "")
    return [
        Text(fmt.clean(v["run_id"]), style="bold"),
        Text(fmt.clean(v["plan_id"]) if v["plan_id"] != UPLOAD_PLAN else "upload"),
        Text(_clip(v["image"] or "", 28), style="dim"),
        fmt.status(v["status"]),
        Text(_clip(inputs, 48)),
        Text(fmt.age(v["created_ms"], now_ms), justify="right"),
        Text(fmt.duration(v["started_ms"], v["finished_ms"], now_ms, live), justify="right"),
    ]


def data_cells(row: Row, now_ms: int) -> list:
    v = row.values
    producer = "upload" if v["plan_id"] == UPLOAD_PLAN else f"{v['run_id']} ({v['plan_id']})"
    return [
        Text(fmt.clean(v["knit_id"]), style="bold red" if v.get("bad") else "bold"),
        Text(_clip(" ".join(v["tags"]), MAX_TAGS)),
        fmt.status(v["status"]),
        Text(fmt.size(v["size"]), justify="right"),
        Text(fmt.clean(producer), style="dim" if v["plan_id"] == UPLOAD_PLAN else ""),
        Text(fmt.age(v["created_ms"], now_ms), justify="right"),
    ]


def _mounts(mounts) -> str:
    return "  ".join(f"{p}: {','.join(t) if t else '-'}" for p, t in mounts)


RUN_COUNT_ORDER = ("running", "starting", "ready", "waiting", "deactivated", "completing", "aborting", "done",
                   "failed", "invalidated")


def plan_cells(row: Row, now_ms: int) -> list:
    v = row.values
    runs = Text()
    for status in RUN_COUNT_ORDER:
        n = v["runs"].get(status)
        if n:
            if runs.plain:
                runs.append(" ")
            runs.append(f"{status} {n}", style=fmt.STATUS_STYLE.get(status, ""))
    return [
        Text(fmt.clean(v["plan_id"]), style="bold"),
        Text(_clip(v["image"] or "", 28)),
        Text(_clip(_mounts(v["inputs"]), 48)),
        Text(_clip(_mounts(v["outputs"]), 48)),
        Text("yes", style="green") if v["active"] else Text("no", style="dim"),
        runs,
    ]


RENDER = {"runs": run_cells, "data": data_cells, "plans": plan_cells}
TIMED = {"runs": ("age", "duration"), "data": ("age",), "plans": ()}
