"""Markers applied from what a test uses, so no test has to remember to carry them.

- `docker`: the test asks (directly or through another fixture, such as `knitd`) for the
  `docker_client` fixture — it needs a running dockerd and the offline test images.
- `kubernetes`: the test runs against the fake Kubernetes API server (`fake_kube`, `kube`), whose
  pods are Docker containers — so these carry `docker` too.
- `slow`: the modules below build virtual environments (the installer, ml-metadata's own suite).

The markers are declared in pyproject.toml ([tool.pytest.ini_options], with --strict-markers);
`scripts/check test-fast` deselects all three. tests/conftest.py imports the hook from here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DOCKER_FIXTURES = frozenset({"docker_client"})
KUBERNETES_FIXTURES = frozenset({"fake_kube", "kube"})
SLOW_MODULES = frozenset({"test_install.py", "test_wheel.py", "test_metadata_mlmd_suite.py"})


def markers_for(fixtures: frozenset[str] | set[str], module: str) -> list[str]:
    """The marker names a test gets from the fixtures it uses (closure) and its module's file name."""
    out = []
    if fixtures & DOCKER_FIXTURES:
        out.append("docker")
    if fixtures & KUBERNETES_FIXTURES:
        out.append("kubernetes")
    if module in SLOW_MODULES:
        out.append("slow")
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for name in markers_for(fixtures, Path(str(item.path)).name):
            item.add_marker(name)
