"""scripts/check: one entry point; a wrong command is one line and exit 2; test-fast deselects
exactly the markers tests/markers.py applies."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import markers

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "check"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO, timeout=60)


def test_an_unknown_command_is_one_line_and_exit_2():
    r = _run("tests-fast")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.strip().count("\n") == 0
    assert "unknown command 'tests-fast'" in r.stderr and "test-fast" in r.stderr


def test_help_lists_the_commands():
    r = _run("--help")
    assert r.returncode == 0
    for line in ("scripts/check    ", "scripts/check test-fast", "scripts/check test    "):
        assert line in r.stdout


def test_test_fast_deselects_every_marker_the_hook_applies():
    expr = re.search(r'-m "([^"]+)"', SCRIPT.read_text().split("test-fast)", 1)[1]).group(1)
    applied = set(markers.markers_for(markers.DOCKER_FIXTURES | markers.KUBERNETES_FIXTURES,
                                      next(iter(markers.SLOW_MODULES))))
    assert {f"not {m}" for m in applied} == set(expr.split(" and "))


def test_ci_runs_the_checks_after_the_readmes_test_command_and_fails_on_a_finding():
    readme = (REPO / "README.md").read_text()
    command = re.search(r"```sh\n(bash packaging/docker-engine\.sh[^\n]*)\n```", readme).group(1)
    ci = (REPO / ".ci" / "run").read_text()
    assert command in ci  # the README's test command, exactly
    after = ci.split(command, 1)[1]
    assert re.search(r'^\[ "\$status" -ne 0 \] \|\| scripts/check \|\| status=\$\?$', after, re.M)
    assert after.rstrip().endswith('exit "$status"')
