"""The executor interface every backend implements (Docker now, Kubernetes later)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class ExecutorError(Exception):
    """Starting or running a task failed; the message is for the user (it ends the run)."""


@dataclass(frozen=True)
class Job:
    run_id: str
    plan_id: str
    image: str
    entrypoint: tuple[str, ...] | None
    args: tuple[str, ...]
    env: dict[str, str] = field(repr=False)   # may hold a before hook's secrets: never in a repr or a log
    inputs: tuple[tuple[str, Path], ...]      # (mount path, host directory) — read-only
    outputs: tuple[tuple[str, Path], ...]     # (mount path, host directory) — writable
    cpu: float | None = None
    memory: int | None = None
    gpu: int | tuple[str, ...] | None = None
    timeout: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Handle:
    run_id: str
    ref: str                                   # container id, pod name, ...
    # the exact image the task runs, when the executor resolved it at start (provenance; a tag moves)
    image_id: str | None = field(default=None, compare=False)
    repo_digest: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None
    oom_killed: bool = False
    message: str | None = None
    image_id: str | None = None                # the image that ran, when only known at the end (a pod's imageID)


LogSink = Callable[[bytes], None]


class Executor(Protocol):
    name: str

    def start(self, job: Job, log: LogSink) -> Handle:
        """Create and start the task; image pulls report progress to `log`. Raises ExecutorError."""

    def follow_logs(self, handle: Handle, log: LogSink) -> None:
        """Stream the task's whole output (from its start) to `log` until it ends."""

    def wait(self, handle: Handle, timeout: float | None) -> Outcome | None:
        """Block until the task ends; None when `timeout` seconds pass first."""

    def stop(self, handle: Handle, grace: float) -> None:
        """Ask the task to end (SIGTERM, then SIGKILL after `grace` seconds)."""

    def kill(self, handle: Handle) -> None:
        """End the task now."""

    def collect(self, handle: Handle, job: Job) -> None:
        """Bring outputs to the host directories (a no-op where they are bind mounts)."""

    def remove(self, handle: Handle) -> None:
        """Forget the task (remove its container or pod)."""

    def find(self) -> dict[str, Handle]:
        """Tasks of this knit home by run id, found by label (after a restart)."""
