"""ml-metadata 1.17.1's own test suite, run over gRPC by the real ml-metadata client against
`knitctl metadata serve`.

The suite is copied unchanged out of the wheel and run by ml-metadata's interpreter with its own
flags `--use_grpc_backend --grpc_host 127.0.0.1 --grpc_port N`: every `MetadataStore` it opens is
ml-metadata's gRPC client talking to knit's server (over an SQLite file, one store per server
thread). 108 tests; every one must pass except KNOWN_EXCEPTIONS, each with its reason (the README
lists the same), and the count is printed. The four exceptions are mistakes in the suite's own
gRPC-only tests, which never reach a server; what each meant to check is checked against knit's
server in test_metadata_grpc_server.py.

The same suite, ported to knitctl.metadata (as test_metadata_mlmd_suite does), runs over gRPC too:
knit's own client (`MetadataStore(MetadataStoreClientConfig(...))`) against knit's server.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import metadata_server
import pytest
from test_metadata_mlmd_suite import EXPECTED_TESTS, outcomes, ported_suite

import mlmd_venv

pytestmark = pytest.mark.slow

_NO_CLI_ARGS = ("calls _get_metadata_store() without its cli_args argument: a TypeError in the test itself "
                "(the behaviour is checked in test_metadata_grpc_server.py)")
KNOWN_EXCEPTIONS: dict[str, str] = {
    "test_connection_config_with_grpc_client_timeout_sec_errors": _NO_CLI_ARGS,
    "test_connection_config_with_grpc_http2_max_ping_strikes": _NO_CLI_ARGS,
    "test_connection_config_with_grpc_max_receive_message_length": _NO_CLI_ARGS,
    "test_connection_config_with_grpc_max_receive_message_length_errors": (
        "reads self.self.cli_args: an AttributeError in the test itself (the behaviour is checked in "
        "test_metadata_grpc_server.py)"),
}


def _mlmd_with_pytest() -> Path:
    """ml-metadata's interpreter, with pytest (the suite's runner) installed beside it once."""
    py = mlmd_venv.python()
    if subprocess.run([str(py), "-c", "import pytest"], capture_output=True).returncode != 0:
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "pytest>=8"],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"could not install pytest into ml-metadata's virtualenv: {r.stderr[-500:]}"
    return py


def _run_over_grpc(py, work: Path):
    served = metadata_server.start("--sqlite", str(work / "served.db"), home=work / "home")
    try:
        junit = work / "junit.xml"
        r = subprocess.run(
            [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--runxfail", "-c", str(work / "pytest.ini"),
             "--rootdir", str(work), f"--junitxml={junit}", str(work / "metadata_store_test.py"),
             "--use_grpc_backend", "--grpc_host", "127.0.0.1", "--grpc_port", str(served.port)],
            capture_output=True, text=True, cwd=work, timeout=900,
        )
    finally:
        log = served.stop()
    assert junit.exists(), f"the suite did not run (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return outcomes(junit), r, log


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    """ml-metadata's client (the suite as the wheel ships it, run by ml-metadata's interpreter)."""
    try:
        py = _mlmd_with_pytest()
    except mlmd_venv.Unavailable as e:
        pytest.fail(f"ml-metadata {mlmd_venv.VERSION} is needed to run its suite: {e}")
    work = tmp_path_factory.mktemp("mlmd-grpc-suite")
    package_dir = mlmd_venv.site_packages() / "ml_metadata" / "metadata_store"
    for name in ("metadata_store_test.py", "conftest.py"):
        (work / name).write_text((package_dir / name).read_text())
    (work / "pytest.ini").write_text("[pytest]\n")
    return _run_over_grpc(py, work)


@pytest.fixture(scope="module")
def knit_client_run(tmp_path_factory):
    """knit's client (the suite with its imports pointed at knitctl.metadata, run by knit's interpreter)."""
    work = tmp_path_factory.mktemp("knit-grpc-suite")
    try:
        ported_suite(work)
    except mlmd_venv.Unavailable as e:
        pytest.fail(str(e))
    return _run_over_grpc(Path(sys.executable), work)


def _check(run, who: str, capsys) -> None:
    results, r, log = run
    passed = sorted(n for n, o in results.items() if o == "passed")
    failed = sorted(n for n, o in results.items() if o != "passed")
    line = (f"ml-metadata {mlmd_venv.VERSION}'s own suite over gRPC ({who}, knit's server): {len(passed)} of "
            f"{len(results)} pass; not passing: {', '.join(failed) or 'none'} "
            f"({len(KNOWN_EXCEPTIONS)} known exceptions, see the README)")
    with capsys.disabled():  # printed in every run
        print(f"\n{line}")
    assert len(results) == EXPECTED_TESTS, f"the suite ran {len(results)} tests, not {EXPECTED_TESTS}:\n{r.stdout[-3000:]}"
    assert failed == sorted(KNOWN_EXCEPTIONS), f"failing: {failed}\n{r.stdout[-6000:]}"
    assert "failed inside the server" not in log, log[-3000:]  # no call hit a server bug
    assert log.rstrip().endswith("stopped"), log[-2000:]


def test_the_readme_lists_the_known_exceptions():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Metadata over gRPC", 1)[-1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^- `(test_\w+)`:", section, re.M))
    assert listed == set(KNOWN_EXCEPTIONS)


def test_ml_metadata_suite_passes_over_grpc(suite_run, capsys):
    _check(suite_run, "ml-metadata's client", capsys)


def test_ml_metadata_suite_passes_with_knits_client_over_grpc(knit_client_run, capsys):
    _check(knit_client_run, "knit's client", capsys)
