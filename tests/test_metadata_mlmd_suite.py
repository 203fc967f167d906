"""ml-metadata 1.17.1's own Python test suite, run against knitctl.metadata.

The suite ships inside the ml-metadata wheel (`ml_metadata/metadata_store/metadata_store_test.py`).
It is copied out of the installed wheel at test time (never kept in this repository), its three
import lines are pointed at knit, and it runs in a pytest subprocess with `--runxfail`, so the two
tests ml-metadata itself marks as not run (its schema downgrade and upgrade tests) run here too:
108 tests with the parameterised cases. Every test must pass except those in KNOWN_EXCEPTIONS —
each with the reason, the same list the README gives — and the count is printed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import mlmd_venv

SUITE = "ml_metadata/metadata_store/metadata_store_test.py"
IMPORTS = {
    "import ml_metadata as mlmd": "import knitctl.metadata as mlmd",
    "from ml_metadata import errors": "from knitctl.metadata import errors",
    "from ml_metadata.proto import metadata_store_pb2": "from knitctl.metadata import metadata_store_pb2",
}
EXPECTED_TESTS = 108

# Tests of ml-metadata's suite that knit fails on purpose, and why (the README lists the same). None:
# the two ml-metadata itself does not run (its schema downgrade and upgrade tests) pass too.
KNOWN_EXCEPTIONS: dict[str, str] = {}


def ported_suite(dest: Path) -> Path:
    """Copy the wheel's suite (and its conftest, for the options it reads) into `dest`, imports changed."""
    package_dir = mlmd_venv.site_packages() / "ml_metadata" / "metadata_store"
    text = (package_dir / "metadata_store_test.py").read_text()
    lines = text.splitlines(keepends=True)
    for old, new in IMPORTS.items():
        hits = [i for i, line in enumerate(lines) if line.rstrip("\n") == old]
        assert len(hits) == 1, f"the suite's import line {old!r} appears {len(hits)} times; the wheel changed?"
        lines[hits[0]] = new + "\n"
    changed = [i for i, (a, b) in enumerate(zip(text.splitlines(), "".join(lines).splitlines())) if a != b]
    assert len(changed) == 3
    (dest / "metadata_store_test.py").write_text("".join(lines))
    (dest / "conftest.py").write_text((package_dir / "conftest.py").read_text())
    (dest / "pytest.ini").write_text("[pytest]\n")
    return dest / "metadata_store_test.py"


def outcomes(junit: Path) -> dict[str, str]:
    """test name -> passed / failed / skipped, from a JUnit XML report."""
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name")
        kinds = {child.tag for child in case}
        result[name] = ("failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed")
    return result


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    try:
        mlmd_venv.python()
    except mlmd_venv.Unavailable as e:
        pytest.fail(f"ml-metadata {mlmd_venv.VERSION} is needed to run its suite: {e}")
    work = tmp_path_factory.mktemp("mlmd-suite")
    suite = ported_suite(work)
    junit = work / "junit.xml"
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--runxfail", "-c", str(work / "pytest.ini"),
         "--rootdir", str(work), f"--junitxml={junit}", str(suite)],
        capture_output=True, text=True, cwd=work, timeout=900,
    )
    assert junit.exists(), f"the suite did not run (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return outcomes(junit), r


def test_the_readme_lists_the_known_exceptions():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    listed = set(re.findall(r"^\| `(test_\w+)` \|", readme, re.M))
    assert listed == set(KNOWN_EXCEPTIONS)


def test_only_the_three_import_lines_change(tmp_path):
    try:
        original = (mlmd_venv.site_packages() / SUITE).read_text().splitlines()
    except mlmd_venv.Unavailable as e:
        pytest.fail(str(e))
    ported = ported_suite(tmp_path).read_text().splitlines()
    assert len(original) == len(ported)
    assert {(a, b) for a, b in zip(original, ported) if a != b} == set(IMPORTS.items())


def test_ml_metadata_suite_passes_on_knit(suite_run, capsys):
    results, run = suite_run
    passed = sorted(n for n, o in results.items() if o == "passed")
    failed = sorted(n for n, o in results.items() if o != "passed")
    line = (f"ml-metadata {mlmd_venv.VERSION}'s own suite on knitctl.metadata: {len(passed)} of {len(results)} pass; "
            f"not passing: {', '.join(failed) or 'none'} ({len(KNOWN_EXCEPTIONS)} known exceptions, see the README)")
    with capsys.disabled():  # printed in every run, CI's included
        print(f"\n{line}")
    assert len(results) == EXPECTED_TESTS, f"the suite ran {len(results)} tests, not {EXPECTED_TESTS}:\n{run.stdout[-3000:]}"
    assert failed == sorted(KNOWN_EXCEPTIONS), (
        f"failing: {failed}; known exceptions: {sorted(KNOWN_EXCEPTIONS)}\n{run.stdout[-6000:]}"
    )
