"""Contexts and the Kubernetes executor, against the fake API server of tests/kube_fake.py,
which runs each pod as real Docker containers — so inputs, outputs, logs and exec streams move.

End to end: knitd (`python -m daemon`) runs plans on a Kubernetes context made with `knitctl context
add` and made current with `knitctl context use`; the CLI runs as subprocesses. The pod spec is read
back from what the fake received. Executor-level tests drive `KubernetesExecutor` directly where
knitd would add nothing (the API calls it makes, which the RBAC Role must equal; stop).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import (
    BUSYBOX_IMAGE,
    PYTHON_IMAGE,
    apply_plan,
    catalog_rows,
    knitd_diagnostics,
    push_datum,
    require_images,
    run_row,
    wait_run,
    wait_until,
)
from kube_fake import FakeKube, Node

REPO = Path(__file__).resolve().parent.parent
TEST_LIMITS = {"unschedulable-grace": 0, "lost-contact-grace": 2, "start-timeout": 60}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def knit_config(tmp_path, monkeypatch) -> Path:
    """A private knit config file (KNIT_CONFIG), with no KNIT_CONTEXT or KUBECONFIG leaking in."""
    path = tmp_path / "knit-config.yaml"
    monkeypatch.setenv("KNIT_CONFIG", str(path))
    monkeypatch.delenv("KNIT_CONTEXT", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return path


def start_fake(docker_client, **kw) -> FakeKube:
    require_images(docker_client, BUSYBOX_IMAGE, PYTHON_IMAGE)
    kw.setdefault("images", {"busybox:1.36": BUSYBOX_IMAGE})  # the helper image, as a registry mirror would
    return FakeKube(docker_client, pause_image=BUSYBOX_IMAGE, **kw).start()


@pytest.fixture
def fake_kube(docker_client):
    """A fake cluster (one node: 8 CPUs, 16Gi, no GPUs, no taints) on 127.0.0.1; stopped at teardown."""
    fk = start_fake(docker_client)
    yield fk
    fk.stop()


def set_context(config: Path, name: str, **settings) -> None:
    doc = yaml.safe_load(config.read_text())
    doc["contexts"][name].update(settings)
    config.write_text(yaml.safe_dump(doc))


def add_context(cli, fk: FakeKube, tmp_path: Path, config: Path, name: str = "fake", *, use: bool = True,
                pull_secrets=(), token: str | None = None, server: str | None = None, **settings) -> str:
    kc = fk.write_kubeconfig(tmp_path / f"kubeconfig-{name}", token=token, server=server, context=f"kube-{name}")
    args = ["context", "add", name, "--kubeconfig", str(kc), "--namespace", "knit"]
    for s in pull_secrets:
        args += ["--image-pull-secret", s]
    r = cli(*args)
    assert r.code == 0, r
    set_context(config, name, **{**TEST_LIMITS, **settings})
    if use:
        r = cli("context", "use", name)
        assert r.code == 0, r
    return name


@pytest.fixture
def kube(cli, fake_kube, tmp_path, knit_config) -> FakeKube:
    """The fake cluster as the current context `fake`."""
    add_context(cli, fake_kube, tmp_path, knit_config)
    return fake_kube


def sh(script: str) -> dict:
    return {"image": BUSYBOX_IMAGE, "args": ["sh", "-c", script]}


def one_run(home: Path, plan_id: str, *, timeout: float = 30.0) -> str:
    rows = wait_until(lambda: catalog_rows(home, "SELECT run_id FROM run WHERE plan_id = ?", (plan_id,)),
                      timeout=timeout, what=f"a run of plan {plan_id}", home=home)
    assert len(rows) == 1, rows
    return rows[0][0]


def outputs_of(home: Path, run_id: str) -> dict[str, str]:
    return dict(catalog_rows(home, "SELECT output_path, knit_id FROM data WHERE run_id = ?", (run_id,)))


def datum_dir(home: Path, knit_id: str) -> Path:
    from knitctl.home import Home
    from knitctl.store import Store

    return Store(Home.resolve(home)).path_of(knit_id)


def created_pod(fk: FakeKube, run_id: str) -> dict:
    pods = [m for m in fk.created if m["metadata"]["labels"].get("knit.run") == run_id]
    assert len(pods) == 1, f"{len(pods)} pods created for run {run_id}"
    return pods[0]


def task_running(fk: FakeKube, run_id: str) -> bool:
    pod = fk.pod(f"knit-{run_id}")
    return bool(pod and "running" in (pod.state_of("task") or {}))


# -- end to end with knitd ---------------------------------------------------------------------------

from pipeline_scripts import apply_chain, push_points  # noqa: E402  (shared with test_knitd)


def test_prepare_train_evaluate_runs_on_the_cluster_with_outputs_logs_and_lineage(cli, knit_home, kube, knitd, session,
                                                                                  tmp_path):
    prepare, train, evaluate = apply_chain(session)
    knitd(parallelism=2)
    upload = push_points(cli, tmp_path)

    run_e = one_run(knit_home, evaluate, timeout=120)
    assert wait_run(knit_home, run_e, timeout=120)["status"] == "done", knitd_diagnostics(knit_home)
    run_p, run_t = one_run(knit_home, prepare), one_run(knit_home, train)
    for r in (run_p, run_t, run_e):
        row = run_row(knit_home, r)
        assert row["status"] == "done" and row["context"] == "fake", row
    # the outputs came back through the exec stream, the same as on Docker (test_knitd)
    metrics = json.loads((datum_dir(knit_home, outputs_of(knit_home, run_e)["/metrics"]) / "metrics.json").read_text())
    assert metrics["n"] == 10 and metrics["mse"] < 1e-9
    model = json.loads((datum_dir(knit_home, outputs_of(knit_home, run_t)["/model"]) / "model.json").read_text())
    assert model["a"] == pytest.approx(3 * 2.8722813232690143, rel=1e-6)
    # logs were followed through the API into the log datum
    for run_id, line in ((run_p, "prepare: 10 rows"), (run_t, "train: a="), (run_e, "evaluate: mse=")):
        log = (datum_dir(knit_home, outputs_of(knit_home, run_id)["log"]) / "log").read_text()
        assert line in log
    # lineage: metrics ← evaluate ← … ← prepare ← the upload
    g = cli("data", "lineage", outputs_of(knit_home, run_e)["/metrics"], "-u", "-n", "all", "-o", "json").json()
    assert {run_p, run_t, run_e} <= {n["id"] for n in g["nodes"] if n["kind"] == "run"}
    assert upload in {n["id"] for n in g["nodes"] if n["kind"] == "data"}
    # the runs are found by their context
    found = cli("run", "find", "--context", "fake", "-p", prepare, "-p", train, "-p", evaluate, "--output", "json")
    assert found.code == 0, found
    assert {r["run_id"] for r in found.json()} == {run_p, run_t, run_e}
    assert cli("run", "find", "--context", "local", "-p", prepare, "--output", "json").json() == []
    # each run was one pod, labelled, with the run's env; all deleted once its outputs were back
    pod = created_pod(kube, run_t)
    labels = pod["metadata"]["labels"]
    assert labels["knit.run"] == run_t and labels["knit.plan"] == train
    assert len(labels["knit.home"]) <= 63 and "/" not in labels["knit.home"]
    task = next(c for c in pod["spec"]["containers"] if c["name"] == "task")
    env = {e["name"]: e["value"] for e in task["env"]}
    assert env["KNIT_RUN_ID"] == run_t and env["KNIT_PLAN_ID"] == train
    mounts = {m["mountPath"]: m for m in task["volumeMounts"]}
    assert mounts["/data"].get("readOnly") is True and not mounts["/model"].get("readOnly")
    assert all(v.get("emptyDir") == {} for v in pod["spec"]["volumes"])
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["knit-stage-in"]
    wait_until(lambda: not kube.live_pods(), timeout=20, what="every pod deleted", home=knit_home)


def test_pod_spec_carries_resources_gpu_on_node_service_account_pull_secrets_and_annotations(
        cli, knit_home, docker_client, knitd, session, tmp_path, knit_config):
    node = Node(gpus=2, labels={"kubernetes.io/hostname": "fake-node", "gpu": "a100", "zone": "lab"},
                taints=[{"key": "gpu", "value": "a100", "effect": "NoSchedule"}])
    fk = start_fake(docker_client, node=node)
    try:
        add_context(cli, fk, tmp_path, knit_config, pull_secrets=["regcred", "mirror"])
        plan = apply_plan(session, {"/in": ["kind:x"]}, {"/out": ["kind:y"]},
                          **sh("echo $KNIT_RUN_ID > /out/id; cat /in/f.txt > /out/copy"),
                          resources={"cpu": 0.5, "memory": "256Mi", "gpu": 1},
                          on_node={"may": ["spot=yes"], "prefer": ["zone=lab"], "must": ["gpu=a100"]},
                          service_account="trainer", annotations=["owner=ml-team"]).plan.plan_id
        knitd()
        d = push_datum(session, "kind:x")
        run_id = one_run(knit_home, plan)
        assert wait_run(knit_home, run_id, timeout=60)["status"] == "done", knitd_diagnostics(knit_home)
        out = datum_dir(knit_home, outputs_of(knit_home, run_id)["/out"])
        assert (out / "id").read_text().strip() == run_id
        assert (out / "copy").read_text() == (datum_dir(knit_home, d.knit_id) / "f.txt").read_text()

        spec = created_pod(fk, run_id)["spec"]
        task = next(c for c in spec["containers"] if c["name"] == "task")
        assert task["resources"] == {"requests": {"cpu": "500m", "memory": str(256 * 2**20)},
                                     "limits": {"cpu": "500m", "memory": str(256 * 2**20), "nvidia.com/gpu": "1"}}
        assert spec["serviceAccountName"] == "trainer"
        assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
        assert created_pod(fk, run_id)["metadata"]["annotations"]["owner"] == "ml-team"
        # may → toleration; prefer → toleration + preferred affinity; must → toleration + required affinity
        assert sorted((t["key"], t["value"]) for t in spec["tolerations"]) == [("gpu", "a100"), ("spot", "yes"),
                                                                               ("zone", "lab")]
        assert all(t["operator"] == "Equal" and "effect" not in t for t in spec["tolerations"])
        aff = spec["affinity"]["nodeAffinity"]
        assert aff["preferredDuringSchedulingIgnoredDuringExecution"] == [
            {"weight": 1, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["lab"]}]}}]
        assert aff["requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}]}]}
        assert "spot" not in json.dumps(aff)
    finally:
        fk.stop()


def test_abort_deletes_the_pod(cli, knit_home, kube, knitd, session, docker_client):
    plan = apply_plan(session, {"/in": ["kind:a"]}, {"/out": ["kind:b"]}, **sh("echo started; sleep 120")).plan.plan_id
    knitd()
    push_datum(session, "kind:a")
    run_id = one_run(knit_home, plan)
    wait_until(lambda: run_row(knit_home, run_id)["status"] == "running" and task_running(kube, run_id),
               timeout=60, what="the task running in its pod", home=knit_home)
    r = cli("run", "abort", run_id)
    assert r.code == 0, r
    row = wait_run(knit_home, run_id, timeout=30)
    assert row["status"] == "failed" and "aborted" in row["message"], row
    assert kube.pod(f"knit-{run_id}") is None
    assert ("delete", "pods") in kube.verbs()
    wait_until(lambda: not docker_client.api.containers(all=True, filters={"label": f"kfake.pod=knit-{run_id}"}),
               timeout=20, what="the pod's containers removed")


def test_knitd_killed_mid_run_reattaches_by_label_and_finishes_once(cli, knit_home, kube, knitd, session):
    plan = apply_plan(session, {"/in": ["kind:a"]}, {"/out": ["kind:b"]}, log=["kind:log"],
                      **sh("echo before; sleep 4; echo after; cat /in/f.txt > /out/copy")).plan.plan_id
    first = knitd()
    d = push_datum(session, "kind:a")
    run_id = one_run(knit_home, plan)
    wait_until(lambda: run_row(knit_home, run_id)["status"] == "running" and task_running(kube, run_id),
               timeout=60, what="the task running in its pod", home=knit_home)
    first.kill()
    lists_before = kube.calls.count(("list", "pods"))
    knitd()
    row = wait_run(knit_home, run_id, timeout=60)
    assert row["status"] == "done", knitd_diagnostics(knit_home)
    assert kube.calls.count(("list", "pods")) > lists_before     # found by label selector
    created_pod(kube, run_id)                                     # one pod, never a second
    outs = outputs_of(knit_home, run_id)
    assert (datum_dir(knit_home, outs["/out"]) / "copy").read_text() == (datum_dir(knit_home, d.knit_id) / "f.txt").read_text()
    log = (datum_dir(knit_home, outs["log"]) / "log").read_text()
    assert "before" in log and "after" in log
    assert catalog_rows(knit_home, "SELECT count(*) FROM run WHERE plan_id = ?", (plan,))[0][0] == 1
    wait_until(lambda: kube.pod(f"knit-{run_id}") is None, timeout=20, what="the pod deleted", home=knit_home)


def test_every_clear_failure_ends_its_run_failed_with_its_message(cli, knit_home, kube, knitd, session, docker_client,
                                                                  tmp_path, knit_config):
    import socket

    # other contexts: expired credentials, a cluster that is down, one without the Role
    add_context(cli, kube, tmp_path, knit_config, "expired", use=False, token="an-expired-token")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    add_context(cli, kube, tmp_path, knit_config, "down", use=False, server=f"http://127.0.0.1:{closed_port}")
    locked = start_fake(docker_client)
    locked.forbid.add(("create", "pods"))
    try:
        add_context(cli, locked, tmp_path, knit_config, "locked", use=False)
        cases = {
            "expired": (dict(context="expired", **sh("echo 1")),
                        ["context expired", "401", "expired", "log in again"]),
            "down": (dict(context="down", **sh("echo 2")), ["can't reach the cluster of context down", f":{closed_port}"]),
            "forbidden": (dict(context="locked", **sh("echo 3")),
                          ["forbids knit to create pods in namespace knit", "403", "packaging/kubernetes"]),
            "pull": (dict(image="knit-test/no-such-image:0", args=["true"]),
                     ["can't pull image knit-test/no-such-image:0", "ImagePull"]),
            "gpu": (dict(resources={"gpu": 2}, **sh("echo 5")),
                    ["can't place the pod", "Insufficient nvidia.com/gpu", "`resources.gpu`"]),
            "must": (dict(on_node={"must": ["gpu=h100"]}, **sh("echo 6")),
                     ["didn't match Pod's node affinity", "`on_node.must`"]),
            "oom": (dict(resources={"memory": "16Mi"}, **sh("x=0123456789abcdef; while :; do x=$x$x; done")),
                    ["out of memory", "resources.memory"]),
            "evict": (dict(**sh("sleep 120")), ["evicted", "low on resource: memory"]),
            "account": (dict(service_account="ghost", **sh("echo 9")),
                        ["no such service account", 'serviceaccount "ghost" not found', "`service_account`"]),
        }
        kube.service_accounts = {"default"}
        plans = {k: apply_plan(session, {"/in": ["kind:trigger"]}, {"/out": [f"case:{k}"]}, **fields).plan.plan_id
                 for k, (fields, _) in cases.items()}
        knitd(parallelism=len(cases))
        push_datum(session, "kind:trigger")
        runs = {k: one_run(knit_home, p) for k, p in plans.items()}
        wait_until(lambda: task_running(kube, runs["evict"]), timeout=60, what="the task to evict", home=knit_home)
        kube.evict(f"knit-{runs['evict']}")
        for k, (_, needles) in cases.items():
            row = wait_run(knit_home, runs[k], timeout=60)
            assert row["status"] == "failed", (k, row)
            for needle in needles:
                assert needle in (row["message"] or ""), (k, needle, row["message"])
        wait_until(lambda: not kube.live_pods(), timeout=20, what="every failed run's pod deleted")
        assert ("create", "pods") in locked.verbs() and not locked.created
    finally:
        locked.stop()


# -- the executor itself -------------------------------------------------------------------------------


def make_job(tmp_path: Path, run_id: str, script: str, **kw):
    from daemon.executors.base import Job

    src = tmp_path / f"in-{run_id}"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 64)
    out = tmp_path / f"out-{run_id}"
    out.mkdir()
    return Job(run_id=run_id, plan_id="p0", image=BUSYBOX_IMAGE, entrypoint=None, args=("sh", "-c", script),
               env={"KNIT_RUN_ID": run_id}, inputs=(("/in", src),), outputs=(("/out", out),), **kw)


def executor_for(fk: FakeKube, tmp_path: Path, **settings):
    from daemon.executors.kubernetes import KubernetesExecutor

    kc = fk.write_kubeconfig(tmp_path / "kubeconfig")
    return KubernetesExecutor({"name": "fake", "kind": "kubernetes", "kubeconfig": str(kc), "namespace": "knit",
                               **TEST_LIMITS, **settings}, home_label=str(tmp_path / "home"))


def test_the_role_grants_exactly_the_api_calls_the_executor_makes(fake_kube, tmp_path):
    from daemon.executors.kubernetes import API_CALLS

    ex = executor_for(fake_kube, tmp_path)
    job = make_job(tmp_path, "0a1", "cp -r /in/sub /out/ && cat /in/a.txt && echo ok > /out/done")
    h = ex.start(job, lambda b: None)
    logs = []
    follower = threading.Thread(target=ex.follow_logs, args=(h, logs.append))
    follower.start()
    assert ex.wait(h, 60).exit_code == 0
    follower.join(10)
    assert b"alpha" in b"".join(logs)
    assert set(ex.find()) == {"0a1"}
    ex.collect(h, job)
    out = tmp_path / "out-0a1"
    assert (out / "done").read_text() == "ok\n"
    assert (out / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 64
    ex.remove(h)
    assert ex.find() == {}

    docs = list(yaml.safe_load_all((REPO / "packaging" / "kubernetes" / "knit.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "Role")
    granted = {(v, r) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    assert fake_kube.verbs() == API_CALLS == granted
    binding = next(d for d in docs if d["kind"] == "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    ns = next(d for d in docs if d["kind"] == "Namespace")["metadata"]["name"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == ns


def test_stop_signals_the_task_from_the_keeper_and_keeps_its_outputs(fake_kube, tmp_path):
    ex = executor_for(fake_kube, tmp_path)
    job = make_job(tmp_path, "0b2", "echo partial > /out/p.txt; trap 'echo bye > /out/bye.txt; exit 7' TERM; "
                                    "while :; do sleep 1; done")
    h = ex.start(job, lambda b: None)
    wait_until(lambda: task_running(fake_kube, "0b2"), timeout=30, what="the task running")
    time.sleep(0.5)
    ex.stop(h, grace=10)
    outcome = ex.wait(h, 30)
    assert outcome is not None and outcome.exit_code == 7, outcome
    ex.collect(h, job)
    assert (tmp_path / "out-0b2" / "bye.txt").read_text() == "bye\n"
    ex.remove(h)


def test_exec_forbidden_and_lost_contact_are_clear(fake_kube, tmp_path):
    from daemon.executors.base import ExecutorError

    ex = executor_for(fake_kube, tmp_path)
    wrong_ns = executor_for(fake_kube, tmp_path, namespace="nowhere")
    with pytest.raises(ExecutorError) as e:
        wrong_ns.start(make_job(tmp_path, "0c2", "true"), lambda b: None)
    assert "has no namespace nowhere" in str(e.value)

    fake_kube.forbid.add(("create", "pods/exec"))
    with pytest.raises(ExecutorError) as e:
        ex.start(make_job(tmp_path, "0c3", "true"), lambda b: None)
    assert "forbids knit to create pods/exec" in str(e.value)
    assert fake_kube.pod("knit-0c3") is None  # a pod that can't be staged is not left behind
    fake_kube.forbid.clear()

    h = ex.start(make_job(tmp_path, "0c4", "sleep 60"), lambda b: None)
    fake_kube.stop()  # the cluster goes away while the run is followed
    t0 = time.monotonic()
    outcome = ex.wait(h, 30)
    assert outcome is not None and outcome.exit_code is None
    assert "lost contact with the cluster" in outcome.message and "context fake" in outcome.message
    assert time.monotonic() - t0 < 15


def test_a_pod_left_mid_staging_is_deleted_by_find_so_the_run_starts_afresh(fake_kube, tmp_path):
    from daemon.executors.kubernetes import STAGE, pod_manifest

    ex = executor_for(fake_kube, tmp_path)
    job = make_job(tmp_path, "0e6", "cat /in/a.txt > /out/a.txt")
    # what a knitd killed while staging leaves: the pod, its init container still waiting for inputs
    ex._create("knit-0e6", pod_manifest(job, home_label=ex.home_label, helper_image=ex.helper_image), lambda b: None)
    assert ex._await_stage_in("knit-0e6", lambda b: None) is False
    assert ex.find() == {}
    assert fake_kube.pod("knit-0e6") is None
    # started again, the run gets a new pod and its inputs
    h = ex.start(job, lambda b: None)
    assert ex.wait(h, 60).exit_code == 0
    ex.collect(h, job)
    assert (tmp_path / "out-0e6" / "a.txt").read_text() == "alpha\n"
    ex.remove(h)
    assert len([m for m in fake_kube.created if m["metadata"]["name"] == "knit-0e6"]) == 2
    assert STAGE in {c["name"] for c in fake_kube.created[-1]["spec"]["initContainers"]}


# -- the pod spec, pure -------------------------------------------------------------------------------


def test_on_node_maps_to_tolerations_and_affinity():
    from daemon.executors.kubernetes import scheduling

    assert scheduling({}) == {}
    may = scheduling({"may": ("spot=yes",)})
    assert may == {"tolerations": [{"key": "spot", "operator": "Equal", "value": "yes"}]}
    prefer = scheduling({"prefer": ("zone=lab",)})
    assert prefer["tolerations"] == [{"key": "zone", "operator": "Equal", "value": "lab"}]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in prefer["affinity"]["nodeAffinity"]
    must = scheduling({"must": ("gpu=a100", "zone=lab")})
    terms = must["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]},
                                           {"key": "zone", "operator": "In", "values": ["lab"]}]}]
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in must["affinity"]["nodeAffinity"]


def test_gpu_device_ids_count_as_nvidia_gpus_and_labels_are_valid(tmp_path):
    from daemon.executors.kubernetes import pod_manifest

    job = make_job(tmp_path, "0d5", "true", gpu=("0", "3"), cpu=1.5)
    pod = pod_manifest(job, home_label="/a/very/long/home/" + "x" * 200, helper_image="busybox:1.36")
    task = next(c for c in pod["spec"]["containers"] if c["name"] == "task")
    assert task["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert task["resources"]["requests"]["cpu"] == "1500m"
    import re

    for v in pod["metadata"]["labels"].values():
        assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", v), v
    assert "serviceAccountName" not in pod["spec"] and "imagePullSecrets" not in pod["spec"]


# -- contexts ---------------------------------------------------------------------------------------------


def _kubeconfig(path: Path, contexts: dict[str, str], current: str | None) -> Path:
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
           "users": [{"name": "u", "user": {"token": "t"}}],
           "contexts": [{"name": n, "context": {"cluster": "c", "user": "u", "namespace": ns}} for n, ns in contexts.items()]}
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


def test_import_kube_follows_a_kubeconfig_list_and_its_current_context(cli, knit_home, knit_config, tmp_path):
    a = _kubeconfig(tmp_path / "a.yaml", {"alpha": "team-a"}, current="beta")
    b = _kubeconfig(tmp_path / "b.yaml", {"beta": "team-b", "alpha": "shadowed"}, current="alpha")
    r = cli("context", "import-kube", env={"KUBECONFIG": f"{a}:{b}"})
    assert r.code == 0, r
    listed = {c["name"]: c for c in cli("context", "ls", "-o", "json").json()}
    assert set(listed) == {"local", "alpha", "beta"}
    assert listed["alpha"]["namespace"] == "team-a"           # the first file wins, as kubectl merges
    assert listed["beta"]["namespace"] == "team-b"
    assert listed["beta"]["current"] and not listed["alpha"]["current"]   # the first current-context set
    assert listed["alpha"]["kubeconfig"] == f"{a}:{b}" and listed["alpha"]["kube-context"] == "alpha"


def test_context_precedence_flag_then_env_then_file(cli, knit_home, knit_config, tmp_path):
    kc = _kubeconfig(tmp_path / "k.yaml", {"one": "n1", "two": "n2", "three": "n3"}, current="one")
    assert cli("context", "import-kube", "--kubeconfig", str(kc)).code == 0

    def current(*args, env=None):
        r = cli(*args, "context", "show", "-o", "json", env=env)
        assert r.code == 0, r
        return r.json()["name"]

    assert current() == "one"
    assert cli("context", "use", "two").code == 0
    assert current() == "two"
    assert current(env={"KNIT_CONTEXT": "three"}) == "three"
    assert current("--context", "one", env={"KNIT_CONTEXT": "three"}) == "one"
    bad = cli("--context", "nope", "context", "show")
    assert bad.code != 0 and "no context named 'nope'" in bad.err


def test_runs_record_the_context_current_at_creation_and_run_find_filters_by_it(cli, knit_home, knit_config, tmp_path,
                                                                                 session):
    kc = _kubeconfig(tmp_path / "k.yaml", {"alpha": "n1", "beta": "n2"}, current="alpha")
    assert cli("context", "import-kube", "--kubeconfig", str(kc)).code == 0
    plan = apply_plan(session, {"/in": ["kind:a"]}, {"/out": ["kind:b"]}, **sh("true")).plan.plan_id
    pinned = apply_plan(session, {"/in": ["kind:a"]}, {"/out": ["kind:c"]}, context="beta", **sh("echo")).plan.plan_id
    src = tmp_path / "d1"
    src.mkdir()
    (src / "f").write_text("1")
    assert cli("data", "push", "-t", "kind:a", str(src)).code == 0                       # alpha, from the file
    src2 = tmp_path / "d2"
    src2.mkdir()
    (src2 / "f").write_text("2")
    assert cli("--context", "local", "data", "push", "-t", "kind:a", str(src2)).code == 0  # the flag
    rows = catalog_rows(knit_home, "SELECT plan_id, context FROM run WHERE plan_id IN (?, ?) ORDER BY created_ms",
                        (plan, pinned))
    assert sorted(rows) == sorted([(plan, "alpha"), (pinned, "beta"), (plan, "local"), (pinned, "beta")])

    def found(*ctx):
        args = ["run", "find", "-p", plan, "-p", pinned, "--output", "json"]
        for c in ctx:
            args += ["--context", c]
        r = cli(*args)
        assert r.code == 0, r
        return sorted((x["plan_id"], x["context"]) for x in r.json())

    assert found("alpha") == [(plan, "alpha")]
    assert found("beta") == [(pinned, "beta"), (pinned, "beta")]
    assert found("alpha", "local") == sorted([(plan, "alpha"), (plan, "local")])


def test_doctor_checks_a_context_reachability_permissions_and_gpus(cli, fake_kube, tmp_path, knit_config):
    """`knitctl doctor --context NAME`: reachable, every API call allowed (SelfSubjectAccessReview), GPU capacity."""
    add_context(cli, fake_kube, tmp_path, knit_config, use=False)
    fake_kube.node.gpus = 2
    r = cli("doctor", "--context", "fake", "-o", "json")
    assert r.code == 0, r
    checks = {c["check"]: c for c in json.loads(r.out)}
    assert checks["context fake"]["ok"] and "v1.31.0-fake" in checks["context fake"]["detail"]
    assert checks["context fake permissions"]["ok"]
    assert "2 GPU(s) allocatable on 1 node(s)" in checks["context fake gpus"]["detail"]

    fake_kube.forbid.add(("create", "pods/exec"))
    r = cli("doctor", "--context", "fake", "-o", "json")
    assert r.code == 1
    perm = {c["check"]: c for c in json.loads(r.out)}["context fake permissions"]
    assert not perm["ok"] and "create pods/exec" in perm["detail"] and "knit.yaml" in perm["fix"]

    add_context(cli, fake_kube, tmp_path, knit_config, name="stale", use=False, token="expired")
    r = cli("doctor", "--context", "stale")
    assert r.code == 1 and "FAIL context stale" in r.out and "fix:" in r.out
