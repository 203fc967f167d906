"""Any resource Kubernetes takes for a container, in plan files and `knitctl plan resource`; refused at apply
when the plan's runs would go to Docker; the service account changed after apply; and a re-apply that
differs only in mutable fields says what the registered plan kept.

The pod spec on a (fake) cluster is in test_kubernetes_resources.py.
"""

from __future__ import annotations

import pytest
import yaml

from knitctl.errors import UsageError
from knitctl.plans import registry
from knitctl.plans.spec import PlanError, Resources, kube_quantity, parse_plan, parse_resources, resource_kind

from conftest import apply_plan, catalog_dump, plan_doc, push_datum

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated - use:DeprecationWarning")

SRC = "plan.yaml"


def resources(value) -> Resources:
    return parse_resources(SRC, "resources", value)


def resource_error(value) -> str:
    with pytest.raises(PlanError) as e:
        resources(value)
    return e.value.message


@pytest.fixture
def contexts(tmp_path, monkeypatch):
    """A private config: `local` (Docker, current) and a Kubernetes context `gpu-cluster` (never contacted)."""
    path = tmp_path / "knit-config.yaml"
    path.write_text(yaml.safe_dump({"current-context": "local", "contexts": {
        "local": {"kind": "docker"},
        "gpu-cluster": {"kind": "kubernetes", "namespace": "knit", "kubeconfig": str(tmp_path / "kubeconfig")},
    }}))
    monkeypatch.setenv("KNIT_CONFIG", str(path))
    monkeypatch.delenv("KNIT_CONTEXT", raising=False)
    return path


# -- names and quantities (pure) ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("2", 2), (3, 3), ("1k", 1000), ("500m", 0.5), ("1e3", 1000), ("2Gi", 2 * 2**30), ("1.5", 1.5), (".5", 0.5),
    ("4M", 4 * 10**6), ("1Ei", 2**60), (1.0, 1),
])
def test_kubernetes_quantities_read_exactly(text, value):
    assert kube_quantity(text) == value


@pytest.mark.parametrize("text", ["", "two", "2 Gi", "2GiB", "1e", "0x10", True, None, [1], "1e99", float("nan")])
def test_what_is_not_a_kubernetes_quantity(text):
    assert kube_quantity(text) is None


@pytest.mark.parametrize("name, kind", [
    ("cpu", "cpu"), ("memory", "memory"), ("gpu", "gpu"), ("nvidia.com/gpu", "gpu"),
    ("amd.com/gpu", "count"), ("example.com/foo", "count"), ("gpu.intel.com/i915", "count"),
    ("smarter-devices/fuse", "count"), ("example.com/Foo_1.x", "count"),
    ("ephemeral-storage", "bytes"), ("hugepages-2Mi", "bytes"), ("hugepages-1Gi", "bytes"),
])
def test_any_resource_name_kubernetes_takes_for_a_container(name, kind):
    assert resource_kind(name) == kind


def test_extended_resources_are_kept_by_name_in_order_and_round_trip():
    r = resources({"cpu": 1, "example.com/foo": "1k", "amd.com/gpu": 2, "ephemeral-storage": "10Gi",
                   "hugepages-2Mi": "4Mi"})
    assert r.extended == (("amd.com/gpu", 2), ("ephemeral-storage", 10 * 2**30), ("example.com/foo", 1000),
                          ("hugepages-2Mi", 4 * 2**20))
    assert r.kubernetes_only() == ("amd.com/gpu", "ephemeral-storage", "example.com/foo", "hugepages-2Mi")
    assert Resources.from_dict(r.to_dict()) == r
    assert r.to_dict() == {"cpu": 1.0, "amd.com/gpu": 2, "ephemeral-storage": 10 * 2**30, "example.com/foo": 1000,
                           "hugepages-2Mi": 4 * 2**20}
    # gpu (and its alias nvidia.com/gpu) stays Docker's device request, not a Kubernetes-only name
    assert resources({"nvidia.com/gpu": 2}) == Resources(gpu=2) and Resources(gpu=2).kubernetes_only() == ()


@pytest.mark.parametrize("value, where, what", [
    ({"amd.com/gpu": 0}, "resources.amd.com/gpu", "at least 1"),
    ({"amd.com/gpu": "1.5"}, "resources.amd.com/gpu", "not a whole number"),
    ({"amd.com/gpu": "500m"}, "resources.amd.com/gpu", "not a whole number"),
    ({"amd.com/gpu": "lots"}, "resources.amd.com/gpu", "not a whole number"),
    ({"amd.com/gpu": True}, "resources.amd.com/gpu", "not a whole number"),
    ({"amd.com/gpu": "2Ei"}, "resources.amd.com/gpu", "more than Kubernetes can count"),
    ({"ephemeral-storage": "0"}, "resources.ephemeral-storage", "more than 0 bytes"),
    ({"ephemeral-storage": "big"}, "resources.ephemeral-storage", "not a quantity"),
    ({"Amd.com/gpu": 1}, "resources.Amd.com/gpu", "is not a domain"),
    ({"amd_com/gpu": 1}, "resources.amd_com/gpu", "is not a domain"),
    ({"/gpu": 1}, "resources./gpu", "is not a domain"),
    ({"amd.com/": 1}, "resources.amd.com/", "is not a resource name"),
    ({"amd.com/-gpu": 1}, "resources.amd.com/-gpu", "is not a resource name"),
    ({"amd.com/" + "g" * 64: 1}, "resources.amd.com/" + "g" * 64, "at most 63 characters"),
    ({"a.com/b/c": 1}, "resources.a.com/b/c", "one '/'"),
    ({"kubernetes.io/gpu": 1}, "resources.kubernetes.io/gpu", "reserved for Kubernetes"),
    ({"node.kubernetes.io/x": 1}, "resources.node.kubernetes.io/x", "reserved for Kubernetes"),
    ({"requests.example.com/x": 1}, "resources.requests.example.com/x", "quota names"),
    ({"hugepages-": "2Mi"}, "resources.hugepages-", "needs a page size"),
    ({"hugepages-big": "2Mi"}, "resources.hugepages-big", "needs a page size"),
    ({"disk": "1G"}, "resources.disk", "unknown key; valid keys are cpu, memory, gpu, ephemeral-storage"),
    ({"memroy": "1G"}, "resources.memroy", "did you mean `memory`?"),
])
def test_resource_names_and_quantities_kubernetes_would_refuse_are_one_error(value, where, what):
    msg = resource_error(value)
    assert msg.startswith(f"{SRC}: {where}: ") and what in msg, msg


def test_a_plan_file_takes_extended_resources():
    doc = plan_doc({"/in": ["k:v"]}, None, resources={"amd.com/gpu": 1, "memory": "1Gi"})
    spec = parse_plan(yaml.safe_dump(doc), SRC)
    assert spec.resources == Resources(memory=2**30, extended=(("amd.com/gpu", 1),))


# -- apply: Docker refuses them, Kubernetes takes them --------------------------------------------------------------


def test_apply_on_docker_refuses_kubernetes_only_resources_and_changes_nothing(session, contexts):
    before = catalog_dump(session.home.root)
    for dry_run in (True, False):
        with pytest.raises(UsageError) as e:
            apply_plan(session, {"/in": ["k:v"]}, resources={"amd.com/gpu": 1, "example.com/foo": 2}, dry_run=dry_run)
        assert e.value.message == (
            "resources.amd.com/gpu, resources.example.com/foo: not available on Docker (context local); use a Kubernetes "
            "context (`context:` in the plan, `--context NAME` or `knitctl context use NAME`), or leave it out")
    assert catalog_dump(session.home.root) == before


def test_apply_on_docker_keeps_gpu_as_a_device_request(session, contexts):
    plan = apply_plan(session, {"/in": ["k:v"]}, resources={"gpu": 2, "cpu": 1}).plan
    assert plan.resources == Resources(cpu=1.0, gpu=2)


@pytest.mark.parametrize("how", ["pinned", "current", "flag"])
def test_apply_takes_extended_resources_for_a_kubernetes_context(session, contexts, monkeypatch, how):
    kw = {}
    if how == "pinned":
        kw["context"] = "gpu-cluster"
    elif how == "current":
        doc = yaml.safe_load(contexts.read_text())
        contexts.write_text(yaml.safe_dump({**doc, "current-context": "gpu-cluster"}))
    else:
        monkeypatch.setenv("KNIT_CONTEXT", "gpu-cluster")  # what `knitctl --context gpu-cluster` sets
    push_datum(session, "k:v")
    result = apply_plan(session, {"/in": ["k:v"]}, resources={"amd.com/gpu": 2, "cpu": "500m"}, **kw)
    assert result.created and len(result.new_runs) == 1
    assert result.plan.resources.to_dict() == {"cpu": 0.5, "amd.com/gpu": 2}
    assert registry.get(session, result.plan.plan_id).resources.extended == (("amd.com/gpu", 2),)


def test_a_plan_pinned_to_docker_is_refused_even_when_the_current_context_is_kubernetes(session, contexts, monkeypatch):
    monkeypatch.setenv("KNIT_CONTEXT", "gpu-cluster")
    with pytest.raises(UsageError, match=r"resources.amd.com/gpu: not available on Docker \(context local\)"):
        apply_plan(session, {"/in": ["k:v"]}, resources={"amd.com/gpu": 1}, context="local")


def test_cli_apply_and_dry_run_on_docker_say_it_in_one_line(cli_inproc, tmp_path, contexts, session):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(plan_doc({"/in": ["k:v"]}, None, resources={"amd.com/gpu": 1})))
    before = catalog_dump(session.home.root)
    for args in (("--dry-run",), ()):
        r = cli_inproc("plan", "apply", str(plan), *args)
        assert r.code == 2 and r.out == "", r
        assert r.err_lines == [
            "knitctl: error: resources.amd.com/gpu: not available on Docker (context local); use a Kubernetes context "
            "(`context:` in the plan, `--context NAME` or `knitctl context use NAME`), or leave it out"], r
    assert catalog_dump(session.home.root) == before
    r = cli_inproc("--context", "gpu-cluster", "plan", "apply", str(plan), "--dry-run", "-o", "json")
    assert r.code == 0 and r.json()["resources"] == {"amd.com/gpu": 1}, r


# -- plan resource -----------------------------------------------------------------------------------------------


def test_plan_resource_sets_and_unsets_any_resource_on_a_kubernetes_plan(session, contexts):
    plan = apply_plan(session, {"/in": ["k:v"]}, resources={"cpu": 1}, context="gpu-cluster").plan
    p = registry.set_resources(session, plan.plan_id, ["amd.com/gpu=2", "ephemeral-storage=1Gi", "example.com/foo=1k"], [])
    assert p.resources.to_dict() == {"cpu": 1.0, "amd.com/gpu": 2, "ephemeral-storage": 2**30, "example.com/foo": 1000}
    p = registry.set_resources(session, plan.plan_id, ["amd.com/gpu=4"], ["example.com/foo", "cpu"])
    assert p.resources.to_dict() == {"amd.com/gpu": 4, "ephemeral-storage": 2**30}


@pytest.mark.parametrize("set_, unset, what", [
    (["amd.com/gpu=1"], [], "resources.amd.com/gpu: not available on Docker (context local)"),
    (["Amd.com/gpu=1"], [], "--set: 'Amd.com/gpu': 'Amd.com' is not a domain"),
    (["amd.com/gpu=0.5"], [], "not a whole number"),
    ([], ["kubernetes.io/x"], "--unset: 'kubernetes.io/x': the kubernetes.io domain is reserved"),
])
def test_plan_resource_refusals_change_nothing(session, contexts, set_, unset, what):
    plan = apply_plan(session, {"/in": ["k:v"]}, resources={"cpu": 1}).plan
    before = catalog_dump(session.home.root)
    with pytest.raises(UsageError) as e:
        registry.set_resources(session, plan.plan_id, set_, unset)
    assert what in e.value.message, e.value.message
    assert catalog_dump(session.home.root) == before


def test_a_plan_holding_one_on_docker_still_changes_the_rest_and_can_drop_it(session, contexts, monkeypatch):
    monkeypatch.setenv("KNIT_CONTEXT", "gpu-cluster")
    plan = apply_plan(session, {"/in": ["k:v"]}, resources={"amd.com/gpu": 1}).plan   # not pinned
    monkeypatch.setenv("KNIT_CONTEXT", "local")                                       # its runs now go to Docker
    assert registry.set_resources(session, plan.plan_id, ["cpu=2"], []).resources.to_dict() == {"cpu": 2.0, "amd.com/gpu": 1}
    with pytest.raises(UsageError, match="resources.amd.com/gpu: not available on Docker"):
        registry.set_resources(session, plan.plan_id, ["amd.com/gpu=3"], [])
    assert registry.set_resources(session, plan.plan_id, [], ["amd.com/gpu"]).resources.to_dict() == {"cpu": 2.0}


def test_cli_plan_resource_with_an_extended_resource(cli_inproc, session, contexts):
    plan = apply_plan(session, {"/in": ["k:v"]}, context="gpu-cluster").plan
    r = cli_inproc("plan", "resource", plan.plan_id, "-s", "amd.com/gpu=1", "-o", "json")
    assert r.code == 0 and r.json()["resources"] == {"amd.com/gpu": 1}, r
    r = cli_inproc("plan", "show", plan.plan_id)
    assert r.code == 0 and "amd.com/gpu=1" in r.out, r


# -- service account after apply ----------------------------------------------------------------------------------


def test_plan_serviceaccount_sets_and_unsets_only_the_service_account(session):
    plan = apply_plan(session, {"/in": ["k:v"]}, service_account="trainer").plan
    push_datum(session, "k:v")
    before = catalog_dump(session.home.root)
    p = registry.set_service_account(session, plan.plan_id, "evaluator")
    assert p.service_account == "evaluator" and p.to_dict()["service_account"] == "evaluator"
    after = catalog_dump(session.home.root)
    assert [t for t in after if after[t] != before[t]] == ["plan"]
    assert registry.get(session, plan.plan_id).service_account == "evaluator"
    assert registry.set_service_account(session, plan.plan_id, None).service_account is None


@pytest.mark.parametrize("name, what", [
    ("Trainer", "is not a Kubernetes service account name"),
    ("a b", "is not a Kubernetes service account name"),
    ("x" * 254, "is not a Kubernetes service account name"),
    ("  ", "is empty"),
    ("sa\x1b[2J", "control character"),
])
def test_plan_serviceaccount_refuses_names_kubernetes_would_and_changes_nothing(session, name, what):
    plan = apply_plan(session, {"/in": ["k:v"]}, service_account="trainer").plan
    before = catalog_dump(session.home.root)
    with pytest.raises(UsageError, match=what):
        registry.set_service_account(session, plan.plan_id, name)
    assert catalog_dump(session.home.root) == before


def test_a_plan_file_service_account_is_checked_like_kubernetes_does():
    doc = plan_doc({"/in": ["k:v"]}, None, service_account="Not_A_Name")
    with pytest.raises(PlanError, match="service_account: 'Not_A_Name' is not a Kubernetes service account name"):
        parse_plan(yaml.safe_dump(doc), SRC)


def test_cli_plan_serviceaccount(cli_inproc, session):
    plan = apply_plan(session, {"/in": ["k:v"]}).plan
    r = cli_inproc("plan", "serviceaccount", plan.plan_id, "--set", "trainer", "-o", "json")
    assert r.code == 0 and r.json()["service_account"] == "trainer", r
    r = cli_inproc("plan", "show", plan.plan_id)
    assert r.code == 0 and "service account\ttrainer" in r.out, r
    r = cli_inproc("plan", "serviceaccount", plan.plan_id, "-u", "-o", "json")
    assert r.code == 0 and r.json()["service_account"] is None, r
    for args in ((), ("--set", "a", "--unset")):
        r = cli_inproc("plan", "serviceaccount", plan.plan_id, *args)
        assert r.code == 2 and r.err_lines == [
            "knitctl: error: give one of --set NAME or --unset: `knitctl plan serviceaccount PLAN_ID --set NAME`"], r


# -- re-apply: what was kept --------------------------------------------------------------------------------------


def test_a_reapply_differing_only_in_mutable_fields_says_what_it_kept_for_each(session, contexts):
    first = apply_plan(session, {"/in": ["k:v"]}, resources={"cpu": 1}, annotations=["a=1"], service_account="trainer",
                       context="gpu-cluster").plan
    pid = first.plan_id
    again = apply_plan(session, {"/in": ["k:v"]}, resources={"cpu": 2, "amd.com/gpu": 1}, annotations=["a=2"],
                       service_account="other", context="team", active=False)
    assert not again.created and again.plan.plan_id == pid
    assert again.warnings == [
        f"plan {pid} exists and kept its resources cpu=1.0 (the file asks cpu=2.0 amd.com/gpu=1); "
        f"change them with `knitctl plan resource {pid}`",
        f"plan {pid} exists and kept its annotations a=1 (the file asks a=2); change them with `knitctl plan annotate {pid}`",
        f"plan {pid} exists and kept its service account trainer (the file asks other); "
        f"change it with `knitctl plan serviceaccount {pid} --set other`",
        f"plan {pid} exists and kept its context gpu-cluster (the file asks team); "
        "the context isn't part of a plan's identity and stays as it was",
        f"plan {pid} exists and stays active (the file asks inactive); change it with `knitctl plan active no {pid}`",
    ]
    kept = registry.get(session, pid)
    assert (kept.resources, kept.annotations, kept.service_account, kept.spec.context, kept.active) == (
        Resources(cpu=1.0), ("a=1",), "trainer", "gpu-cluster", True)


def test_a_reapply_without_a_service_account_says_how_to_unset_it(session):
    first = apply_plan(session, {"/in": ["k:v"]}, service_account="trainer").plan
    again = apply_plan(session, {"/in": ["k:v"]})
    assert again.warnings == [
        f"plan {first.plan_id} exists and kept its service account trainer (the file asks none); "
        f"change it with `knitctl plan serviceaccount {first.plan_id} --unset`"]
    assert apply_plan(session, {"/in": ["k:v"]}, service_account="trainer").warnings == []
