"""One CLI convention: `-o/--output` is the output format wherever it exists; every listing
command answers `-o json`; `knitctl` alone prints help; `--version`; Knitfab's long spellings."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest
import typer.main

from knitctl.cli.app import app

from conftest import cli_env

FORMATS = {"table", "json", "yaml", "csv", "tree", "dot", "mermaid", "svg", "png"}   # svg, png: graphs drawn by Graphviz; csv: data compare
LISTINGS = [
    ["data", "find"], ["plan", "find"], ["run", "find"], ["watch", "ls"], ["context", "ls"],
    ["metadata", "types"], ["metadata", "artifacts"], ["metadata", "executions"], ["metadata", "contexts"],
]


def _commands(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def test_dash_o_is_the_output_format_on_every_command():
    seen = 0
    for path, command in _commands(typer.main.get_command(app)):
        for p in command.params:
            opts = set(p.opts) | set(p.secondary_opts)
            if "-o" in opts or "--output" in opts:
                seen += 1
                where = " ".join(path)
                assert {"-o", "--output"} <= opts, f"{where}: {sorted(opts)}"
                enum = p.type_descriptor.annotation
                choices = {m.value for m in enum} if isinstance(enum, type) else set()
                assert choices and choices <= FORMATS, f"{where}: -o takes {enum}, not an output format"
    assert seen >= 20  # the walk saw the commands


@pytest.mark.parametrize("args", LISTINGS, ids=[" ".join(a) for a in LISTINGS])
def test_every_listing_command_answers_dash_o_json(cli, args):
    assert cli("init").code == 0
    r = cli(*args, "-o", "json")
    assert r.code == 0, str(r)
    assert isinstance(json.loads(r.out), (list, dict)), str(r)


def test_the_filters_that_had_dash_o_have_other_letters(cli):
    assert cli("plan", "find", "-O", "k:v", "-o", "json").json() == []
    assert cli("run", "find", "--planid", "0123456789ab", "-o", "json").code in (0, 1)


def test_knitctl_alone_prints_help_and_exits_0(cli):
    r = cli()
    assert r.code == 0 and "Usage: " in r.out and "quickstart" in r.out, str(r)
    assert "╭" not in r.out and "\x1b" not in r.out  # piped: plain text


def test_no_color_means_no_escape_sequences(cli):
    assert cli("init").code == 0
    main, sub = pty.openpty()
    env = cli_env(None, {"NO_COLOR": "1", "TERM": "xterm-256color"})  # KNIT_HOME: the fixture's, from os.environ
    p = subprocess.run([sys.executable, "-m", "knitctl", "context", "ls"], stdin=subprocess.DEVNULL, stdout=sub,
                       stderr=sub, env=env, timeout=60)
    os.close(sub)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert p.returncode == 0 and b"local" in out, out
    assert b"\x1b" not in out, out  # a table on a terminal, and not even bold


def test_version(cli):
    from importlib.metadata import version

    r = cli("--version")
    assert r.code == 0 and r.out.strip() == f"knitctl {version('knit')}", str(r)


def test_bad_output_format_is_one_line_and_exit_2(cli):
    r = cli("plan", "find", "-o", "xml")
    assert r.code == 2 and "xml" in r.err and "Traceback" not in r.err, str(r)


def _helps():
    root = typer.main.get_command(app)

    def visit(cmd, name, parent):
        ctx = cmd.context_class(cmd, info_name=name, parent=parent, terminal_width=100)
        yield ctx.command_path, cmd.get_help(ctx)
        for sub in getattr(cmd, "commands", {}).values():
            yield from visit(sub, sub.name, ctx)

    yield from visit(root, "knitctl", None)


def test_help_reads_like_a_cli_with_examples():
    helps = dict(_helps())
    assert len(helps) > 40
    for path, text in helps.items():
        assert not re.search(r"<(list\[|str>|bool>|int>|Path>|float>)", text), f"{path}:\n{text}"
        assert "{" not in text.split("\n", 1)[0], f"{path}: {text.splitlines()[0]}"  # DIRS..., not {dirs}...
    leaves = [p for p, t in helps.items() if "Commands:" not in t]
    missing = [p for p in leaves if "Examples:" not in helps[p]]
    assert missing == [], missing
    assert "Examples:" in helps["knitctl"]
