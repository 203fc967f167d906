"""Markers come from what a test uses: Docker fixtures → docker, the fake cluster → kubernetes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import conftest
import markers

TESTS = Path(__file__).resolve().parent


def test_docker_fixture_marks_docker():
    assert markers.markers_for({"cli", "docker_client"}, "test_x.py") == ["docker"]


def test_the_fake_cluster_marks_kubernetes_and_docker():
    # fake_kube asks for docker_client, so its closure holds both
    assert markers.markers_for({"fake_kube", "docker_client"}, "test_x.py") == ["docker", "kubernetes"]


def test_installer_and_mlmd_suite_modules_are_slow():
    assert markers.markers_for(set(), "test_install.py") == ["slow"]
    assert markers.markers_for(set(), "test_metadata_mlmd_suite.py") == ["slow"]
    assert markers.markers_for({"cli", "session"}, "test_tags.py") == []


def test_conftest_applies_the_hook():
    assert conftest.pytest_collection_modifyitems is markers.pytest_collection_modifyitems


def _collected(*args: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", *args],
        capture_output=True, text=True, cwd=TESTS.parent, timeout=120,
    )
    assert out.returncode in (0, 5), out.stdout + out.stderr
    return {line.split("::", 1)[1].split("[")[0] for line in out.stdout.splitlines() if "::" in line}


def test_not_docker_deselects_the_fake_cluster_and_keeps_the_pure_tests():
    fast = _collected("tests/test_kubernetes.py", "-m", "not docker and not kubernetes")
    assert "test_on_node_maps_to_tolerations_and_affinity" in fast
    assert "test_the_role_grants_exactly_the_api_calls_the_executor_makes" not in fast
