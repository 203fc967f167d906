"""Project defaults (knitctl/projectdefaults.py): a knit.yaml found walking up from the working directory
gives tags to `data push` and `plan template`, resources to plans without any at `plan apply`, and the
current context (under --context and $KNIT_CONTEXT, over the config's); flags override it; a malformed
one is one clear error that changes nothing; `knitctl config show` says which applied and why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from knitctl import contexts, projectdefaults
from knitctl.errors import UsageError
from knitctl.plans.spec import SCRATCH_TEMPLATE, TEMPLATE, Resources, parse_plan
from knitctl.tags import Tag

from conftest import catalog_dump, catalog_rows, cli_env, make_tree, read_tree, run_cli

FULL = """\
tags:
  - project:mnist
  - owner:alice
resources:
  cpu: 2
  memory: 4Gi
context: team-gpu
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """tmp/proj/knit.yaml (FULL), a working directory two levels below it, a source to push, and a config
    naming team-gpu (a Kubernetes context) and current-context cluster-b."""
    root = tmp_path / "proj"
    deep = root / "sub" / "deep"
    deep.mkdir(parents=True)
    (root / "knit.yaml").write_text(FULL)
    src = make_tree(tmp_path / "src", {"f.txt": "hello"})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "current-context": "cluster-b",
        "contexts": {"team-gpu": {"kind": "kubernetes", "namespace": "ml"},
                     "cluster-b": {"kind": "kubernetes", "namespace": "b"}},
    }))
    monkeypatch.setenv("KNIT_CONFIG", str(config))
    return {"root": root, "deep": deep, "src": src, "yaml": root / "knit.yaml", "config": config}


def user_tags(datum: dict) -> list[str]:
    return sorted(t for t in datum["tags"] if not t.startswith("knit#"))


# -- the walk (pure) ----------------------------------------------------------------------------


def test_the_walk_under_home_stops_at_home_and_elsewhere_at_the_root():
    dirs, stop = projectdefaults.search_dirs(Path("/home/ann/p/q"), Path("/home/ann"))
    assert dirs == [Path("/home/ann/p/q"), Path("/home/ann/p"), Path("/home/ann")]
    assert stop.startswith("/home/ann ($HOME")
    dirs, stop = projectdefaults.search_dirs(Path("/srv/p"), Path("/home/ann"))
    assert dirs == [Path("/srv/p"), Path("/srv"), Path("/")] and stop == "the filesystem root"
    assert projectdefaults.search_dirs(Path("/home/ann"), Path("/home/ann"))[0] == [Path("/home/ann")]
    # $HOME=/ has no parent to stop before
    assert projectdefaults.search_dirs(Path("/x"), Path("/"))[0] == [Path("/x"), Path("/")]


def test_discover_finds_the_nearest_and_never_above_homes_parent(tmp_path, monkeypatch):
    home = tmp_path / "users" / "ann"
    work = home / "p" / "q"
    work.mkdir(parents=True)
    (tmp_path / "users" / "knit.yaml").write_text("tags: [from:users]\n")   # $HOME's parent: never read
    monkeypatch.setenv("HOME", str(home))
    s = projectdefaults.discover(work)
    assert s.found is None and s.searched[-1] == home
    (home / "knit.yaml").write_text("tags: [from:home]\n")
    assert projectdefaults.discover(work).found == home / "knit.yaml"
    (home / "p" / "knit.yaml").write_text("tags: [from:p]\n")
    s = projectdefaults.discover(work)
    assert s.found == home / "p" / "knit.yaml" and s.searched == (work, home / "p")


# -- the file (pure) ----------------------------------------------------------------------------


def test_a_full_file_parses():
    d = projectdefaults.parse(FULL, Path("/p/knit.yaml"))
    assert d.tags == (Tag("project", "mnist"), Tag("owner", "alice"))
    assert d.resources == Resources(cpu=2.0, memory=4 << 30)
    assert d.context == "team-gpu" and d.path == Path("/p/knit.yaml")


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "tags: []\n", "resources: {}\n"])
def test_an_empty_file_sets_nothing(text):
    d = projectdefaults.parse(text, Path("/p/knit.yaml"))
    assert (d.tags, d.resources, d.context) == ((), None, None)


MALFORMED = [
    ("tags: [a\n", "line 2, column 1: not valid YAML"),
    ("tag: [a:b]\n", "tag: unknown key; did you mean `tags`?"),
    ("colour: red\n", "colour: unknown key; valid keys are tags, resources, context"),
    ("tags: a:b\n", "tags: must be a list of key:value"),
    ("tags: [nocolon]\n", "tags[0]: 'nocolon' is not a tag"),
    ("tags: ['knit#id:x']\n", "tags[0]: 'knit#id:x' uses the reserved prefix"),
    ("tags: [3]\n", "tags[0]: must be a key:value string, not a number"),
    ("tags:\n  - project: mnist\n", "tags[0]: is a mapping (project: mnist); write the tag as one string, 'project:mnist'"),
    ('tags: ["a:b\\x1b[2J"]\n', "tags[0]: 'a:b\\x1b[2J' contains the control character \\x1b (ESC)"),
    ("resources: {cpu: lots}\n", "resources.cpu: 'lots' is not a CPU quantity"),
    ("resources: {gpus: 1}\n", "resources.gpus: unknown key; did you mean `gpu`?"),
    ("resources: {memory: -1Gi}\n", "resources.memory:"),
    ("resources: [cpu]\n", "resources: must be a mapping"),
    ("context: [a]\n", "context: must be a context's name, not a list"),
    ("context: 'two words'\n", "context: context name 'two words': use letters, digits"),
    ('context: "a\\x07"\n', "context: context name 'a\\x07'"),
    ("- tags\n", "must be a mapping with tags, resources or context, not a list"),
]


@pytest.mark.parametrize("text,what", MALFORMED)
def test_a_malformed_file_is_one_error_naming_the_file_and_field(text, what):
    with pytest.raises(UsageError) as e:
        projectdefaults.parse(text, Path("/p/knit.yaml"))
    assert e.value.exit_code == 2
    assert e.value.message.startswith("/p/knit.yaml: ")
    assert what in e.value.message
    assert "\n" not in e.value.message and "\x1b" not in e.value.message and "\x07" not in e.value.message


# -- merging (pure) -----------------------------------------------------------------------------


def test_a_flag_tag_replaces_the_defaults_of_its_key_and_the_rest_are_added():
    defaults = (Tag("project", "mnist"), Tag("owner", "alice"), Tag("owner", "bob"), Tag("name", "x"))
    assert projectdefaults.merge_tags(defaults, ["owner:carol"]) == ["project:mnist", "name:x", "owner:carol"]
    assert projectdefaults.merge_tags(defaults, [], given_keys=["name"]) == ["project:mnist", "owner:alice", "owner:bob"]
    assert projectdefaults.merge_tags((), ["a:b"]) == ["a:b"]


def test_resources_go_only_to_a_plan_that_gives_none():
    d = projectdefaults.parse(FULL, Path("/p/knit.yaml"))
    bare = parse_plan("image: busybox:1\ninputs: [{path: /in, tags: [a:b]}]\n", "plan.yaml")
    assert projectdefaults.with_resources(bare, d).resources == d.resources
    own = parse_plan(TEMPLATE, "plan.yaml")
    assert projectdefaults.with_resources(own, d).resources == own.resources == Resources(cpu=1.0, memory=1 << 30)
    assert projectdefaults.with_resources(bare, projectdefaults.Defaults()) is bare


def test_the_template_carries_the_default_tags_and_leaves_resources_to_them():
    d = projectdefaults.parse("tags: [project:mnist, owner:alice]\nresources: {cpu: 2}\n", Path("/p/knit.yaml"))
    text = projectdefaults.template(TEMPLATE, d)
    spec = parse_plan(text, "template")
    for mount in (*spec.inputs, *spec.outputs):
        assert {"project:mnist", "owner:alice"} <= set(mount.tags)
        assert "project:demo" not in mount.tags          # the template's own of the same key gives way
    assert {"project:mnist", "owner:alice", "type:log"} == set(spec.log or ())
    assert {m.path: [t for t in m.tags if t.startswith("type:")] for m in spec.inputs} == {
        "/in/data": ["type:dataset"], "/in/code": ["type:code"]}
    assert spec.resources == Resources()                 # so the defaults' apply
    assert "# resources: from /p/knit.yaml when this file gives none (cpu=2.0)" in text
    assert text.count("\n") == TEMPLATE.count("\n") + 4 - 3   # a tag more in each list, the resources block folded to one line
    scratch = yaml.safe_load(projectdefaults.template(SCRATCH_TEMPLATE, d))
    assert [m["tags"] for m in scratch["inputs"] + scratch["outputs"]] == [["project:mnist", "owner:alice"]] * 2


def test_without_defaults_the_templates_are_unchanged():
    for t in (TEMPLATE, SCRATCH_TEMPLATE):
        assert projectdefaults.template(t, projectdefaults.Defaults()) == t


# -- the context's precedence -------------------------------------------------------------------


def test_the_context_is_env_then_knit_yaml_then_config_then_local(project, monkeypatch):
    monkeypatch.setitem(projectdefaults._state, "enabled", False)
    monkeypatch.chdir(project["deep"])
    monkeypatch.delenv("KNIT_CONTEXT", raising=False)
    # not the command line (knitd, the TUI): a knit.yaml is no business of theirs
    assert contexts.current_source() == contexts.Current("cluster-b", contexts.FROM_CONFIG, str(project["config"]))
    projectdefaults.enable()
    assert contexts.current_source() == contexts.Current("team-gpu", contexts.FROM_PROJECT, str(project["yaml"]))
    monkeypatch.setenv("KNIT_CONTEXT", "other")
    assert contexts.current_source() == contexts.Current("other", contexts.FROM_ENV)
    monkeypatch.delenv("KNIT_CONTEXT")
    project["yaml"].write_text("tags: [a:b]\n")
    assert contexts.current() == "cluster-b"
    project["config"].unlink()
    assert contexts.current_source() == contexts.Current("local", contexts.FROM_DEFAULT)


# -- the command line ---------------------------------------------------------------------------


def test_push_takes_the_tags_of_a_parent_directorys_knit_yaml(project, knit_home):
    r = run_cli(["data", "push", project["src"], "-t", "kind:raw", "-o", "json"], home=knit_home, cwd=project["deep"])
    assert r.code == 0, r
    assert user_tags(r.json()[0]) == ["kind:raw", "owner:alice", "project:mnist"]


def test_flags_override_the_defaults(project, knit_home):
    project["yaml"].write_text(FULL.replace("tags:\n", "tags:\n  - name:fixed\n"))
    r = run_cli(["data", "push", project["src"], "-t", "owner:bob", "-n", "-o", "json"], home=knit_home, cwd=project["deep"])
    assert r.code == 0, r
    assert user_tags(r.json()[0]) == ["name:src", "owner:bob", "project:mnist"]


def test_the_context_flag_and_env_beat_knit_yaml_which_beats_the_config(project, knit_home, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"image": "busybox:1", "inputs": [{"path": "/in", "tags": ["project:mnist"]}],
                                    "outputs": []}))
    assert run_cli(["plan", "apply", plan], home=knit_home, cwd=tmp_path).code == 0

    def push(*args, env=None, cwd=project["deep"]):
        r = run_cli([*args, "data", "push", project["src"], "-o", "json"], home=knit_home, cwd=cwd, env=env)
        assert r.code == 0, r
        rows = catalog_rows(knit_home, "SELECT context FROM run WHERE assignment = ?", (f"/in={r.json()[0]['knit_id']}",))
        assert len(rows) == 1, rows
        return rows[0][0]

    assert push() == "team-gpu"
    assert push("--context", "cluster-b") == "cluster-b"
    assert push(env={"KNIT_CONTEXT": "local"}) == "local"
    project["yaml"].write_text("tags: [project:mnist]\n")
    assert push() == "cluster-b"          # no context in knit.yaml: the config's


def test_the_fast_path_applies_the_defaults_too(project, knit_home, tmp_path):
    """`data push` answered without Typer (knitctl/cli/fast.py) takes the same defaults."""
    probe = ("import atexit, json, sys\n"
             "out = sys.argv[1]\n"
             "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
             "sys.argv = ['knitctl', *sys.argv[2:]]\n"
             "from knitctl.cli.main import run\nrun()\n")
    env = cli_env(knit_home, {"XDG_CACHE_HOME": str(tmp_path / "cache")})
    mods = tmp_path / "modules.json"
    found = []
    for _ in range(2):  # the first run describes the app for the fast path; the second is answered by it
        p = subprocess.run([sys.executable, "-c", probe, str(mods), "data", "push", str(project["src"]), "-o", "json"],
                           cwd=project["deep"], env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        found.append((user_tags(json.loads(p.stdout)[0]), "typer" in json.loads(mods.read_text())))
    assert found == [(["owner:alice", "project:mnist"], True), (["owner:alice", "project:mnist"], False)]


@pytest.mark.parametrize("text,what", [
    ("tags: [a\n", "not valid YAML"),
    ("tagz: [a:b]\n", "tagz: unknown key; did you mean `tags`?"),
    ("tags: [nocolon]\n", "tags[0]: 'nocolon' is not a tag"),
    ("resources: {memory: lots}\n", "resources.memory: 'lots' is not a memory quantity"),
])
def test_a_malformed_file_stops_push_template_and_apply_with_one_line_and_changes_nothing(
        project, knit_home, tmp_path, text, what):
    assert run_cli(["init"], home=knit_home).code == 0
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"image": "busybox:1", "inputs": [{"path": "/in", "tags": ["a:b"]}], "outputs": []}))
    before, store = catalog_dump(knit_home), read_tree(knit_home / "data") if (knit_home / "data").exists() else {}
    project["yaml"].write_text(text)
    for args in (["data", "push", project["src"], "-t", "a:b"], ["plan", "template"], ["plan", "apply", plan],
                 ["config", "show"]):
        r = run_cli(args, home=knit_home, cwd=project["deep"])
        assert r.code == 2, r
        assert r.err_lines == [f"knitctl: error: {project['yaml']}: " + r.err.split(f"{project['yaml']}: ", 1)[1].strip()], r
        assert what in r.err and "Traceback" not in r.err and r.out == ""
    assert catalog_dump(knit_home) == before
    assert (read_tree(knit_home / "data") if (knit_home / "data").exists() else {}) == store
    assert read_tree(project["src"]) == {"f.txt": ("file", b"hello", False)}


def test_plan_apply_gives_the_default_resources_to_a_plan_without_any(project, knit_home, tmp_path):
    project["yaml"].write_text("resources: {cpu: 2, memory: 4Gi}\n")
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump({"image": "busybox:1", "inputs": [{"path": "/in", "tags": ["a:b"]}], "outputs": []}))
    own = tmp_path / "own.yaml"
    own.write_text(yaml.safe_dump({"image": "busybox:1", "inputs": [{"path": "/in", "tags": ["c:d"]}], "outputs": [],
                                   "resources": {"cpu": 1}}))
    r = run_cli(["plan", "apply", bare, "--dry-run", "-o", "json"], home=knit_home, cwd=project["deep"])
    assert r.code == 0, r
    assert r.json()["resources"] == {"cpu": 2.0, "memory": 4 << 30}
    assert f"resources from {project['yaml']} (the plan file gives none): cpu=2.0 memory={4 << 30}" in r.err
    assert run_cli(["plan", "find", "-o", "json"], home=knit_home).json() == []   # a dry run
    r = run_cli(["plan", "apply", bare, "-o", "json"], home=knit_home, cwd=project["deep"])
    assert r.code == 0 and r.json()["resources"] == {"cpu": 2.0, "memory": 4 << 30}, r
    r = run_cli(["plan", "apply", own, "-o", "json"], home=knit_home, cwd=project["deep"])
    assert r.code == 0 and r.json()["resources"] == {"cpu": 1.0}, r
    assert "resources from" not in r.err


def test_plan_template_prints_the_defaults_tags(project, knit_home):
    r = run_cli(["plan", "template"], home=knit_home, cwd=project["deep"])
    assert r.code == 0, r
    spec = parse_plan(r.out, "template")
    assert all({"project:mnist", "owner:alice"} <= set(m.tags) for m in (*spec.inputs, *spec.outputs))
    assert spec.resources == Resources()


def test_config_show_says_which_file_applied_and_why(project, knit_home):
    r = run_cli(["config", "show", "-o", "json"], home=knit_home, cwd=project["deep"])
    assert r.code == 0, r
    doc = r.json()
    assert doc["knit_yaml"] == str(project["yaml"]) and doc["found_in"] == str(project["root"])
    assert doc["walked_up_from"] == str(project["deep"])
    assert doc["searched"] == [str(project["deep"]), str(project["deep"].parent), str(project["root"])]
    assert doc["defaults"] == {"tags": ["project:mnist", "owner:alice"], "resources": {"cpu": 2.0, "memory": 4 << 30},
                               "context": "team-gpu"}
    assert doc["context"] == {"name": "team-gpu", "source": "knit.yaml", "file": str(project["yaml"]), "known": True}
    r = run_cli(["config", "show"], home=knit_home, cwd=project["deep"])
    assert r.code == 0, r
    rows = dict(line.split("\t", 1) for line in r.out_lines)
    assert rows == {
        "knit.yaml": f"{project['yaml']}: found in {project['root']} (walked up from {project['deep']})",
        "tags": "project:mnist owner:alice",
        "resources": f"cpu=2.0 memory={4 << 30}",
        "context": f"team-gpu (from {project['yaml']})",
    }
    r = run_cli(["--context", "cluster-b", "config", "show"], home=knit_home, cwd=project["deep"])
    assert "cluster-b (from $KNIT_CONTEXT (--context sets it)); the knit.yaml's team-gpu gives way to it" in r.out
    r = run_cli(["context", "ls", "-o", "json"], home=knit_home, cwd=project["deep"])
    assert [c["name"] for c in r.json() if c["current"]] == ["team-gpu"]


def test_config_show_without_a_knit_yaml(tmp_path, knit_home):
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "knit.yml").write_text("tags: [a:b]\n")
    r = run_cli(["config", "show"], home=knit_home, cwd=work)
    assert r.code == 0, r
    rows = dict(line.split("\t", 1) for line in r.out_lines)
    assert rows["knit.yaml"] == f"none: no knit.yaml in {work} or its parents up to the filesystem root"
    assert rows["hint"] == f"{work / 'knit.yml'} is not read: the file must be named knit.yaml"
    assert rows["context"] == "local (from the default: no knit.yaml or config file names one)"
    doc = run_cli(["config", "show", "-o", "json"], home=knit_home, cwd=work).json()
    assert doc["knit_yaml"] is None and doc["defaults"] == {"tags": [], "resources": {}, "context": None}


@pytest.mark.parametrize("kind,what", [
    ("dir", "is a directory, not a knit.yaml (project defaults)"),
    ("fifo", "is a FIFO, not a knit.yaml (project defaults)"),
    ("dangling", "no such file; fix it, or move it aside to do without project defaults"),
    ("big", "larger than a knit.yaml (project defaults) can be"),
])
def test_a_knit_yaml_that_is_not_a_readable_file_is_one_clear_error(tmp_path, knit_home, kind, what):
    import os

    work = tmp_path / "p" / "q"
    work.mkdir(parents=True)
    target = tmp_path / "p" / "knit.yaml"
    if kind == "dir":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)       # never opened for a blocking read
    elif kind == "dangling":
        target.symlink_to("nowhere")
    else:
        target.write_text("# " + "x" * (projectdefaults.MAX_BYTES + 1) + "\n")
    r = run_cli(["config", "show"], home=knit_home, cwd=work, timeout=60)
    assert r.code == 2 and r.err_lines == [r.err_lines[0]] and r.err_lines[0].startswith(f"knitctl: error: {target}: "), r
    assert what in r.err


def test_a_removed_working_directory_has_no_defaults_and_push_still_works(tmp_path, knit_home):
    gone = tmp_path / "gone"
    gone.mkdir()
    src = make_tree(tmp_path / "src", {"f.txt": "x"})
    script = ("import os, sys\nos.rmdir(sys.argv[1])\nsys.argv = ['knitctl', *sys.argv[2:]]\n"
              "from knitctl.cli.main import run\nrun()\n")
    p = subprocess.run([sys.executable, "-c", script, str(gone), "data", "push", str(src), "-t", "a:b", "-o", "json"],
                       cwd=gone, env=cli_env(knit_home), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert user_tags(json.loads(p.stdout)[0]) == ["a:b"]


def test_without_a_knit_yaml_nothing_changes(tmp_path, knit_home):
    work = tmp_path / "plain"
    src = make_tree(tmp_path / "src", {"f.txt": "x"})
    work.mkdir()
    r = run_cli(["data", "push", src, "-t", "a:b", "-o", "json"], home=knit_home, cwd=work)
    assert r.code == 0 and user_tags(r.json()[0]) == ["a:b"], r
    r = run_cli(["plan", "template"], home=knit_home, cwd=work)
    assert r.out == TEMPLATE
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"image": "busybox:1", "inputs": [{"path": "/in", "tags": ["a:b"]}], "outputs": []}))
    r = run_cli(["plan", "apply", plan, "-o", "json"], home=knit_home, cwd=work)
    assert r.code == 0 and r.json()["resources"] == {} and "resources from" not in r.err, r
