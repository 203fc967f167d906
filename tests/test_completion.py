"""Tab completion completes ids, tags, plan ids and context names from the catalog, without Typer."""

from __future__ import annotations

import pytest

from knitctl.cli.complete import wanted

from conftest import make_tree


@pytest.mark.parametrize("args,incomplete,kind", [
    (["data", "show"], "", "data"),
    (["data", "pull"], "9d", "data"),
    (["data", "pull", "9dba68b5"], "", None),          # DEST: files, Typer's
    (["run", "stop"], "", "run"),
    (["run", "stop", "-x"], "", "run"),
    (["plan", "show"], "", "plan"),
    (["plan", "active", "yes"], "", "plan"),
    (["context", "use"], "", "context"),
    (["data", "find", "-t"], "pro", "tag"),
    (["data", "find", "-t", "a:b", "--tag"], "", "tag"),
    (["plan", "find", "-O"], "", "tag"),
    (["run", "find", "-O"], "", "data"),
    (["run", "find", "--planid"], "", "plan"),
    (["run", "find", "--context"], "", "context"),
    (["data", "show"], "--", None),                    # an option name: Typer's
    (["data"], "sh", None),                            # a command name: Typer's
    ([], "", None),
])
def test_what_is_completed(args, incomplete, kind):
    assert wanted(args, incomplete) == kind


def _complete(cli, line: str, shell: str = "bash"):
    words = line.split(" ")
    env = {"_KNITCTL_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        env.update(COMP_WORDS=line, COMP_CWORD=str(len(words) - 1))
    else:
        env.update(_TYPER_COMPLETE_ARGS=line, _TYPER_COMPLETE_FISH_ACTION="get-args")
    return cli(env=env)


def test_ids_tags_plans_and_contexts_come_from_the_catalog(cli, tmp_path):
    src = make_tree(tmp_path / "d", {"a": "1\n"})
    (d,) = cli("data", "push", src, "-t", "project:comp", "-o", "json").json()
    r = _complete(cli, "knitctl data show ")
    assert r.code == 0 and r.out.split() == [d["knit_id"]], str(r)
    r = _complete(cli, f"knitctl data pull {d['knit_id'][:3]}")
    assert r.out.split() == [d["knit_id"]], str(r)
    r = _complete(cli, "knitctl data find -t proj")
    assert r.out.split() == ["project:comp"], str(r)
    r = _complete(cli, "knitctl data find -t proj", shell="zsh")
    assert r.out == "_arguments '*: :((\"project\\\\:comp\"))'", str(r)
    r = _complete(cli, "knitctl context use ", shell="fish")
    assert "local" in r.out.split(), str(r)
    r = _complete(cli, "knitctl run show ")
    assert r.code == 0 and r.out.split() == [], str(r)
