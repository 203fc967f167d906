"""`python -m daemon.verify RUN_ID`: the container side of `knitctl run verify` (knitctl/verify.py).

Re-executes a done run on the local Docker host the way the Docker executor runs it — the same
options (`DockerExecutor.container_options`: command, user, env, read-only input mounts, resources)
— but with the exact image the run ran (its recorded image id, never the tag) and its outputs
mounted from a scratch directory outside KNIT_HOME. The container carries other names and labels
than a run's, so knitd never takes it for a task of its own. Nothing goes to the catalog or the
store; the scratch and the container go at the end, whatever happens.

Prints one JSON object on stdout: the comparison (see knitctl.verify.verify), or {"error": message}.
Progress goes to stderr as `knit: ...` lines.
"""

from __future__ import annotations

import json
import sys
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

from knitctl import digest
from knitctl.errors import KnitError
from knitctl.session import Session
from knitctl.store import _make_writable, _rmtree
from knitctl.verify import check, differences

from .executors.base import ExecutorError, Handle
from .finish import strip_special
from .worker import build_job, tail

LABEL_VERIFY = "knit.verify"


def say(msg: str) -> None:
    print(f"knit: {msg}", file=sys.stderr, flush=True)


def verify(session: Session, run_id: str) -> dict:
    from docker.errors import APIError, ImageNotFound

    from .executors.docker import DockerExecutor, _reason

    facts = check(session, run_id)  # again: the catalog may have moved since knitctl looked
    run_id, image_id = facts["run_id"], facts["image_id"]
    executor = DockerExecutor(str(session.home.root))  # ExecutorError when Docker can't be reached
    try:
        executor.client.images.get(image_id)
    except ImageNotFound:
        how = (f"`docker pull {facts['repo_digest']}` brings it back" if facts.get("repo_digest") else
               f"it came from no registry, so it can't be pulled; its tag {facts.get('image') or '?'} may name "
               "another image now (a rebuild), which would not be the same run")
        raise KnitError(f"the image run {run_id} ran ({image_id}) is no longer on this Docker host: {how}") from None
    except APIError as e:
        raise KnitError(f"Docker could not look up image {image_id}: {_reason(e)}") from None
    scratch = Path(tempfile.mkdtemp(prefix=f"knit-verify-{run_id}-"))
    container = None
    try:
        outs = {path: scratch / f"out{i}" for i, path in enumerate(facts["outputs"])}
        for d in outs.values():
            d.mkdir(mode=0o700)
        job = build_job(session, run_id, outputs=tuple(outs.items()))
        job = replace(job, image=image_id)
        say(f"re-executing run {run_id} with image {image_id} in {scratch}")
        try:
            container = executor.client.containers.create(
                name=f"knit-verify-{run_id}-{uuid.uuid4().hex[:8]}", labels={LABEL_VERIFY: run_id},
                **executor.container_options(job))
            container.start()
        except APIError as e:
            raise KnitError(f"Docker could not run the re-execution of run {run_id}: {_reason(e)}") from None
        handle = Handle(run_id, container.id)
        outcome = executor.wait(handle, job.timeout)
        timed_out = outcome is None
        if outcome is None:
            executor.kill(handle)
            outcome = executor.wait(handle, None)
            assert outcome is not None
        result: dict = {"run_id": run_id, "image_id": image_id, "exit_code": outcome.exit_code, "outputs": [],
                        "reused_run": facts.get("reused_run")}
        if timed_out or outcome.exit_code != 0:
            log = scratch / "log"
            with open(log, "wb") as f:
                f.write(container.logs(stdout=True, stderr=True))
            result.update(reproducible=False, log_tail=tail(log),
                          message=f"timed out after {job.timeout:g}s" if timed_out else
                          "killed for running out of memory" if outcome.oom_killed else outcome.message)
            return result
        store = session.store
        for path, (knit_id, recorded) in facts["outputs"].items():
            d = outs[path]
            _make_writable(d)
            special = strip_special(d)
            lines, _, _ = store.digest_lines(d)
            got = digest.tree(lines)
            entry = {"path": path, "knit_id": knit_id, "digest": recorded, "rerun_digest": got,
                     "matches": got == recorded, "differences": []}
            if got != recorded:
                original, _, _ = store.digest_lines(store.path_of(knit_id))
                diffs = differences(dict(original), dict(lines))
                entry["differences"] = [{"path": _join(path, rel), "change": how} for rel, how in diffs]
                entry["differences"] += [{"path": _join(path, s), "change": "special file (removed)"} for s in special]
            result["outputs"].append(entry)
        result["reproducible"] = all(o["matches"] for o in result["outputs"])
        return result
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 — already gone, or Docker went away: nothing more to do
                pass
        _rmtree(scratch)


def _join(mount: str, rel: str) -> str:
    return mount.rstrip("/") + "/" + rel


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(json.dumps({"error": "usage: python -m daemon.verify RUN_ID"}))
        return 2
    try:
        session = Session.open(reclaim=False)
    except KnitError as e:
        print(json.dumps({"error": str(e)}))
        return 1
    try:
        result = verify(session, args[0])
    except (KnitError, ExecutorError) as e:
        result = {"error": str(e)}
    except KeyboardInterrupt:
        result = {"error": "interrupted; the re-execution was stopped and its scratch removed"}
    finally:
        session.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
