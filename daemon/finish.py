"""Finishing a run: commit its outputs (and log) as data, set its final state,
and project what they feed — the catalog part in one transaction.

Idempotent, so a knitd killed half-way simply finishes again after restart:
an output already renamed into data/ is recognised and not committed twice.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from knitctl import runstate, safefs
from knitctl.catalog import runs as run_rows
from knitctl.catalog import scheduler
from knitctl.session import Session
from knitctl.store import _make_readonly, _make_writable, _walk


def output_dirs(session: Session, run_id: str) -> list[tuple[str, str, Path]]:
    """(knit id, mount path, host directory) of each uncommitted output of a run."""
    rows = scheduler.uncommitted_outputs(session.catalog.conn, run_id)
    return [(knit_id, path, session.home.runs / run_id / knit_id) for knit_id, path in rows]


def prepare_outputs(session: Session, run_id: str) -> list[tuple[str, Path]]:
    """Fresh writable directories for a run's outputs (not the log)."""
    out = []
    for _, path, d in output_dirs(session, run_id):
        if path == "log":
            continue
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(d.parent, 0o700)
        out.append((path, d))
    return out


def finish(session: Session, run_id: str, success: bool, *, exit_code: int | None, message: str | None) -> str | None:
    """Commit outputs and end the run `done` (success) or `failed`. Returns the final status, or None if already final."""
    status = run_rows.status(session.catalog.conn, run_id)
    if status is None or status in runstate.TERMINAL:
        cleanup(session, run_id)
        return None
    store = session.store
    committed = []
    special: list[str] = []
    for knit_id, path, d in output_dirs(session, run_id):
        final = store.path_of(knit_id)
        if not final.exists():
            if path == "log":
                d.mkdir(parents=True, exist_ok=True, mode=0o700)
                log = session.home.run_log(run_id)
                target = d / "log"
                if log.exists():
                    shutil.copyfile(log, target)
                else:
                    target.touch()
                os.chmod(target, 0o600)
            elif not d.exists():
                d.mkdir(parents=True, mode=0o700)
            _make_writable(d)  # the task may have left files it can't read back; they are ours now
            found = strip_special(d)
            store.publish(knit_id, d)
        else:  # published by an earlier attempt (perhaps by a knit that took special files in)
            found = _strip_published(final)
        if found:
            special.append(f"{path}: {', '.join(found)}")
        m = store.manifest(final)
        committed.append((knit_id, m, str(final)))
    if special:
        success = False
        message = (f"{message}; " if message else "") + (
            "its outputs held special files that data can't hold (removed unread): " + "; ".join(special)
            + " — a task may write only files, directories and links to its outputs"
        )
    with session.catalog.write() as c:
        current = run_rows.status(c, run_id)
        if current is None or current in runstate.TERMINAL:
            return None
        for knit_id, m, uri in committed:
            scheduler.commit_output(c, knit_id, digest=m.digest, size=m.size, file_count=m.file_count, uri=uri)
        # A user's stop (completing) is a success and an abort (aborting) a failure, whatever the exit code.
        # runstate.move keeps the MLMD states and, on `done`, projects the outputs in this transaction.
        final_status = "done" if current == "completing" or (success and current != "aborting") else "failed"
        for step in _path_to(current, final_status):
            last = step == final_status
            runstate.move(c, run_id, step, exit_code=exit_code if last else None, message=message if last else None)
    cleanup(session, run_id)
    return final_status


def strip_special(root: Path) -> list[str]:
    """Remove the FIFOs, sockets and device nodes a task left below `root`, never opening them;
    returns each as `name (what it was)`. (Reading a FIFO would hang knitd, a device never end.)"""
    found = []
    for p in list(_walk(root)):
        mode = os.lstat(p).st_mode
        if safefs.is_special(mode):
            found.append(f"{p.relative_to(root).as_posix()} ({safefs.kind(mode)})")
            os.unlink(p)
    return found


def _strip_published(final: Path) -> list[str]:
    if not any(safefs.is_special(os.lstat(p).st_mode) for p in _walk(final)):
        return []
    _make_writable(final)
    found = strip_special(final)
    _make_readonly(final)
    return found


def _path_to(current: str, goal: str) -> list[str]:
    """The legal steps from `current` to `done` (via completing) or `failed` (via aborting)."""
    via = "completing" if goal == "done" else "aborting"
    return [goal] if current == via else [via, goal]


def cleanup(session: Session, run_id: str) -> None:
    d = session.home.runs / run_id
    if d.exists():
        session.store.discard_path(d)
