"""Executors: the only code that talks to Docker or Kubernetes (docs/ARCHITECTURE.md#daemon).

`make_executor` is the one place an executor is built from a context's settings; knitd's entry
point, its run loop and `daemon.doctor` all ask it. The backends are imported on first use (the
Kubernetes client takes a while to import, and a Docker-only knitd never needs it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Executor, ExecutorError, Handle, Job, Outcome

__all__ = ["Executor", "ExecutorError", "Handle", "Job", "Outcome", "kind_of", "make_executor"]


def kind_of(settings: Mapping[str, Any]) -> str:
    """A context's kind: a context without one is a Kubernetes context (only `local` is Docker by default)."""
    return str(settings.get("kind", "kubernetes"))


def make_executor(settings: Mapping[str, Any], home: str) -> Executor:
    """The executor of a context. `settings` are the context's (with its `name`), `home` the label
    its tasks carry (knitd passes its KNIT_HOME). Raises ExecutorError when the backend can't be
    reached or configured."""
    kind = kind_of(settings)
    if kind == "docker":
        from .docker import DockerExecutor

        return DockerExecutor(home)
    if kind == "kubernetes":
        from .kubernetes import KubernetesExecutor

        return KubernetesExecutor(dict(settings), home_label=home)
    from knitctl.contexts import KINDS  # the kinds a context may name (validated when it is added)

    name = settings.get("name") or "?"
    raise ExecutorError(f"context {name}: kind {kind!r} is not one of {', '.join(KINDS)}; "
                        f"fix the context (`knitctl context show {name}`)")
