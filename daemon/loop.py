"""knitd's run loop: woken by catalog changes, it claims waiting runs within the
parallelism and GPU limits, hands them to workers, and passes stop/abort
requests on to the executor."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from watchfiles import watch

from knitctl import reuse, runstate
from knitctl.catalog import scheduler
from knitctl.health import COMPONENTS, Health
from knitctl.home import Home
from knitctl.session import Session

from .executors.base import Executor, ExecutorError
from .finish import cleanup, finish
from .worker import STOP_GRACE_SECONDS, Worker, gpu_count, run_worker

log = logging.getLogger("knitd")

SAFETY_TICK_MS = 1000   # a tick at least this often, in case a file event is missed
WATCHER_MAX_PAUSE = 30.0
RUN_LOOP, WATCHER = COMPONENTS


class Daemon:
    def __init__(self, home: Home, executor: Executor, *, parallelism: int, gpus: int | None, context: str = "local"):
        self.home = home
        self.executor = executor            # the local context's (Docker)
        self.executors: dict[str, Executor] = {"local": executor}
        self.parallelism = max(1, parallelism)
        self.gpus = gpus            # None: unknown, not gated (the executor decides)
        self.context = context
        self.session = Session.open(home)
        self.workers: dict[str, Worker] = {}
        self.stopping = threading.Event()
        self.hash_wake = threading.Event()    # wakes the background hashing of moved data
        self.hook_wake = threading.Event()    # wakes the after hooks' deliveries (daemon/hooks.py)
        self.health = Health(home)
        self.watcher_restarts = 0
        self.keyed_plans: set[str] = set()    # plans with cache on whose older runs were keyed (knitctl.reuse)

    # -- start-up ------------------------------------------------------------------

    def reconcile(self) -> None:
        """Runs left live by a previous knitd: re-attach, finish, or fail them (docs/ARCHITECTURE.md#daemon)."""
        conn = self.session.catalog.conn
        live = scheduler.active_runs(conn)
        handles: dict = {}
        owners: dict = {}
        names = scheduler.active_contexts(conn) | {"local"}
        unreachable: dict[str, str] = {}
        for name in sorted(names):
            try:
                ex = self.executor_for(name)
                found = ex.find()
            except ExecutorError as e:  # e.g. a cluster that can't be reached: its live runs fail, clearly
                log.error("context %s: %s", name, e)
                unreachable[name] = str(e)
                continue
            for run_id, h in found.items():
                handles[run_id] = h
                owners[run_id] = ex
        live_ids = {r[0] for r in live}
        context_of = scheduler.started_run_contexts(conn)
        for run_id, status in live:
            handle = handles.get(run_id)
            if handle is not None:
                log.info("run %s: re-attaching to its task (%s)", run_id, status)
                self._spawn(run_id, attach=handle)
            elif status in runstate.PRESTART:
                self._spawn(run_id)
            elif context_of.get(run_id) in unreachable:
                finish(self.session, run_id, False, exit_code=None,
                       message=f"knitd restarted and could not find its task: {unreachable[context_of[run_id]]}")
            elif status == "running":
                log.info("run %s: its task vanished while knitd was away", run_id)
                finish(self.session, run_id, False, exit_code=None,
                       message="its container vanished while knitd was not running (removed by hand, or the host restarted)")
            else:
                finish(self.session, run_id, status == "completing", exit_code=None, message=None)
        for run_id, h in handles.items():
            if run_id not in live_ids:
                owners[run_id].remove(h)
        for d in self.home.runs.iterdir() if self.home.runs.exists() else []:
            if d.name not in live_ids:
                cleanup(self.session, d.name)
        from .gc import sweep

        sweep(self.session)

    # -- the loop ------------------------------------------------------------------

    def serve(self) -> None:
        from . import digests
        from .hooks import Deliverer
        from .watcher import Watcher

        self.health.beat(RUN_LOOP, "starting", "re-attaching to the runs of the previous knitd")
        self.watcher = Watcher(self.home, self.stopping, beat=lambda: self.health.beat(WATCHER))
        threading.Thread(target=self._watch_folders, daemon=True, name="watcher").start()
        threading.Thread(target=digests.serve, args=(self.home, self.stopping, self.hash_wake), daemon=True, name="digests").start()
        threading.Thread(target=Deliverer(self.home, self.stopping, wake=self.hook_wake).serve, daemon=True, name="hooks").start()
        from . import retention as retention_gc  # the config's retention rules, on their schedule

        threading.Thread(target=retention_gc.serve, args=(self.home, self.stopping), daemon=True, name="retention").start()
        self.reconcile()
        self.tick()
        for _ in watch(
            self.home.root,
            watch_filter=lambda _change, path: Path(path).name in ("catalog.db", "catalog.db-wal"),
            stop_event=self.stopping,
            rust_timeout=SAFETY_TICK_MS,
            yield_on_timeout=True,
            debounce=20,
            step=5,  # a change is yielded after one to two quiet steps: 5-10 ms from a push's commit to its tick
            recursive=False,
        ):
            if self.stopping.is_set():
                break
            self.tick()

    def _watch_folders(self) -> None:
        """The folder watcher, restarted (with a growing pause) whenever it dies."""
        from .watcher import Watcher

        while not self.stopping.is_set():
            try:
                self.watcher.serve()
                return  # knitd is stopping
            except Exception as e:  # noqa: BLE001 — whatever killed it, drops must keep being ingested
                self.watcher_restarts += 1
                pause = min(WATCHER_MAX_PAUSE, 0.1 * 2 ** min(self.watcher_restarts, 10))
                log.exception("the folder watcher died (%s); restarting it in %.1fs (restart %d)",
                              type(e).__name__, pause, self.watcher_restarts)
                self.health.beat(WATCHER, "restarting", f"died: {type(e).__name__}: {str(e)[:200]}",
                                 restarts=self.watcher_restarts)
                if self.stopping.wait(pause):  # a pause between restarts, not a synchronisation
                    return
                self.watcher = Watcher(self.home, self.stopping, beat=lambda: self.health.beat(WATCHER))

    def tick(self) -> None:
        self.health.beat(RUN_LOOP)
        self.hash_wake.set()
        self.hook_wake.set()
        for run_id in [r for r, w in self.workers.items() if w.done.is_set()]:
            del self.workers[run_id]
        self._pass_on_requests()
        self._schedule()

    def _pass_on_requests(self) -> None:
        if not self.workers:
            return
        for run_id, status in scheduler.ending_among(self.session.catalog.conn, list(self.workers)):
            w = self.workers[run_id]
            if w.acted or w.handle is None or w.executor is None:
                continue  # no task yet: acted on at a later tick, once it has one
            if status == "aborting":
                w.acted = "abort"
                log.info("run %s: aborting", run_id)
                threading.Thread(target=w.executor.kill, args=(w.handle,), daemon=True).start()
            else:
                w.acted = "stop"
                log.info("run %s: stopping", run_id)
                threading.Thread(target=w.executor.stop, args=(w.handle, STOP_GRACE_SECONDS), daemon=True).start()

    def _gpus_in_use(self) -> int:
        return sum(w.gpus for w in self.workers.values())

    def _schedule(self) -> None:
        free = self.parallelism - sum(1 for w in self.workers.values() if not w.reusing)
        if self.stopping.is_set():
            return
        claimed: list[tuple[str, int]] = []
        reusing: list[str] = []
        if not scheduler.any_waiting(self.session.catalog.conn):
            return  # most ticks: nothing to claim, so no write lock taken
        if free <= 0 and not reuse.any_waiting(self.session.catalog.conn):
            return  # every slot taken, and no waiting run a result could be reused for
        with self.session.catalog.write() as c:
            # Reuse first (knitctl.reuse): a run of a plan with cache on whose result exists is claimed without a
            # slot (it ends in milliseconds); one waiting for an input's digest or for a run with the same inputs
            # stays waiting.
            held = set()
            for run_id, d in reuse.waiting_decisions(c, backfilled=self.keyed_plans).items():
                if d.action == reuse.REUSE:
                    runstate.move(c, run_id, "ready", expect="waiting", note=d.why)
                    scheduler.claim_context(c, run_id, self.context)
                    reusing.append(run_id)
                elif d.action == reuse.HOLD:
                    held.add(run_id)
            rows = scheduler.oldest_waiting(c, free * 8 + len(held)) if free > 0 else []
            gpus_free = 0 if self.gpus is None else self.gpus - self._gpus_in_use()  # read only when self.gpus is set
            for run_id, resources, context in rows:
                if len(claimed) >= free:
                    break
                if run_id in held:
                    continue
                need = gpu_count(json.loads(resources).get("gpu"))
                if need and not self._on_this_host(context or self.context):
                    need = 0  # a cluster's GPUs are the cluster's business, not this host's slots
                if need and self.gpus is not None:
                    if need > self.gpus:
                        runstate.move(c, run_id, "aborting", note="needs more GPUs than the host has")
                        runstate.move(c, run_id, "failed", message=(
                            f"needs {need} GPU(s) but this host has {self.gpus}; lower `resources.gpu` "
                            "or run it on a context with GPUs"))
                        continue
                    if need > gpus_free:
                        continue  # waits for GPUs to free up
                    gpus_free -= need
                runstate.move(c, run_id, "ready", expect="waiting")
                scheduler.claim_context(c, run_id, self.context)
                claimed.append((run_id, need))
            reuse.key_runs(c, [run_id for run_id, _ in claimed])  # so a plan that turns cache on can reuse them
        for run_id in reusing:
            self._spawn(run_id, gpus=0, reusing=True)
        for run_id, need in claimed:
            self._spawn(run_id, gpus=need)

    def _on_this_host(self, context: str | None) -> bool:
        """Whether a context runs tasks on this host's Docker (and so uses its GPUs)."""
        name = context or "local"
        if name == "local":
            return True
        from knitctl import contexts
        from knitctl.errors import KnitError

        try:
            return contexts.get(name).get("kind", "kubernetes") == "docker"
        except KnitError:
            return True

    def executor_for(self, context: str | None) -> Executor:
        """The executor of a context, made on first use. Raises ExecutorError."""
        name = context or "local"
        if name in self.executors:
            return self.executors[name]
        from knitctl import contexts
        from knitctl.errors import KnitError

        try:
            settings = contexts.get(name)
        except KnitError as e:
            raise ExecutorError(e.message) from None
        from .executors import kind_of, make_executor

        # a Docker context shares the local executor (one engine, one client)
        ex = self.executor if kind_of(settings) == "docker" else make_executor(settings, str(self.home.root))
        self.executors[name] = ex
        return ex

    def _spawn(self, run_id: str, *, attach=None, gpus: int | None = None, reusing: bool = False) -> None:
        conn = self.session.catalog.conn
        try:
            executor = self.executor_for(scheduler.context_of(conn, run_id))
        except ExecutorError as e:
            log.error("run %s: %s", run_id, e)
            finish(self.session, run_id, False, exit_code=None, message=str(e))
            return
        if gpus is None:
            row = scheduler.resources_and_context(conn, run_id)
            gpus = gpu_count(json.loads(row[0]).get("gpu")) if row and self._on_this_host(row[1]) else 0
        w = Worker(run_id, gpus=gpus, executor=executor, reusing=reusing)
        w.thread = threading.Thread(
            target=run_worker, args=(self.home, executor, w), kwargs={"attach": attach}, daemon=True, name=f"run-{run_id}"
        )
        self.workers[run_id] = w
        w.thread.start()

    def shutdown(self) -> None:
        """Stop taking runs; tasks keep running and are re-attached by the next knitd."""
        self.stopping.set()



