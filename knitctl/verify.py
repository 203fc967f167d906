"""`knitctl run verify RUN`: re-execute a done run with the exact image it ran (its recorded image id) and
the same inputs, in a scratch directory, and compare each output's digest with the recorded one.

Nothing is recorded: no run, no datum, no store bytes. The checks that need only the catalog are here
(the run is done, is not an upload, has an image id, its inputs are still stored); the container is
`daemon/verify.py`'s (knitctl never talks to Docker itself), run as `python -m daemon.verify` and
answering with one JSON object. Comparing entry by entry (`differences`) is pure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from . import runs
from .catalog import provenance as q
from .catalog.records import UPLOAD_PLAN
from .errors import Conflict, KnitError
from .session import Session

CHANGED, MISSING, EXTRA = "changed", "missing", "extra"
INTERRUPT_GRACE = 30.0  # seconds an interrupted re-execution has to clean up


def differences(original: dict[str, bytes], rerun: dict[str, bytes]) -> list[tuple[str, str]]:
    """(rel, how) of each entry that differs between two trees given as {rel: digest line}
    (knitctl/digest.py): `changed` (content, size, mode or kind), `missing` (not made again), `extra`
    (made only by the re-run); sorted by rel."""
    out = [(rel, CHANGED) for rel in original.keys() & rerun.keys() if original[rel] != rerun[rel]]
    out += [(rel, MISSING) for rel in original.keys() - rerun.keys()]
    out += [(rel, EXTRA) for rel in rerun.keys() - original.keys()]
    return sorted(out)


def check(session: Session, text: str) -> dict:
    """The run's facts for a re-execution, or KnitError saying why it can't be verified."""
    with session.catalog.read() as conn:
        run_id = runs.resolve_id(session, text)
        facts = q.verify_facts(conn, run_id)
        made = q.of_run(conn, run_id) or {}
        from . import reuse

        # a cached run did not execute: the run whose outputs it reused did (its record names that run's
        # image; one cached before knit recorded that has none, and the source's is read)
        source = reuse.reused(conn, [run_id]).get(run_id)
        if source and not made.get("image_id"):
            made = q.of_run(conn, source) or {}
    assert facts is not None  # resolve_id found it
    if facts["plan_id"] == UPLOAD_PLAN:
        raise Conflict(f"run {run_id} is an upload: nothing ran, so there is nothing to re-execute")
    if facts["status"] != "done":
        raise Conflict(f"run {run_id} is {facts['status']}; only a done run can be verified (its outputs are the reference)")
    if not made.get("image_id"):
        raise Conflict(
            f"run {run_id} has no recorded image id (it ran before knit recorded provenance, or its executor could "
            "not resolve one), so the exact image it ran is unknown; `knitctl run retry` runs it again and records it"
        )
    if facts["missing_inputs"]:
        raise Conflict(f"run {run_id}: its input(s) {', '.join(facts['missing_inputs'])} are no longer in the catalog; "
                       "it can't be re-executed")
    for knit_id in facts["assignment"].values():
        if not session.store.path_of(knit_id).is_dir():
            raise Conflict(f"run {run_id}: its input {knit_id} is no longer in the store (dropped); it can't be re-executed")
    return {"run_id": run_id, "image_id": made["image_id"], "repo_digest": made.get("repo_digest"),
            "image": made.get("image"), "reused_run": source, **facts}


def verify(session: Session, text: str) -> dict:
    """Re-execute the run and compare: {run_id, reproducible, image_id, outputs: [{path, knit_id, digest,
    rerun_digest, matches, differences: [{path, change}]}], exit_code, log_tail}. Raises KnitError when it
    can't be done (not done, no image id, the image gone, Docker unreachable)."""
    facts = check(session, text)
    env = dict(os.environ, KNIT_HOME=str(session.home.root))
    try:
        proc = subprocess.Popen([sys.executable, "-m", "daemon.verify", facts["run_id"]], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None)
    except OSError as e:
        raise KnitError(f"run verify could not start its re-execution ({e}); reinstall knit (./install.sh)") from None
    try:
        out, _ = proc.communicate()
    except KeyboardInterrupt:
        # it had the interrupt too: give it the time to remove its container and scratch (never kill it first)
        try:
            proc.wait(timeout=INTERRUPT_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    try:
        answer = json.loads(out.decode("utf-8", errors="replace").strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise KnitError(f"run verify's re-execution of run {facts['run_id']} ended without an answer "
                        f"(exit {proc.returncode}); see the messages above") from None
    if answer.get("error"):
        raise KnitError(answer["error"])
    return answer


def summary(result: dict) -> list[str]:
    """The human report: one line of verdict, then each differing output and file."""
    run_id, image = result["run_id"], result["image_id"]
    if result.get("exit_code") not in (0, None):
        lines = [f"run {run_id} is not reproducible: re-executed with image {image}, its task exited with code "
                 f"{result['exit_code']}" + (f" ({result['message']})" if result.get("message") else "")]
        lines += [f"  | {t}" for t in result.get("log_tail", [])]
        return lines
    outs = result["outputs"]
    if result["reproducible"]:
        return [f"run {run_id} is reproducible: re-executed with image {image}, every output's digest matches "
                f"({len(outs)} output{'s' if len(outs) != 1 else ''})"
                + (f"; it was cached, so the image is that of run {result['reused_run']}, whose outputs it reused"
                   if result.get("reused_run") else "")]
    bad = [o for o in outs if not o["matches"]]
    lines = [f"run {run_id} is not reproducible: re-executed with image {image}, "
             f"{len(bad)} of {len(outs)} output(s) differ"]
    for o in bad:
        lines.append(f"{o['path']} (datum {o['knit_id']}): recorded {o['digest']}, re-run {o['rerun_digest']}")
        lines += [f"  {d['change']:<8} {d['path']}" for d in o["differences"]]
        if not o["differences"]:
            lines.append("  (the stored datum no longer matches its recorded digest: `knitctl doctor --digests`)")
    return lines


__all__ = ["differences", "check", "verify", "summary"]
