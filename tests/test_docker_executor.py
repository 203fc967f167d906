"""The Docker executor against the real dockerd: what the container it creates looks like
(user, mounts, labels, env, limits, GPU device requests) and its start / logs / wait / kill / find.

Containers are created under a throwaway `knit.home` label and removed by the fixture.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from daemon.executors.base import ExecutorError, Handle, Job
from daemon.executors.docker import LABEL_HOME, LABEL_PLAN, LABEL_RUN, DockerExecutor

from conftest import BUSYBOX_IMAGE, remove_home_containers, require_images, wait_for


@pytest.fixture
def executor(docker_client, tmp_path):
    require_images(docker_client, BUSYBOX_IMAGE)
    label = str(tmp_path / "executor-home")
    ex = DockerExecutor(label, client=docker_client)
    yield ex
    remove_home_containers(docker_client, Path(label))


def make_job(tmp_path: Path, run_id: str = "r0000000001", **kw) -> Job:
    indir = tmp_path / f"in-{run_id}"
    outdir = tmp_path / f"out-{run_id}"
    indir.mkdir(exist_ok=True)
    outdir.mkdir(exist_ok=True)
    (indir / "a.txt").write_text("hello\n")
    fields = dict(
        run_id=run_id,
        plan_id="p0000000001",
        image=BUSYBOX_IMAGE,
        entrypoint=None,
        args=("sh", "-c", "cat /in/a.txt"),
        env={"KNIT_RUN_ID": run_id, "KNIT_PLAN_ID": "p0000000001"},
        inputs=(("/in", indir),),
        outputs=(("/out", outdir),),
    )
    fields.update(kw)
    return Job(**fields)


class Collect:
    def __init__(self):
        self.chunks: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, chunk: bytes) -> None:
        with self.lock:
            self.chunks.append(chunk)

    @property
    def text(self) -> str:
        with self.lock:
            return b"".join(self.chunks).decode(errors="replace")


def test_container_runs_as_the_user_with_read_only_inputs_labels_env_and_limits(executor, docker_client, tmp_path):
    job = make_job(tmp_path, env={"KNIT_RUN_ID": "r0000000001", "KNIT_PLAN_ID": "p0000000001", "FOO": "bar"},
                   cpu=0.5, memory=64 * 2**20)
    container = executor.create(job)
    attrs = docker_client.api.inspect_container(container.id)
    cfg, host = attrs["Config"], attrs["HostConfig"]
    assert cfg["User"] == f"{os.getuid()}:{os.getgid()}"
    assert cfg["Labels"][LABEL_RUN] == "r0000000001"
    assert cfg["Labels"][LABEL_PLAN] == "p0000000001"
    assert cfg["Labels"][LABEL_HOME] == executor.home_label
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["KNIT_RUN_ID"] == "r0000000001" and env["KNIT_PLAN_ID"] == "p0000000001" and env["FOO"] == "bar"
    mounts = {m["Target"]: m for m in host["Mounts"]}
    assert set(mounts) == {"/in", "/out"}
    assert mounts["/in"]["ReadOnly"] is True and mounts["/in"]["Type"] == "bind"
    assert not mounts["/out"].get("ReadOnly")
    assert host["Privileged"] is False
    assert not any("docker.sock" in (m.get("Source") or "") for m in host["Mounts"])
    assert not any("docker.sock" in b for b in host.get("Binds") or [])
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 64 * 2**20 and host["MemorySwap"] == 64 * 2**20
    assert not host.get("DeviceRequests")


@pytest.mark.parametrize(
    "gpu, expected",
    [
        (2, {"Count": 2, "DeviceIDs": None}),
        (("0", "3"), {"Count": 0, "DeviceIDs": ["0", "3"]}),
    ],
    ids=["count", "device-ids"],
)
def test_gpu_becomes_a_device_request(executor, docker_client, tmp_path, gpu, expected):
    container = executor.create(make_job(tmp_path, gpu=gpu))
    requests = docker_client.api.inspect_container(container.id)["HostConfig"]["DeviceRequests"]
    assert len(requests) == 1
    req = requests[0]
    assert req["Capabilities"] == [["gpu"]]
    assert req["Count"] == expected["Count"]
    assert (req.get("DeviceIDs") or None) == expected["DeviceIDs"]
    container.remove(force=True)


def test_gpu_start_without_nvidia_runtime_names_the_toolkit(executor, docker_client, tmp_path):
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this Docker host has the NVIDIA runtime")
    with pytest.raises(ExecutorError) as e:
        executor.start(make_job(tmp_path, gpu=1), Collect())
    assert "NVIDIA Container Toolkit" in str(e.value)
    assert "resources" in str(e.value) or "gpu" in str(e.value)


def test_start_follow_wait_exit_code_and_outputs(executor, tmp_path):
    job = make_job(tmp_path, args=("sh", "-c", "cat /in/a.txt; echo err >&2; echo made > /out/o.txt; exit 7"))
    log = Collect()
    h = executor.start(job, log)
    assert isinstance(h, Handle) and h.run_id == job.run_id
    follower = threading.Thread(target=executor.follow_logs, args=(h, log))
    follower.start()
    outcome = executor.wait(h, None)
    follower.join(10)
    assert outcome.exit_code == 7 and not outcome.oom_killed
    assert "hello" in log.text and "err" in log.text
    assert (tmp_path / f"out-{job.run_id}" / "o.txt").read_text() == "made\n"
    executor.remove(h)
    assert executor.state(h) is None


def test_input_is_read_only_in_the_container(executor, tmp_path):
    job = make_job(tmp_path, args=("sh", "-c", "touch /in/new 2>&1 || echo cannot-write; id -u"))
    log = Collect()
    h = executor.start(job, log)
    assert executor.wait(h, None).exit_code == 0
    executor.follow_logs(h, log)
    assert "cannot-write" in log.text
    assert log.text.strip().splitlines()[-1] == str(os.getuid())
    assert not (tmp_path / f"in-{job.run_id}" / "new").exists()


def test_wait_times_out_then_kill_ends_it(executor, tmp_path):
    h = executor.start(make_job(tmp_path, args=("sleep", "300")), Collect())
    assert executor.wait(h, 0.5) is None
    assert executor.state(h) == "running"
    executor.kill(h)
    outcome = executor.wait(h, 10)
    assert outcome is not None and outcome.exit_code == 137


def test_find_lists_only_this_homes_tasks_by_run_id(executor, docker_client, tmp_path):
    other = DockerExecutor(str(tmp_path / "other-home"), client=docker_client)
    try:
        mine = executor.start(make_job(tmp_path, run_id="r0000000001", args=("sleep", "30")), Collect())
        theirs = other.start(make_job(tmp_path, run_id="r0000000002", args=("sleep", "30")), Collect())
        assert executor.find() == {"r0000000001": mine}
        assert other.find() == {"r0000000002": theirs}
    finally:
        remove_home_containers(docker_client, Path(other.home_label))


def test_create_twice_for_one_run_reuses_the_container(executor, tmp_path):
    """After a restart between create and start, the run's container is found, not duplicated."""
    job = make_job(tmp_path)
    a = executor.create(job)
    b = executor.create(job)
    assert a.id == b.id


def test_missing_unpullable_image_is_a_clear_error(executor, tmp_path):
    log = Collect()
    with pytest.raises(ExecutorError) as e:
        executor.start(make_job(tmp_path, image="knit-test/no-such-image:0"), log)
    msg = str(e.value)
    assert "knit-test/no-such-image:0" in msg and "can't be pulled" in msg
    assert "pulling" in log.text  # the attempt shows in the run's log
    assert executor.find() == {}


def test_oom_kill_is_reported(executor, tmp_path):
    # busybox: a shell variable that doubles until it no longer fits in 8 MiB
    job = make_job(tmp_path, memory=8 * 2**20,
                   args=("sh", "-c", "x=0123456789abcdef; while :; do x=$x$x; done"))
    h = executor.start(job, Collect())
    outcome = wait_for(lambda: executor.wait(h, 30), timeout=60, what="the task to be OOM-killed")
    assert outcome.oom_killed, outcome
