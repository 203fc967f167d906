"""knitd's side of lifecycle hooks (knitctl/hooks.py has the rules).

- `before_start`: a worker asks the before hooks whether a run may start, and for its env.
- `Deliverer`: a thread that turns recorded status changes into deliveries (one per after hook that
  wants the change, each with an id kept across retries and restarts) and delivers them: a timeout
  per call, retries with back-off, marked delivered or given up; a knitd start delivers at once what
  was pending. A failing or hanging after hook is logged and never holds a run.

The env a before hook gives is a secret: it goes into the run's Job and nowhere else (only its names
reach the run's history, masked). Nothing here logs a hook's answer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import threading
import time

from knitctl import hooks as rules
from knitctl.catalog import hooks as hook_rows
from knitctl.catalog import now_ms
from knitctl.catalog import runs as run_rows
from knitctl.config import config_path, load
from knitctl.errors import KnitError
from knitctl.home import Home
from knitctl.session import Session

from .executors.base import Job

log = logging.getLogger("knitd")

BATCH = 200
IDLE_WAKE_SECONDS = 60.0
KEEP_ENDED_MS = 7 * 86_400_000        # delivered or given-up deliveries are kept a week (for `hook deliveries`)
PRUNE_EVERY_SECONDS = 3600.0


class HookConfig:
    """The config file's hooks, re-read when the file changes. A broken file keeps the last good hooks
    (logged): a typo must neither drop a veto hook nor stop every run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._hooks: list[rules.Hook] = []

    def hooks(self) -> list[rules.Hook]:
        path = config_path()
        try:
            st = os.stat(path)
            stamp: tuple | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._hooks = list(load(path).hooks)
                except KnitError as e:
                    log.error("config: %s (hooks kept as they were)", e.message)
            return self._hooks

    def before(self) -> list[rules.Hook]:
        return [h for h in self.hooks() if h.when == "before"]

    def after(self) -> list[rules.Hook]:
        return [h for h in self.hooks() if h.when == "after"]


CONFIG = HookConfig()


# -- before hooks ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Start:
    """What the before hooks decided for a run: the job to start (with their env) and the history note,
    or a veto (the run's message)."""

    job: Job
    note: str | None = None
    veto: str | None = None


def before_start(session: Session, job: Job, config: HookConfig = CONFIG) -> Start:
    """Ask the before hooks about a run about to start. No before hooks: the job as it is, at once."""
    hooks = config.before()
    if not hooks:
        return Start(job)
    conn = session.catalog.conn
    with session.catalog.read() as c:
        doc = rules.run_document(c, job.run_id)
    if doc is None:
        return Start(job)
    old = run_rows.status(conn, job.run_id) or doc["status"]
    verdict = rules.decide(hooks, lambda h: rules.envelope(h, doc, old=old, new="starting", delivery=None))
    for problem in verdict.problems:
        log.warning("run %s: %s", job.run_id, problem)
    if verdict.veto is not None:
        log.info("run %s: not started: %s", job.run_id, verdict.veto)
        return Start(job, veto=verdict.veto)
    if not verdict.env:
        return Start(job)
    # the hook's answer is for this run: it wins over the plan's env (KNIT_ names were refused by parse_answer)
    return Start(dataclasses.replace(job, env={**job.env, **verdict.env}), note=rules.env_note(verdict.names))


# -- after hooks -----------------------------------------------------------------------------------


class Deliverer:
    """The after hooks' delivery thread (see the module's docstring)."""

    def __init__(self, home: Home, stopping: threading.Event, *, wake: threading.Event | None = None,
                 config: HookConfig = CONFIG, caller=rules.call):
        self.home = home
        self.stopping = stopping
        self.config = config
        self.caller = caller
        self.wake = wake or threading.Event()   # set by the run loop's every tick
        self._pruned = 0.0

    def serve(self) -> None:
        session = Session.open(self.home, reclaim=False)
        try:
            with session.catalog.write() as c:
                n = hook_rows.make_all_due(c, now_ms())
            if n:
                log.info("hooks: %d pending deliveries from before this start are due now", n)
            while not self.stopping.is_set():
                try:
                    wait = self.pass_once(session)
                except Exception:  # noqa: BLE001 — a bug here must not end deliveries for good
                    log.exception("hooks: a delivery pass failed; trying again")
                    wait = 5.0
                self.wake.wait(wait)  # a tick (a catalog change) or the next due delivery, whichever first
                self.wake.clear()
        finally:
            session.close()

    def pass_once(self, session: Session) -> float:
        """Fan out recorded changes, deliver what is due; seconds until the next delivery is due."""
        self.fan_out(session)
        self.deliver_due(session)
        if time.monotonic() - self._pruned > PRUNE_EVERY_SECONDS:
            self._pruned = time.monotonic()
            with session.catalog.write() as c:
                hook_rows.prune(c, now_ms() - KEEP_ENDED_MS)
        nxt = hook_rows.next_due_ms(session.catalog.conn)
        if nxt is None:
            return IDLE_WAKE_SECONDS
        return max(0.0, min(IDLE_WAKE_SECONDS, (nxt - now_ms()) / 1000))

    def fan_out(self, session: Session) -> int:
        """Each recorded change becomes one delivery per after hook that wants it, in one transaction
        (a change is either still recorded or has all its deliveries: never lost, never doubled)."""
        made = 0
        while hook_rows.any_changes(session.catalog.conn):
            hooks = self.config.after()
            with session.catalog.write() as c:
                changes = hook_rows.changes(c, BATCH)
                t = now_ms()
                docs: dict[str, dict | None] = {}
                for _seq, run_id, old, new, _at in changes:
                    wanting = [h for h in hooks if h.wants(new)]
                    if not wanting:
                        continue
                    if run_id not in docs:
                        docs[run_id] = rules.run_document(c, run_id)
                    doc = docs[run_id]
                    if doc is None:
                        continue
                    payload = json.dumps({**doc, "status": new})
                    for h in wanting:
                        hook_rows.add_delivery(c, new_delivery_id(), h.name, run_id, old, new, payload, t)
                        made += 1
                hook_rows.forget_changes(c, [ch[0] for ch in changes])
        return made

    def deliver_due(self, session: Session) -> int:
        """Deliver the due deliveries; how many were attempted. Each hook's in order on a thread of its
        own (a hanging hook holds up only itself), the calls outside any transaction, the results
        written here as they come. A hook's failure ends its turn: its other pending deliveries wait
        for the retry's time (a hook that is down is not called once per delivery)."""
        done = 0
        while not self.stopping.is_set():
            rows = hook_rows.due(session.catalog.conn, now_ms(), BATCH)
            if not rows:
                return done
            by_name = {h.name: h for h in self.config.after()}
            groups: dict[str, list] = {}
            for r in rows:
                if r["hook"] in by_name:
                    groups.setdefault(r["hook"], []).append(r)
                else:
                    self._record(session, r, None, None)
                    done += 1
            results: queue.Queue = queue.Queue()
            for name, group in groups.items():
                threading.Thread(target=self._call_in_turn, args=(by_name[name], group, results), daemon=True,
                                 name=f"hook-{name}").start()
            running = len(groups)
            while running:
                item = results.get()
                if item is None:
                    running -= 1
                    continue
                self._record(session, *item)
                done += 1
        return done

    def _call_in_turn(self, hook: rules.Hook, rows: list, results: queue.Queue) -> None:
        try:
            for r in rows:
                if self.stopping.is_set():
                    return
                payload = rules.envelope(hook, json.loads(r["payload"]), old=r["old_status"], new=r["new_status"],
                                         delivery=r["delivery_id"])
                reply = self.caller(hook, payload, delivery=r["delivery_id"])
                results.put((r, hook, reply))
                if not reply.ok:
                    return
        finally:
            results.put(None)

    def _record(self, session: Session, r, hook: rules.Hook | None, reply: rules.Reply | None) -> None:
        did, attempts = r["delivery_id"], r["attempts"] + 1
        what = f"hook {r['hook']}: delivery {did} (run {r['run_id']} {r['old_status']} → {r['new_status']})"
        if hook is None or reply is None:
            with session.catalog.write() as c:
                hook_rows.mark_failed(c, did, r["attempts"], "the hook is no longer in the config", next_ms=None,
                                      now_ms=now_ms())
            log.warning("%s given up: the hook is no longer in the config", what)
            return
        error = reply.error or (f"exited non-zero: {reply.veto}" if reply.veto is not None else None)
        t = now_ms()
        retry_at = t + rules.backoff_ms(attempts)
        with session.catalog.write() as c:
            if error is None:
                hook_rows.mark_delivered(c, did, attempts, t)
            else:
                hook_rows.mark_failed(c, did, attempts, error, next_ms=None if attempts > hook.retries else retry_at,
                                      now_ms=t)
                hook_rows.hold_pending(c, hook.name, retry_at)
        if error is None:
            log.info("%s delivered (attempt %d, %.0f ms)", what, attempts, reply.seconds * 1000)
        elif attempts > hook.retries:
            log.warning("%s given up after %d attempt(s): %s", what, attempts, error)
        else:
            log.warning("%s failed (attempt %d of %d): %s; retrying in %gs", what, attempts, hook.retries + 1, error,
                        rules.backoff_ms(attempts) / 1000)


def new_delivery_id() -> str:
    """A delivery's id: 16 hex digits (64 random bits), the same for every attempt of it."""
    return os.urandom(8).hex()
