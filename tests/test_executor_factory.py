"""Executors are built by one factory (daemon/executors/__init__.py:make_executor) from a context's
settings, and the run loop asks it for each context it meets. No engine or cluster is needed: a
kubeconfig is only read when the executor is built, and Docker's absence is the finding here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from daemon.executors import ExecutorError, kind_of, make_executor
from daemon.executors.fake import FakeExecutor


def kubeconfig(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "k",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "k", "context": {"cluster": "c", "user": "u"}}],
    }))
    return path


def test_a_kubernetes_context_gets_a_kubernetes_executor(tmp_path):
    from daemon.executors.kubernetes import KubernetesExecutor, home_hash

    ex = make_executor({"name": "lab", "kind": "kubernetes", "kubeconfig": str(kubeconfig(tmp_path / "kc")),
                        "namespace": "ml"}, "/srv/knit")
    assert isinstance(ex, KubernetesExecutor)
    assert (ex.context, ex.namespace, ex.server, ex.home_value) == ("lab", "ml", "https://127.0.0.1:1", home_hash("/srv/knit"))
    assert kind_of({"name": "old"}) == "kubernetes"  # a context without a kind is a cluster


def test_a_kubeconfig_that_can_not_be_read_is_one_clear_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ExecutorError) as e:
        make_executor({"name": "lab", "kubeconfig": str(missing), "namespace": "ml"}, "/srv/knit")
    assert str(e.value).startswith(f"context lab: can't load kubeconfig {missing} (")
    assert str(e.value).endswith("fix the file or the context (`knitctl context show lab`)")


def test_a_docker_context_without_an_engine_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")
    with pytest.raises(ExecutorError) as e:
        make_executor({"name": "local", "kind": "docker"}, "/srv/knit")
    assert str(e.value).startswith("can't reach Docker (unix:///nonexistent): ")
    assert "start dockerd (or fix DOCKER_HOST)" in str(e.value)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ExecutorError) as e:
        make_executor({"name": "odd", "kind": "slurm"}, "/srv/knit")
    assert str(e.value) == ("context odd: kind 'slurm' is not one of docker, kubernetes; "
                            "fix the context (`knitctl context show odd`)")


def test_the_run_loop_builds_each_contexts_executor_once_through_the_factory(session, tmp_path):
    from daemon.executors.kubernetes import KubernetesExecutor
    from daemon.loop import Daemon
    from knitctl import contexts

    contexts.add("lab", {"kind": "kubernetes", "kubeconfig": str(kubeconfig(tmp_path / "kc")), "namespace": "ml"})
    contexts.add("box", {"kind": "docker"})
    contexts.add("broken", {"kind": "kubernetes", "kubeconfig": str(tmp_path / "nope"), "namespace": "ml"})
    local = FakeExecutor()
    d = Daemon(session.home, local, parallelism=1, gpus=None)
    try:
        lab = d.executor_for("lab")
        assert isinstance(lab, KubernetesExecutor) and lab.home_label == str(session.home.root)
        assert d.executor_for("lab") is lab
        assert d.executor_for("box") is local and d.executor_for(None) is local  # Docker contexts share the local one
        with pytest.raises(ExecutorError, match="context broken: can't load kubeconfig"):
            d.executor_for("broken")
    finally:
        d.session.close()
