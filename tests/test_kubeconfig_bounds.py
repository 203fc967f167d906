"""`context import-kube` on files that are not kubeconfigs: one clear line, exit 2, the config untouched."""

from __future__ import annotations

import os

import pytest

from knitctl.contexts import parse_kubeconfig, read_kube_contexts
from knitctl.errors import UsageError

GOOD = """\
apiVersion: v1
kind: Config
current-context: b
contexts:
  - name: a
    context: {cluster: c, user: u}
  - name: b
    context: {cluster: c, user: u, namespace: ml}
"""

BAD = {
    "binary": bytes(range(256)) * 8,
    "list": b"- 1\n- 2\n",
    "scalar": b"42\n",
    "contexts-int": b"contexts: 5\n",
    "contexts-of-ints": b"contexts: [1, 2]\n",
    "context-int": b"contexts: [{name: a, context: 5}]\n",
    "name-list": b"contexts: [{name: [1], context: {cluster: c}}]\n",
    "namespace-int": b"contexts: [{name: a, context: {cluster: c, namespace: 5}}]\n",
    "current-list": b"current-context: [1]\ncontexts: [{name: a, context: {cluster: c}}]\n",
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "not-yaml": b"contexts: [\n",
}


def test_a_good_kubeconfig_parses():
    import yaml

    assert parse_kubeconfig(yaml.safe_load(GOOD), "kc") == ("b", [("a", "default"), ("b", "ml")])


@pytest.mark.parametrize("label", sorted(BAD))
def test_files_that_are_not_kubeconfigs_are_one_usage_error(tmp_path, label):
    p = tmp_path / "kc"
    p.write_bytes(BAD[label])
    with pytest.raises(UsageError) as e:
        read_kube_contexts([p])
    assert str(p) in e.value.message


def test_special_files_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "kc"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="FIFO"):
        read_kube_contexts([fifo])
    with pytest.raises(UsageError, match="device"):
        read_kube_contexts([__import__("pathlib").Path("/dev/zero")])


@pytest.mark.parametrize("label", ["binary", "list", "contexts-int", "name-list", "deep"])
def test_cli_import_kube_of_a_bad_file(cli, knit_home, tmp_path, label):
    p = tmp_path / "kc"
    p.write_bytes(BAD[label])
    cfg = tmp_path / "cfg.yaml"
    r = cli("context", "import-kube", "--kubeconfig", p, env={"KNIT_CONFIG": str(cfg)})
    assert r.code == 2, r
    assert "Traceback" not in r.err and len(r.err_lines) == 1, r
    assert not cfg.exists()


def test_a_context_name_with_control_characters_is_refused(tmp_path):
    p = tmp_path / "kc"
    p.write_text('contexts: [{name: "a\\e]0;x\\a", context: {cluster: c}}]\n')
    with pytest.raises(UsageError, match="control characters") as e:
        read_kube_contexts([p])
    assert "\x1b" not in e.value.message
