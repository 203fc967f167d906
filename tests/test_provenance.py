"""Provenance without Docker: every upload records who pushed it (user, host, knit's version) and, pushed
from a git work tree, the commit and whether the pushed files differed from it — in knit's table, as MLMD
custom properties, in `data show` (table and json), `run show` and the TUI's detail screens. The git probe
runs nothing a repository's config names, writes nothing into it, and leaves the fields out when there is
no git, no work tree or no commit. `run verify` says why it can't verify before it touches Docker. (Runs in
containers and `run verify` itself: tests/test_provenance_runs.py.)
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

import knitctl
from knitctl import provenance
from knitctl.catalog import mlmd

from conftest import apply_plan, finish_run, make_tree, push_datum

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git work tree with one commit: code/ (two files) and notes.txt."""
    r = make_tree(tmp_path / "repo", {"code": {"train.py": "print(1)\n", "params.yaml": "lr: 0.1\n"},
                                      "notes.txt": "hello\n"})
    git(r, "init", "-q")
    git(r, "add", ".")
    git(r, "commit", "-qm", "first")
    return r


def shown(cli, knit_id: str) -> dict:
    r = cli("data", "show", knit_id, "-o", "json")
    assert r.code == 0, r
    return r.json()


def pushed_id(cli, *args) -> str:
    r = cli("data", "push", *map(str, args), "-o", "json")
    assert r.code == 0, r
    return r.json()[0]["knit_id"]


def test_an_upload_outside_git_records_who_pushed_it(cli, tmp_path, session):
    src = make_tree(tmp_path / "plain", {"a.txt": "x"})
    kid = pushed_id(cli, src, "-t", "kind:raw")
    d = shown(cli, kid)
    me = provenance.who()
    assert d["provenance"] == {"user": me["user"], "host": socket.gethostname(), "knit_version": knitctl.__version__}
    table = cli("data", "show", kid).out
    assert f"host\t{socket.gethostname()}" in table and f"knit version\t{knitctl.__version__}" in table
    assert "git commit" not in table

    props = mlmd.custom_properties(session.catalog.conn, "data", kid)
    assert props["knit.user"] == me["user"] and props["knit.version"] == knitctl.__version__
    assert "knit.git_commit" not in props
    run_id = d["upstream"]["run_id"]
    assert mlmd.custom_properties(session.catalog.conn, "run", run_id)["knit.host"] == socket.gethostname()
    # the upload's run shows it too
    r = cli("run", "show", run_id, "-o", "json")
    assert r.json()["provenance"]["user"] == me["user"]


def test_a_clean_work_tree_records_its_commit(cli, repo, session):
    head = git(repo, "rev-parse", "HEAD")
    kid = pushed_id(cli, repo / "code", "-t", "kind:code")
    d = shown(cli, kid)
    assert d["provenance"]["git_commit"] == head and d["provenance"]["git_dirty"] is False
    table = cli("data", "show", kid).out
    assert f"git commit\t{head}" in table and "git dirty\tno" in table
    props = mlmd.custom_properties(session.catalog.conn, "data", kid)
    assert props["knit.git_commit"] == head and props["knit.git_dirty"] is False


def test_dirty_means_the_pushed_files_differ_from_the_commit(cli, repo):
    head = git(repo, "rev-parse", "HEAD")
    (repo / "notes.txt").write_text("changed outside the pushed directory\n")
    assert shown(cli, pushed_id(cli, repo / "code"))["provenance"]["git_dirty"] is False  # only the pushed path counts

    (repo / "code" / "params.yaml").write_text("lr: 0.2\n")  # a tracked file changed
    d = shown(cli, pushed_id(cli, repo / "code"))
    assert d["provenance"]["git_commit"] == head and d["provenance"]["git_dirty"] is True
    assert "git dirty\tyes" in cli("data", "show", d["knit_id"]).out

    git(repo, "checkout", "-q", "--", "code/params.yaml")
    (repo / "code" / "new.csv").write_text("1,2\n")  # an untracked file in the pushed directory
    assert shown(cli, pushed_id(cli, repo / "code"))["provenance"]["git_dirty"] is True


def test_a_single_file_and_a_moved_directory_record_the_commit(cli, repo):
    head = git(repo, "rev-parse", "HEAD")
    d = shown(cli, pushed_id(cli, repo / "code" / "train.py"))
    assert d["provenance"]["git_commit"] == head and d["provenance"]["git_dirty"] is False
    # --move takes the files away: the git state is read before they go
    d = shown(cli, pushed_id(cli, repo / "code", "--move"))
    assert d["provenance"]["git_commit"] == head and d["provenance"]["git_dirty"] is False
    assert not (repo / "code").exists()


def test_no_commit_no_git_or_not_a_work_tree_leave_the_fields_out(cli, tmp_path, monkeypatch, repo):
    empty = make_tree(tmp_path / "empty-repo", {"d": {"f": "1"}})
    git(empty, "init", "-q")
    assert provenance.git_state(empty / "d") == {}
    assert "git_commit" not in shown(cli, pushed_id(cli, empty / "d"))["provenance"]

    bogus = make_tree(tmp_path / "bogus", {".git": "gitdir: /nonexistent\n", "d": {"f": "1"}})
    assert provenance.git_state(bogus / "d") == {}  # a .git that is no repository: no error, no fields

    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no git on PATH
    assert provenance.git_state(repo / "code") == {}


def test_a_hostile_repository_runs_nothing_and_is_not_written(repo, tmp_path):
    """core.fsmonitor, a clean filter and hooks are programs `git status` would run; none does."""
    marks = tmp_path / "marks"
    marks.mkdir()
    (repo / ".gitattributes").write_text("* filter=evil\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attrs")
    git(repo, "config", "core.fsmonitor", f"touch {marks}/fsmonitor; false")
    git(repo, "config", "filter.evil.clean", f"touch {marks}/filter; cat")
    git(repo, "config", "filter.evil.required", "true")
    hooks = make_tree(tmp_path / "hooks", {"post-index-change": f"#!/bin/sh\ntouch {marks}/hook\n"})
    os.chmod(hooks / "post-index-change", 0o755)
    git(repo, "config", "core.hooksPath", str(hooks))
    os.utime(repo / "code" / "train.py", (1, 1))  # stat differs from the index: status would re-read it through the filter
    index = (repo / ".git" / "index").read_bytes()

    state = provenance.git_state(repo / "code")
    assert state == {"git_commit": git(repo, "rev-parse", "HEAD"), "git_dirty": False}
    assert sorted(os.listdir(marks)) == []
    assert (repo / ".git" / "index").read_bytes() == index  # nothing written into the repository

    # the same status run plainly does run them (so the test would notice a lapse)
    subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True,
                   env={**os.environ, **GIT_ENV}, check=False)
    assert "fsmonitor" in os.listdir(marks)


def test_provenance_fields_and_migration(session):
    from knitctl.catalog import provenance as q
    from knitctl.catalog import schema

    assert any("CREATE TABLE IF NOT EXISTS provenance" in m for m in schema.MIGRATIONS)
    d = push_datum(session, "kind:x")
    row = q.of_datum(session.catalog.conn, d.knit_id)
    assert row is not None and row["user"] == provenance.who()["user"] and row["recorded_ms"] > 0
    with pytest.raises(ValueError):
        with session.catalog.write() as c:
            q.record(c, d.run_id, {"colour": "blue"})


def test_run_provenance_replaces_an_earlier_attempts(session):
    """A retried run's new start replaces the old image id, in the table and in MLMD."""
    d = push_datum(session, "kind:in")
    plan = apply_plan(session, {"/in": ["kind:in"]}, {"/out": ["kind:out"]}).plan.plan_id
    run_id = session.catalog.one("SELECT run_id FROM run WHERE plan_id = ?", (plan,))[0]
    assert d.knit_id
    with session.catalog.write() as c:
        provenance.record_run(c, run_id, {**provenance.who(), "image": "busybox:1.36", "image_id": "sha256:aa",
                                          "repo_digest": "busybox@sha256:bb"})
    with session.catalog.write() as c:
        provenance.record_run(c, run_id, {**provenance.who(), "image": "busybox:1.36"})
        provenance.add_to_run(c, run_id, {"image_id": "docker.io/library/busybox@sha256:cc"})
    props = mlmd.custom_properties(session.catalog.conn, "run", run_id)
    assert props["knit.image_id"] == "docker.io/library/busybox@sha256:cc" and "knit.repo_digest" not in props
    assert provenance.of_run(session, run_id)["image_id"] == "docker.io/library/busybox@sha256:cc"


def test_kubernetes_image_id_is_read_from_the_task_container_status():
    from daemon.executors.kubernetes import status
    from daemon.executors.kubernetes.manifest import TASK

    def pod(image_id):
        cs = SimpleNamespace(name=TASK, image_id=image_id)
        return SimpleNamespace(status=SimpleNamespace(container_statuses=[cs], init_container_statuses=[]))

    assert status.task_image_id(pod("docker-pullable://busybox@sha256:ab")) == "busybox@sha256:ab"
    assert status.task_image_id(pod("docker.io/library/busybox@sha256:ab")) == "docker.io/library/busybox@sha256:ab"
    assert status.task_image_id(pod("")) is None
    assert status.task_image_id(SimpleNamespace(status=None)) is None


def test_verify_differences_name_changed_missing_and_extra_files():
    from knitctl import digest
    from knitctl.verify import differences

    a = {"f": digest.file_line("f", 1, False, "aa"), "d": digest.dir_line("d"), "d/x": digest.file_line("d/x", 1, False, "bb")}
    b = {"f": digest.file_line("f", 1, False, "cc"), "d": digest.dir_line("d"), "y": digest.link_line("y", "f")}
    assert differences(a, b) == [("d/x", "missing"), ("f", "changed"), ("y", "extra")]
    assert differences(a, dict(a)) == []


def test_verify_refuses_what_it_cannot_verify_without_touching_docker(cli, session, monkeypatch):
    d = push_datum(session, "kind:in")
    r = cli("run", "verify", d.run_id)
    assert r.code == 1 and "is an upload" in r.err
    plan = apply_plan(session, {"/in": ["kind:in"]}, {"/out": ["kind:out"]}).plan.plan_id
    run_id = session.catalog.one("SELECT run_id FROM run WHERE plan_id = ?", (plan,))[0]
    r = cli("run", "verify", run_id)
    assert r.code == 1 and f"run {run_id} is waiting; only a done run can be verified" in r.err
    finish_run(session, run_id, "done")  # done without knitd: no image was ever resolved
    r = cli("run", "verify", run_id, env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert r.code == 1 and "has no recorded image id" in r.err and "Traceback" not in r.err
    r = cli("run", "verify", "ffffffffffff")
    assert r.code != 0 and "Traceback" not in r.err


def test_tui_detail_screens_show_provenance(session, repo):
    from knitctl import data as data_api

    from tui_support import drive, make_app, screen_text, until

    head = git(repo, "rev-parse", "HEAD")
    d = data_api.push(session, [repo / "code"], ["kind:code"])[0]
    plan = apply_plan(session, {"/in": ["kind:code"]}, {"/out": ["kind:out"]}).plan.plan_id
    run_id = session.catalog.one("SELECT run_id FROM run WHERE plan_id = ?", (plan,))[0]
    with session.catalog.write() as c:
        provenance.record_run(c, run_id, {"user": "alice", "host": "gpu-box", "knit_version": "9.9",
                                          "image": "busybox:1.36", "image_id": "sha256:" + "ab" * 32})
    app = make_app(session.home.root)
    seen = {}

    async def scenario(pilot):
        app.open_datum(d.knit_id)
        await until(pilot, lambda: head in screen_text(app), what="the datum's git commit")
        seen["datum"] = screen_text(app)
        await pilot.press("escape")
        app.open_run(run_id)
        await until(pilot, lambda: "gpu-box" in screen_text(app), what="the run's provenance")
        seen["run"] = screen_text(app)

    drive(app, scenario, size=(120, 50))
    assert "git dirty" in seen["datum"] and socket.gethostname() in seen["datum"]
    assert "Provenance" in seen["run"] and "sha256:" + "ab" * 20 in seen["run"] and "alice" in seen["run"]


# -- the worker records a run's provenance (an executor stand-in: no Docker) ------------------------------


class ImageExecutor:
    """Starts a task at once whose image the executor resolved (image_id on the Handle), or, like the
    Kubernetes executor, learns only when it ends (image_id on the Outcome)."""

    name = "fake"

    def __init__(self, *, at_start: str | None = None, at_end: str | None = None):
        self.at_start, self.at_end = at_start, at_end

    def start(self, job, log):
        from daemon.executors.base import Handle

        return Handle(job.run_id, "c", image_id=self.at_start, repo_digest="busybox@sha256:dd" if self.at_start else None)

    def follow_logs(self, handle, log):
        pass

    def wait(self, handle, timeout):
        from daemon.executors.base import Outcome

        return Outcome(0, image_id=self.at_end)

    def stop(self, handle, grace):
        pass

    kill = collect = remove = stop

    def find(self):
        return {}


def _claimed(session, *states: str) -> str:
    from knitctl import runstate

    plan = apply_plan(session, {"/in": ["kind:raw"]}, {"/out": ["kind:x"]}, image="busybox:1.36").plan.plan_id
    push_datum(session, "kind:raw")
    run_id = session.catalog.one("SELECT run_id FROM run WHERE plan_id = ?", (plan,))[0]
    with session.catalog.write() as c:
        for st in ("ready", *states):
            runstate.move(c, run_id, st)
    return run_id


def test_the_worker_records_the_image_the_executor_resolved_at_start(session):
    from daemon.worker import Worker, run_worker

    run_id = _claimed(session)
    run_worker(session.home, ImageExecutor(at_start="sha256:" + "1" * 64), Worker(run_id))
    got = provenance.of_run(session, run_id)
    assert got["image"] == "busybox:1.36" and got["image_id"] == "sha256:" + "1" * 64
    assert got["repo_digest"] == "busybox@sha256:dd" and got["host"] == socket.gethostname()
    props = mlmd.custom_properties(session.catalog.conn, "run", run_id)
    assert props["knit.image_id"] == "sha256:" + "1" * 64 and props["knit.user"] == provenance.who()["user"]


def test_an_image_id_known_only_at_the_end_is_added(session):
    from daemon.worker import Worker, run_worker

    run_id = _claimed(session)
    run_worker(session.home, ImageExecutor(at_end="registry.example/busybox@sha256:ee"), Worker(run_id))
    got = provenance.of_run(session, run_id)
    assert got["image_id"] == "registry.example/busybox@sha256:ee" and got["image"] == "busybox:1.36"
    assert mlmd.custom_properties(session.catalog.conn, "run", run_id)["knit.image_id"] == got["image_id"]


def test_a_reattached_run_without_a_record_gets_one(session):
    """knitd stopped between the start and its record: the next knitd re-attaches and records it."""
    from daemon.executors.base import Handle
    from daemon.worker import Worker, run_worker

    run_id = _claimed(session, "starting", "running")
    assert provenance.of_run(session, run_id) is None
    run_worker(session.home, ImageExecutor(), Worker(run_id), attach=Handle(run_id, "c", image_id="sha256:" + "2" * 64))
    assert provenance.of_run(session, run_id)["image_id"] == "sha256:" + "2" * 64


def test_docker_find_reads_the_image_id_of_a_listed_container():
    from daemon.executors.docker import _image_id_of

    sha = "sha256:" + "3" * 64
    assert _image_id_of(SimpleNamespace(attrs={"Image": sha})) == sha                 # inspected
    assert _image_id_of(SimpleNamespace(attrs={"Image": "busybox:1", "ImageID": sha})) == sha  # sparse listing
    assert _image_id_of(SimpleNamespace(attrs={"Image": "busybox:1"})) is None


def test_a_retry_forgets_the_earlier_attempts_provenance(session):
    from daemon.worker import Worker, run_worker
    from knitctl import runs

    run_id = _claimed(session)
    run_worker(session.home, ImageExecutor(at_start="sha256:" + "4" * 64), Worker(run_id))
    assert provenance.of_run(session, run_id)["image_id"] == "sha256:" + "4" * 64
    runs.retry(session, run_id)
    assert provenance.of_run(session, run_id) is None
    assert not any(k.startswith("knit.") and k != "knit.reused_run"
                   for k in mlmd.custom_properties(session.catalog.conn, "run", run_id))
    assert "provenance" not in runs.show(session, run_id).to_dict()


def test_run_verify_completes_run_ids():
    from knitctl.cli.complete import wanted

    assert wanted(["run", "verify"], "") == "run"
