"""`data pull ID [DEST]`: DEST defaults to the current directory, is made when missing, and `-`
streams the .tar.gz to stdout; bad DEST gets one line and changes nothing."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

from conftest import cli_command, cli_env, make_tree, read_tree, run_cli

TREE = {"a.txt": "alpha\n", "sub": {"b.bin": b"\x00\x01\x02" * 100}, "empty": {}}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    base = tmp_path_factory.mktemp("pull")
    src = make_tree(base / "src", TREE)
    r = run_cli(["data", "push", src, "-t", "kind:pull", "-o", "json"], home=base / "home")
    assert r.code == 0, r
    return {"home": base / "home", "src": src, "id": r.out.split('"knit_id": "')[1].split('"')[0]}


def test_pull_into_a_missing_directory_makes_it(pushed, tmp_path):
    dest = tmp_path / "new" / "deeper"
    r = run_cli(["data", "pull", pushed["id"], dest, "-x"], home=pushed["home"])
    assert r.code == 0, r
    assert read_tree(dest / pushed["id"]) == read_tree(pushed["src"])


def test_pull_without_dest_writes_into_the_current_directory(pushed, tmp_path):
    r = run_cli(["data", "pull", pushed["id"]], home=pushed["home"], cwd=tmp_path)
    assert r.code == 0, r
    assert os.listdir(tmp_path) == [f"{pushed['id']}.tar.gz"]
    assert r.out.strip().endswith(f"{pushed['id']}.tar.gz")


def test_pull_dot_is_the_current_directory(pushed, tmp_path):
    r = run_cli(["data", "pull", pushed["id"], ".", "-x"], home=pushed["home"], cwd=tmp_path)
    assert r.code == 0, r
    assert read_tree(tmp_path / pushed["id"]) == read_tree(pushed["src"])


def test_pull_dash_streams_a_tar_gz_of_the_datum(pushed, tmp_path):
    p = subprocess.run(cli_command(["data", "pull", pushed["id"], "-"]), env=cli_env(pushed["home"]), cwd=tmp_path,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert os.listdir(tmp_path) == []  # nothing written but the stream
    with tarfile.open(fileobj=io.BytesIO(p.stdout), mode="r:gz") as tar:
        tar.extractall(tmp_path / "x", filter="tar")
    assert read_tree(tmp_path / "x") == read_tree(pushed["src"])


@pytest.mark.parametrize("args,expect", [
    (["-", "-x"], "drop -x"),
    (["{file}"], "not a directory"),
    (["{file}", "-x"], "not a directory"),
])
def test_bad_dest_is_one_line_and_changes_nothing(pushed, tmp_path, args, expect):
    f = tmp_path / "a-file"
    f.write_text("mine\n")
    r = run_cli(["data", "pull", pushed["id"], *[a.format(file=f) for a in args]], home=pushed["home"], cwd=tmp_path)
    assert r.code == 2 and len(r.err_lines) == 1 and expect in r.err and r.out == "", r
    assert sorted(os.listdir(tmp_path)) == ["a-file"] and f.read_text() == "mine\n"
