"""Knitfab's spellings where they cost little, relative --since, and their bad input."""

from __future__ import annotations

import pytest

from knitctl.errors import UsageError
from knitctl.times import since_ms

from conftest import make_tree

PLAN = """\
image: knit/busybox:1
entrypoint: ["true"]
inputs:
  - path: /in
    tags: ["project:sp"]
outputs:
  - path: /out
    tags: ["project:sp-out"]
"""


def test_since_takes_how_long_ago():
    now = 10 * 86_400_000
    assert since_ms("2h", now_ms=now) == now - 2 * 3_600_000
    assert since_ms("3d", now_ms=now) == now - 3 * 86_400_000
    assert since_ms("1h30m", now_ms=now) == now - 90 * 60_000
    assert since_ms("2026-03-01T10:00:00Z") == 1_772_359_200_000
    with pytest.raises(UsageError, match="like 2h or 3d"):
        since_ms("soon")


@pytest.fixture
def waiting_run(cli, tmp_path):
    """A run made by pushing data for an active plan, with no knitd to start it."""
    (tmp_path / "p.yaml").write_text(PLAN)
    assert cli("plan", "apply", tmp_path / "p.yaml").code == 0
    src = make_tree(tmp_path / "d", {"a": "1\n"})
    assert cli("data", "push", src, "-t", "project:sp").code == 0
    (run,) = cli("run", "find", "-o", "json").json()
    return run


def test_find_with_relative_since_and_knitfab_flags(cli, waiting_run):
    rid, pid = waiting_run["run_id"], waiting_run["plan_id"]
    assert [r["run_id"] for r in cli("run", "find", "--since", "1h", "-o", "json").json()] == [rid]
    inp = waiting_run["inputs"][0]["knit_id"]
    assert [r["run_id"] for r in cli("run", "find", "--planid", pid, "--in-knitid", inp, "-o", "json").json()] == [rid]
    assert len(cli("data", "find", "--since", "1h", "-t", "project:sp", "-o", "json").json()) == 1
    assert len(cli("data", "find", "--transient", "false", "-t", "project:sp", "-o", "json").json()) == 1
    assert cli("data", "find", "--transient", "true", "-t", "project:sp", "-o", "json").json() == []


def test_run_stop_dash_x_fails_the_run(cli, waiting_run):
    r = cli("run", "stop", waiting_run["run_id"], "-x")
    assert r.code == 0 and "is failed" in r.err, str(r)


def test_run_show_log(cli, waiting_run):
    r = cli("run", "show", waiting_run["run_id"], "--log")
    assert r.code == 0 and waiting_run["run_id"] in r.out, str(r)


@pytest.mark.parametrize("args,expect", [
    (["data", "find", "--since", "soon"], "2h or 3d"),
    (["run", "find", "--since", "yesterday-ish"], "2h or 3d"),
    (["data", "find", "--transient", "maybe"], "true, false"),
    (["run", "show", "0123456789ab", "-f"], "give --log too"),
    (["run", "show", "0123456789ab", "--log", "-o", "json"], "leave out -o json"),
])
def test_bad_input_for_the_new_flags_is_one_line(cli, args, expect):
    assert cli("init").code == 0
    r = cli(*args)
    assert r.code == 2 and len(r.err_lines) == 1 and expect in r.err and "Traceback" not in r.err, str(r)
    assert r.out == ""
