"""Plugins: `knitctl NAME ...` runs `knitctl-NAME` from PATH when NAME is not a knitctl command, with
KNIT_HOME, KNIT_CONTEXT and KNIT_CONFIG in its environment; `knitctl plugin ls`.

Every test runs the real console entry point in a subprocess (the plugin replaces that process), with
its own PATH directories and its own fast-path cache.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from knitctl import plugins

from conftest import Result, run_cli

REPORT = f"""#!{sys.executable}
import json, os, sys
print(json.dumps({{"argv": sys.argv, "env": {{k: os.environ.get(k) for k in
                  ("KNIT_HOME", "KNIT_CONTEXT", "KNIT_CONFIG", "MARK")}}, "stdin": sys.stdin.read()}}))
sys.exit(int(os.environ.get("PLUGIN_EXIT", "7")))
"""


def write(path: Path, text: str, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def bins(tmp_path) -> tuple[Path, Path]:
    """Two PATH directories, searched in this order."""
    return tmp_path / "bin1", tmp_path / "bin2"


@pytest.fixture
def knit(tmp_path, knit_home, bins):
    """`knit(*args, env={...})`: knitctl in a subprocess with the plugin directories first on PATH."""

    def _run(*args, env: dict | None = None, cwd: Path | None = None, input: str | None = None) -> Result:
        path = os.pathsep.join([*map(str, bins), os.environ.get("PATH", "")])
        return run_cli(args, home=knit_home, cwd=cwd or tmp_path,
                       env={"PATH": path, "XDG_CACHE_HOME": str(tmp_path / "cache"), **(env or {})}, input=input)

    return _run


def test_a_plugin_on_path_runs_with_its_arguments_exit_code_and_knits_environment(knit, bins, knit_home):
    plugin = write(bins[1] / "knitctl-hello", REPORT)
    r = knit("hello", "a", "b c", "--flag", "-x", input="from stdin")
    assert r.code == 7, r
    report = json.loads(r.out)
    assert report["argv"] == [str(plugin), "a", "b c", "--flag", "-x"]
    assert report["env"] == {"KNIT_HOME": str(knit_home), "KNIT_CONTEXT": "local",
                             "KNIT_CONFIG": os.environ["KNIT_CONFIG"], "MARK": None}
    assert report["stdin"] == "from stdin" and r.err == ""
    assert knit("hello", env={"PLUGIN_EXIT": "0", "MARK": "kept"}).json()["env"]["MARK"] == "kept"


def test_a_plugins_context_is_the_flag_else_the_variable_else_the_configs(knit, bins):
    write(bins[0] / "knitctl-ctx", REPORT)
    config = Path(os.environ["KNIT_CONFIG"])
    config.write_text(yaml.safe_dump({"current-context": "team", "contexts": {
        "team": {"kind": "kubernetes", "namespace": "knit"}}}))
    assert knit("ctx").json()["env"]["KNIT_CONTEXT"] == "team"
    assert knit("ctx", env={"KNIT_CONTEXT": "from-env"}).json()["env"]["KNIT_CONTEXT"] == "from-env"
    assert knit("--context", "flag", "ctx", env={"KNIT_CONTEXT": "from-env"}).json()["env"]["KNIT_CONTEXT"] == "flag"
    r = knit("--context=other", "ctx", "--context", "arg")
    assert r.json()["env"]["KNIT_CONTEXT"] == "other" and r.json()["argv"][1:] == ["--context", "arg"]


def test_a_plugins_context_comes_from_a_knit_yaml_under_the_flag_and_the_variable(knit, bins, tmp_path):
    write(bins[0] / "knitctl-ctx", REPORT)
    project = tmp_path / "project" / "sub"
    project.mkdir(parents=True)
    (tmp_path / "project" / "knit.yaml").write_text("context: from-yaml\n")
    assert knit("ctx", cwd=project).json()["env"]["KNIT_CONTEXT"] == "from-yaml"
    assert knit("ctx", cwd=project, env={"KNIT_CONTEXT": "from-env"}).json()["env"]["KNIT_CONTEXT"] == "from-env"
    assert knit("--context", "flag", "ctx", cwd=project).json()["env"]["KNIT_CONTEXT"] == "flag"


def test_a_plugins_knit_home_is_absolute_as_knitctl_resolves_it(knit, bins, tmp_path):
    write(bins[0] / "knitctl-where", REPORT)
    (tmp_path / "work").mkdir()
    r = knit("where", env={"KNIT_HOME": "rel/home", "KNIT_CONFIG": "cfg.yaml"}, cwd=tmp_path / "work")
    assert r.json()["env"]["KNIT_HOME"] == str(tmp_path / "work" / "rel" / "home")
    assert r.json()["env"]["KNIT_CONFIG"] == str(tmp_path / "work" / "cfg.yaml")


def test_the_first_plugin_on_path_runs(knit, bins):
    first = write(bins[0] / "knitctl-dup", REPORT)
    write(bins[1] / "knitctl-dup", "#!/bin/sh\necho second\n")
    write(bins[0] / "knitctl-late", "#!/bin/sh\necho first, not executable\n", mode=0o644)
    late = write(bins[1] / "knitctl-late", REPORT)
    assert knit("dup").json()["argv"][0] == str(first)
    assert knit("late").json()["argv"][0] == str(late)


def test_a_builtin_command_wins_over_a_plugin_of_its_name(knit, bins):
    write(bins[0] / "knitctl-context", "#!/bin/sh\necho plugin ran\n")
    write(bins[0] / "knitctl-init", "#!/bin/sh\necho plugin ran\n")
    r = knit("context", "ls", "-o", "json")
    assert r.code == 0 and [c["name"] for c in r.json()] == ["local"], r
    r = knit("init")
    assert r.code == 0 and "plugin ran" not in r.out + r.err, r


def test_an_unknown_command_still_gives_the_usual_error(knit, bins, tmp_path):
    write(bins[0] / "knitctl-noexec", REPORT, mode=0o644)       # not executable: not a plugin
    (bins[0] / "knitctl-adir").mkdir()                           # a directory: not a plugin
    without = run_cli(["nosuch"], home=tmp_path / "h", env={"XDG_CACHE_HOME": str(tmp_path / "cache0")})
    assert without.code == 2 and "No such command 'nosuch'" in without.err, without
    for word in ("nosuch", "noexec", "adir"):
        r = knit(word)
        assert (r.code, r.out, r.err) == (without.code, without.out, without.err.replace("nosuch", word)), r


def test_a_plugin_that_cant_be_started_is_one_line(knit, bins):
    bad = write(bins[0] / "knitctl-bad", "echo no interpreter line\n")
    r = knit("bad", "x")
    assert r.code == 2 and r.out == "", r
    assert r.err_lines == [f"knitctl: error: plugin `knitctl bad` ({bad}) can't be run: Exec format error; "
                           "make it an executable program (a #! line and chmod +x) or remove it from PATH"], r


def test_a_plugin_starts_without_typer_once_the_command_names_are_cached(knit, bins, tmp_path, knit_home):
    write(bins[0] / "knitctl-quick", "#!/bin/sh\nexit 0\n")
    env = {"PYTHONPROFILEIMPORTTIME": "1"}      # python -X importtime: each import on stderr, before the exec
    first = knit("quick", env=env)
    again = knit("quick", env=env)
    assert first.code == again.code == 0
    assert " typer" in first.err                 # the first run learnt knitctl's commands from the Typer app
    assert " typer" not in again.err and " click" not in again.err, again.err[-2000:]


def test_plugin_ls_says_which_run_and_why_the_others_do_not(knit, bins):
    write(bins[0] / "knitctl-hello", REPORT)
    write(bins[0] / "knitctl-noexec", REPORT, mode=0o644)
    write(bins[0] / "knitctl-data", REPORT)
    write(bins[1] / "knitctl-hello", REPORT)
    write(bins[1] / "knitctl-zz", REPORT)
    write(bins[1] / "unrelated", REPORT)
    r = knit("plugin", "ls", "-o", "json")
    assert r.code == 0, r
    assert r.json() == [
        {"name": "data", "path": str(bins[0] / "knitctl-data"), "runs": False,
         "note": "ignored: `knitctl data` is a built-in command"},
        {"name": "hello", "path": str(bins[0] / "knitctl-hello"), "runs": True, "note": ""},
        {"name": "noexec", "path": str(bins[0] / "knitctl-noexec"), "runs": False,
         "note": "ignored: not executable (chmod +x)"},
        {"name": "hello", "path": str(bins[1] / "knitctl-hello"), "runs": False,
         "note": f"shadowed by {bins[0] / 'knitctl-hello'}"},
        {"name": "zz", "path": str(bins[1] / "knitctl-zz"), "runs": True, "note": ""},
    ]
    r = knit("plugin", "ls")
    assert r.code == 0 and r.out_lines[1] == f"hello\t{bins[0] / 'knitctl-hello'}\t-", r


# -- the rules (pure) --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, word, rest, options", [
    (["foo", "a", "--b"], "foo", ["a", "--b"], {}),
    (["--context", "k", "foo", "a"], "foo", ["a"], {"--context": "k"}),
    (["--context=k", "foo"], "foo", [], {"--context": "k"}),
    (["--help"], None, [], {}),
    (["--version", "foo"], None, [], {}),
    (["--context"], None, [], {}),
    ([], None, [], {}),
])
def test_the_command_word_after_root_options(argv, word, rest, options):
    assert plugins.command_word(argv) == (word, rest, options)


@pytest.mark.parametrize("name", ["", "-x", ".hidden", "a/b"])
def test_words_that_never_name_a_plugin(tmp_path, name):
    write(tmp_path / "knitctl-x", REPORT)
    assert not plugins.valid_name(name) and plugins.find(name, str(tmp_path)) is None
