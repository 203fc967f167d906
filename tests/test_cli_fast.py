"""The one-liners answered without Typer (knitctl/cli/fast.py): what they import, and that they answer
exactly as Typer does.

Each test gets its own cache directory (XDG_CACHE_HOME): the first run of a command goes through
Typer and describes the app there; later runs are answered from that description.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli_env, make_tree

STORE_WRITING = ("tarfile", "concurrent", "ctypes", "secrets", "logging")
HEAVY = ("typer", "click", "rich", "yaml", "pydantic", "docker", "kubernetes", "textual", "knitctl.metadata", "tui")

PROBE = r"""
import atexit, json, sys
OUT = sys.argv[1]
def report():
    with open(OUT, "w") as f:
        json.dump(sorted(sys.modules), f)
atexit.register(report)
sys.argv = ["knitctl", *sys.argv[2:]]
from knitctl.cli.main import run
run()
"""


@pytest.fixture
def knit(tmp_path, knit_home):
    """Run knitctl in a subprocess; returns (code, out, err, the modules it imported).

    The cache is the test's own; `cache=None`: none usable (everything goes through Typer)."""

    def _run(*args, cache: Path | None = tmp_path / "cache"):
        mods = tmp_path / "modules.json"
        mods.unlink(missing_ok=True)
        if cache is None:  # a file where the cache directory would be: nothing can be cached or read
            cache = tmp_path / "no-cache" / "cache"
            cache.parent.write_text("")
        env = cli_env(knit_home, {"XDG_CACHE_HOME": str(cache)})
        p = subprocess.run([sys.executable, "-c", PROBE, str(mods), *map(str, args)], env=env, cwd=tmp_path,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        loaded = json.loads(mods.read_text())
        return p.returncode, p.stdout, p.stderr, loaded

    return _run


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY or any(m.startswith(h + ".") or m == h for h in HEAVY)]


@pytest.fixture
def some_data(cli, tmp_path):
    src = make_tree(tmp_path / "src", {"a": {"x.txt": "1"}, "b": {"y.txt": "2"}})
    for name in ("a", "b"):
        r = cli("data", "push", "-t", "kind:fast", "-t", f"name:{name}", src / name)
        assert r.code == 0, r
    return src


@pytest.mark.parametrize("args", [
    ("data", "find"), ("data", "find", "-t", "kind:fast", "-o", "json"), ("run", "find"), ("plan", "find"),
    ("status",), ("--help",),
])
def test_a_one_liner_imports_no_heavy_module(knit, some_data, args):
    first = knit(*args)  # through Typer, which the cache learns from
    code, out, err, loaded = knit(*args)
    assert (code, out, err) == first[:3] and code == 0, err
    assert "typer" in first[3]
    assert heavy(loaded) == []
    assert [m for m in loaded if m.split(".")[0] in STORE_WRITING] == []  # reading needs no copy threads, tar, ctypes


def test_data_push_imports_nothing_heavy(knit, some_data):
    knit("data", "find")
    code, out, err, loaded = knit("data", "push", "-t", "kind:fast", some_data / "a", "-o", "json")
    assert code == 0, err
    assert json.loads(out)[0]["tags"][0] == "kind:fast"
    assert heavy(loaded) == []
    assert err.startswith("pushed ")


def test_a_message_is_written_as_it_is(cli):
    r = cli("data", "find", "-t", ":smile:")
    assert r.code == 2 and len(r.err_lines) == 1
    assert "':smile:'" in r.err  # quoted as given: no emoji made of it


CASES = [
    ("data", "find", "-t", "name:a", "-o", "json"),
    ("data", "find", "--tag=kind:fast", "-oyaml"),
    ("data", "find", "--transient", "both", "--", ),
    ("data", "find", "-t", "bad-tag"),                      # the library's one-line error
    ("data", "find", "--bogus"),                            # Typer's usage error
    ("data", "find", "-o", "xml"),                          # a choice Typer refuses
    ("data", "find", "-h"),                                 # a command's help is Typer's
    ("data", "find", "extra-argument"),
    ("run", "find", "--status", "done", "-s", "failed", "--output", "json"),
    ("run", "find", "-s", "nonsense"),
    ("plan", "find", "--active", "yes", "-i", "kind:fast"),
    ("status", "-o", "json"),
    ("data", "push"),                                       # a required argument missing
    ("data", "push", "/no/such/dir", "-t", "k:v"),
]


def test_answers_exactly_as_typer_does(knit, some_data):
    knit("data", "find")
    for args in CASES:
        assert knit(*args)[:3] == knit(*args, cache=None)[:3], args


def test_help_is_typers_own_text_until_a_source_changes(knit, tmp_path):
    first = knit("--help")
    again = knit("--help")
    assert first[:3] == again[:3]
    assert "typer" in first[3] and heavy(again[3]) == []
    for cached in (tmp_path / "cache" / "knit").glob("help-*.json"):  # a stale description is not used
        doc = json.loads(cached.read_text())
        doc["key"] = doc["key"].replace("v1|", "v0|")
        doc["text"] = "stale"
        cached.write_text(json.dumps(doc))
    assert knit("--help")[1] == first[1]


def test_a_stale_description_is_not_used(tmp_path, monkeypatch):
    from knitctl.cli import fast

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    from knitctl.cli.app import app

    st = fast.stamp()
    fast.save_spec(app, st)
    assert set(fast.load_spec(st)["commands"]) == {" ".join(k) for k in fast.HOT}
    assert fast.load_spec(st + "|edited.py:1:2") is None


@pytest.fixture(scope="module")
def described():
    from knitctl.cli import fast
    from knitctl.cli.app import app

    return fast.describe(app)


@pytest.mark.parametrize("args", [
    ["--bogus"], ["-h"], ["--help"], ["-tx", "-ox"], ["-t"], ["-t", "-o"], ["--output"], ["--tag=a:b=c", "extra"],
])
def test_parse_leaves_what_it_does_not_know_to_typer(described, args):
    from knitctl.cli import fast

    assert fast.parse(described["data find"]["params"], args) is None


def test_parse_gives_what_typer_gives(described):
    from knitctl.cli import fast
    from knitctl.cli.output import Format

    got = fast.parse(described["data find"]["params"], ["-t", "a:b", "--tag=c:d", "-tk:v", "-ojson", "--transient", "both"])
    assert got == {"tag": ["a:b", "c:d", "k:v"], "transient": "both", "since": None, "duration": None, "output": Format.json,
                   "marked": "both"}
    push = fast.parse(described["data push"]["params"], ["x", "-n", "y", "--", "-z"])
    assert push["dirs"] == [Path("x"), Path("y"), Path("-z")] and push["name"] is True and push["move"] is False


def test_a_mangled_cache_only_means_typer_answers(knit, some_data, tmp_path):
    expected = knit("data", "find", "-o", "json")[:3]
    for spec in (tmp_path / "cache" / "knit").glob("cli-*.json"):
        doc = json.loads(spec.read_text())
        for p in doc["commands"]["data find"]["params"]:
            if p["enum"]:
                p["enum"] = "os:system"  # nothing outside knitctl is imported on a cache file's word
        spec.write_text(json.dumps(doc))
    code, out, err, loaded = knit("data", "find", "-o", "json")
    assert (code, out, err) == expected and "typer" in loaded
    for spec in (tmp_path / "cache" / "knit").glob("cli-*.json"):
        spec.write_text("{not json")
    assert knit("data", "find", "-o", "json")[:3] == expected


def test_tsv_lines_escape_controls_cell_by_cell(capsys):
    from knitctl.cli.output import emit

    cols = [("a", lambda r: r["a"]), ("b", lambda r: r["b"])]
    emit([{"a": "plain", "b": "p\tq\nr"}, {"a": "x\x1b[2Jy", "b": "\x9bz"}, {"a": "", "b": None}], None, cols)
    assert capsys.readouterr().out == "plain\tp q r\nx\\x1b[2Jy\t\\x9bz\n\t\n"


def test_a_completion_request_is_typers(knit, monkeypatch, tmp_path, capsys):
    from knitctl.cli import fast

    knit("data", "find")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert fast.serve(["data", "find"])[0] is True
    monkeypatch.setenv("_KNITCTL_COMPLETE", "complete_bash")
    assert fast.serve(["data", "find"]) == (False, None)
