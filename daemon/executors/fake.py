"""A scripted executor: tasks that end as a test tells them to, with no Docker and no cluster.

It implements `base.Executor` for the run loop's tests (tests/test_run_loop_fake.py): each job is
given a `Script` (by plan id, else the default) saying what its task does — write these files to
its outputs, print this log, exit with this code, or hang until it is stopped, killed or released.
Outputs are written straight into the job's host directories, as Docker's bind mounts would have
them, so `collect` has nothing to do. Nothing here is reachable from a context: only code that
hands it to `daemon.loop.Daemon` (or `daemon.worker.run_worker`) uses it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Executor, ExecutorError, Handle, Job, LogSink, Outcome

# The exit codes of a task ended by a signal, as a shell reports them (128 + SIGTERM, 128 + SIGKILL).
STOPPED_EXIT = 143
KILLED_EXIT = 137


@dataclass(frozen=True)
class Script:
    """What a fake task does."""

    exit_code: int = 0
    outputs: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)  # mount path → {relative path: bytes}
    log: bytes = b""
    hang: bool = False              # run until stopped, killed or released (`FakeExecutor.release`)
    oom_killed: bool = False
    message: str | None = None      # the engine's message with the outcome
    start_error: str | None = None  # `start` fails with this (an image that can't be pulled, say)


@dataclass
class FakeTask:
    """One started task: its job, its script, what it saw at its inputs and how it ended."""

    job: Job
    script: Script
    inputs: dict[str, dict[str, bytes]]  # mount path → {relative path: bytes}, read when it started
    outcome: Outcome | None = None
    following: bool = False              # its log is being followed (the worker has marked the run running)
    ended_by: str | None = None          # 'stop', 'kill' or 'release' when it did not end by itself
    removed: bool = False


class FakeExecutor:
    name = "fake"

    def __init__(self, default: Script | None = None, *, scripts: Mapping[str, Script] | None = None) -> None:
        self.default = default or Script()
        self.scripts: dict[str, Script] = dict(scripts or {})  # by plan id
        self.tasks: dict[str, FakeTask] = {}                   # by run id, in start order
        self._changed = threading.Condition()

    # -- what a test asks --------------------------------------------------------------------

    def await_following(self, run_id: str, timeout: float) -> FakeTask:
        """The run's task once its log is being followed: started and marked running, so a stop or an
        abort from here on reaches it. Raises TimeoutError after `timeout` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._is_following(run_id), timeout):
                raise TimeoutError(f"the task of run {run_id} was not followed within {timeout}s")
            return self.tasks[run_id]

    def release(self, run_id: str, exit_code: int = 0) -> None:
        """End a hanging task as if it exited by itself with `exit_code`."""
        self._end(run_id, Outcome(exit_code), "release")

    # -- the Executor interface --------------------------------------------------------------

    def start(self, job: Job, log: LogSink) -> Handle:
        script = self.scripts.get(job.plan_id, self.default)
        if script.start_error is not None:
            raise ExecutorError(script.start_error)
        outputs = dict(job.outputs)
        unknown = sorted(set(script.outputs) - set(outputs))
        if unknown:
            raise ExecutorError(f"the script writes to {', '.join(unknown)}, which are not outputs of plan {job.plan_id}")
        task = FakeTask(job, script, {path: _read_tree(src) for path, src in job.inputs})
        for path, files in script.outputs.items():
            _write_tree(outputs[path], files)
        if not script.hang:
            task.outcome = Outcome(script.exit_code, oom_killed=script.oom_killed, message=script.message)
        with self._changed:
            self.tasks[job.run_id] = task
            self._changed.notify_all()
        return Handle(job.run_id, f"fake-{job.run_id}")

    def follow_logs(self, handle: Handle, log: LogSink) -> None:
        with self._changed:
            task = self.tasks[handle.run_id]
            task.following = True
            self._changed.notify_all()
        log(task.script.log)
        with self._changed:  # the stream lasts as long as the task
            self._changed.wait_for(lambda: task.outcome is not None)

    def wait(self, handle: Handle, timeout: float | None) -> Outcome | None:
        with self._changed:
            task = self.tasks[handle.run_id]
            self._changed.wait_for(lambda: task.outcome is not None, timeout)
            return task.outcome

    def stop(self, handle: Handle, grace: float) -> None:
        self._end(handle.run_id, Outcome(STOPPED_EXIT), "stop")

    def kill(self, handle: Handle) -> None:
        self._end(handle.run_id, Outcome(KILLED_EXIT), "kill")

    def collect(self, handle: Handle, job: Job) -> None:
        return None  # outputs were written into the host directories

    def remove(self, handle: Handle) -> None:
        with self._changed:
            task = self.tasks.get(handle.run_id)
            if task is not None:
                task.removed = True
                if task.outcome is None:  # a removed container's task is gone with it
                    task.outcome, task.ended_by = Outcome(KILLED_EXIT), "kill"
            self._changed.notify_all()

    def find(self) -> dict[str, Handle]:
        with self._changed:
            return {r: Handle(r, f"fake-{r}") for r, t in self.tasks.items() if not t.removed}

    # -- helpers -----------------------------------------------------------------------------

    def _is_following(self, run_id: str) -> bool:
        task = self.tasks.get(run_id)
        return task is not None and task.following

    def _end(self, run_id: str, outcome: Outcome, how: str) -> None:
        with self._changed:
            task = self.tasks.get(run_id)
            if task is not None and task.outcome is None:
                task.outcome, task.ended_by = outcome, how
            self._changed.notify_all()


def _read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file below `root` by its relative path (as a task would read its input)."""
    out: dict[str, bytes] = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file():
                out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def _write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


if TYPE_CHECKING:  # the type checker holds FakeExecutor to the interface the run loop uses
    _conforms: Executor = FakeExecutor()
