"""One run's life in knitd: start, follow logs, wait, honour stop/abort/timeout, finish."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from knitctl import provenance, reuse, runstate
from knitctl.catalog import runs as run_rows
from knitctl.catalog import scheduler
from knitctl.errors import Conflict
from knitctl.plans.registry import get as get_plan
from knitctl.session import Session

from .executors.base import Executor, ExecutorError, Handle, Job, Outcome
from .finish import finish, prepare_outputs
from .hooks import Start, before_start

log = logging.getLogger("knitd")

STOP_GRACE_SECONDS = 10
LOG_TAIL_LINES = 20


@dataclass
class Worker:
    run_id: str
    gpus: int = 0
    handle: Handle | None = None
    acted: str | None = None           # 'stop' or 'abort' once sent to the executor
    timed_out: bool = False
    thread: threading.Thread | None = None
    executor: Executor | None = None
    done: threading.Event = field(default_factory=threading.Event)
    reusing: bool = False              # claimed to end from a done run's outputs (knitctl.reuse): takes no slot


def build_job(session: Session, run_id: str, *, outputs: tuple[tuple[str, Path], ...] | None = None) -> Job:
    """The run's job; its outputs are fresh directories under runs/<run>/ unless given (`run verify`'s scratch)."""
    conn = session.catalog.conn
    plan = get_plan(session, scheduler.plan_of(conn, run_id))
    spec = plan.spec
    inputs = tuple((path, session.store.path_of(knit_id)) for path, knit_id in scheduler.input_mounts(conn, run_id))
    if outputs is None:
        outputs = tuple(prepare_outputs(session, run_id))
    env = dict(spec.env)
    env.update(KNIT_RUN_ID=run_id, KNIT_PLAN_ID=plan.plan_id)
    return Job(
        run_id=run_id,
        plan_id=plan.plan_id,
        image=spec.image,
        entrypoint=spec.entrypoint,
        args=spec.args,
        env=env,
        inputs=inputs,
        outputs=outputs,
        cpu=plan.resources.cpu,
        memory=plan.resources.memory,
        gpu=plan.resources.gpu,
        timeout=spec.timeout,
        extra={"on_node": dict(spec.on_node), "service_account": plan.service_account,
               "annotations": tuple(plan.annotations), "extended_resources": dict(plan.resources.extended)},
    )


def run_provenance(job: Job, handle: Handle) -> dict:
    """The provenance of a run whose task just started (knitctl.provenance): this knitd's user, host and
    version, the plan's image as written and the image id the executor resolved (when it could)."""
    values = {**provenance.who(), "image": job.image, "image_id": handle.image_id, "repo_digest": handle.repo_digest}
    return {k: v for k, v in values.items() if v is not None}


def gpu_count(gpu) -> int:
    if not gpu:
        return 0
    return gpu if isinstance(gpu, int) else len(gpu)


class LogFile:
    """The run's live log: logs/<run>.log, appended as output arrives."""

    def __init__(self, path, *, truncate: bool):
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if truncate else os.O_APPEND)
        # private to the user, whatever the umask; open for the object's life (close() ends it), so no `with`
        self.f = open(os.open(path, flags, 0o600), "wb", buffering=0)  # noqa: SIM115

    def __call__(self, chunk: bytes) -> None:
        self.f.write(chunk)

    def close(self) -> None:
        self.f.close()


def tail(path, n: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with open(path, "rb") as f:
            return [line.decode(errors="replace").rstrip("\n") for line in deque(f, maxlen=n)]
    except FileNotFoundError:
        return []


def run_worker(home, executor: Executor, w: Worker, *, attach: Handle | None = None) -> None:
    """The thread body: start (or re-attach to) the task and see it through."""
    session = Session.open(home, reclaim=False)
    try:
        _run(session, executor, w, attach)
    except Exception:  # never let a run hang in a live state because of a bug
        log.exception("run %s: unexpected error", w.run_id)
        try:
            finish(session, w.run_id, False, exit_code=None, message="knitd failed while running it; see knitd.log")
        except Exception:
            log.exception("run %s: could not finish", w.run_id)
    finally:
        session.close()
        w.done.set()


def _run(session: Session, executor: Executor, w: Worker, attach: Handle | None) -> None:
    run_id = w.run_id
    if attach is None and reuse.reuse_run(session, run_id) is not None:
        return  # ended done from a done run's outputs (a plan with cache on): nothing executes
    job = build_job(session, run_id)
    logpath = session.home.run_log(run_id)
    if attach is None:
        start = before_start(session, job) if run_rows.status(session.catalog.conn, run_id) in runstate.PRESTART \
            else Start(job)
        if start.veto is not None:  # a before hook said no: the run fails with its message
            sink = LogFile(logpath, truncate=True)
            sink(f"knit: {start.veto}\n".encode())
            sink.close()
            finish(session, run_id, False, exit_code=None, message=start.veto)
            return
        job = start.job  # with the env the before hooks gave (values never logged or stored)
        with session.catalog.write() as c:
            status = run_rows.status(c, run_id)
            if status == "ready":
                runstate.move(c, run_id, "starting", note=start.note)
                status = "starting"
        if status != "starting":  # stopped or aborted before it started
            finish(session, run_id, status == "completing", exit_code=None, message=None)
            return
        sink = LogFile(logpath, truncate=True)
        try:
            handle = executor.start(job, sink)
            w.handle = handle  # at once: the loop may stop or abort it from here on
        except ExecutorError as e:
            sink(f"knit: {e}\n".encode())
            log.info("run %s: could not start: %s", run_id, e)
            sink.close()
            finish(session, run_id, False, exit_code=None, message=str(e))
            return
        sink.close()
        try:
            with session.catalog.write() as c:
                # who ran it, with which knit and which exact image: recorded even if it was stopped meanwhile
                provenance.record_run(c, run_id, run_provenance(job, handle))
                if run_rows.status(c, run_id) == "starting":
                    runstate.move(c, run_id, "running", expect="starting")
        except Conflict:
            pass  # stopped or aborted meanwhile: the loop acts on it
    else:
        handle = w.handle = attach
        if provenance.of_run(session, run_id) is None:  # a knitd stopped between the start and its record
            with session.catalog.write() as c:
                provenance.record_run(c, run_id, run_provenance(job, handle))
    _follow(session, executor, w, handle, job, fresh=attach is None)


def _prelude(path) -> bytes:
    """knit's own lines at the head of a run's log (the image pull), written before the task started."""
    keep = []
    try:
        with open(path, "rb") as f:
            for line in f:
                if not line.startswith(b"knit: "):
                    break
                keep.append(line)
    except FileNotFoundError:
        pass
    return b"".join(keep)


def _follow(session: Session, executor: Executor, w: Worker, handle: Handle, job: Job, *, fresh: bool) -> None:
    run_id = w.run_id
    logpath = session.home.run_log(run_id)
    # The task's logs stream from its start. Freshly started, the file holds only knit's prelude (the
    # pull): append to it. Re-attached, rewrite the file whole, keeping that prelude.
    prelude = b"" if fresh else _prelude(logpath)
    sink = LogFile(logpath, truncate=not fresh)
    if prelude:
        sink(prelude)
    follower = threading.Thread(target=executor.follow_logs, args=(handle, sink), daemon=True, name=f"log-{run_id}")
    follower.start()
    timeout = None
    if job.timeout:
        started = scheduler.started_ms(session.catalog.conn, run_id)
        elapsed = (time.time() * 1000 - (started or time.time() * 1000)) / 1000
        timeout = max(0.1, job.timeout - elapsed)
    outcome = executor.wait(handle, timeout)
    if outcome is None:
        w.timed_out = True
        sink(f"knit: timed out after {job.timeout:g}s; killing the task\n".encode())
        executor.kill(handle)
        outcome = executor.wait(handle, None)
        assert outcome is not None  # without a timeout, wait returns only when the task has ended
    follower.join(timeout=10)
    sink.close()
    try:
        executor.collect(handle, job)
    except ExecutorError as e:  # outputs that can't be brought back fail a run that had succeeded
        log.warning("run %s: outputs not collected: %s", w.run_id, e)
        if outcome.exit_code == 0:
            outcome = Outcome(None, message=f"its outputs could not be collected: {e}")
    if outcome.image_id:  # known only now (a pod's imageID once its task ran)
        with session.catalog.write() as c:
            provenance.add_to_run(c, run_id, {"image_id": outcome.image_id})
    success, message = judge(outcome, w, job)
    status = finish(session, run_id, success, exit_code=outcome.exit_code, message=message)
    log.info("run %s: %s (exit %s)%s", run_id, status, outcome.exit_code, f": {message}" if message else "")
    executor.remove(handle)


def judge(outcome, w: Worker, job: Job) -> tuple[bool, str | None]:
    """Success or failure, and the message a person needs."""
    if w.timed_out:
        return False, f"timed out after {job.timeout:g}s (the plan's `timeout`)"
    if w.acted == "stop":
        return True, "stopped by the user"
    if w.acted == "abort":
        return False, "aborted by the user"
    if outcome.oom_killed:
        limit = f" of {job.memory} bytes" if job.memory else ""
        return False, (
            f"killed for running out of memory (the limit{limit}); raise `resources.memory` "
            "(`knitctl plan resource ID -s memory=4Gi`)"
        )
    if outcome.exit_code == 0:
        return True, None
    if outcome.exit_code is None:
        return False, outcome.message or "the task ended without an exit code"
    return False, f"exited with code {outcome.exit_code}" + (f": {outcome.message}" if outcome.message else "")
