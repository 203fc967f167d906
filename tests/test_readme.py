"""README.md stays true: the CLI reference is the commands' own help, the two set-up
commands are there and CI runs the second verbatim, the plan file reference covers every field
with examples that parse, and install.sh's options are all documented."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO

README = REPO / "README.md"
GENERATOR = REPO / "packaging" / "cli_reference.py"
INSTALL_CMD = "./install.sh && ~/.local/bin/knitctl quickstart"
TEST_CMD = "bash packaging/docker-engine.sh && bash packaging/test-tools.sh && bash packaging/images/build.sh && ./install.sh --dev --prefix .venv --no-link && .venv/bin/python -m pytest -q"


def section(text: str, title: str) -> str:
    """The text of a `## title` section, up to the next `## `."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start: end if end >= 0 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, re.S | re.M)


def generator(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GENERATOR), *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120, **kw)


def test_cli_reference_matches_the_commands_help():
    r = generator("--check")
    assert r.returncode == 0, f"{r.stderr}\nrun: .venv/bin/python packaging/cli_reference.py"


def test_cli_reference_check_fails_when_stale(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text(README.read_text().replace("Show this message and exit.", "Show this message.", 1))
    r = generator("--check", "--readme", str(stale))
    assert r.returncode == 1
    assert "stale" in r.stderr and "-  --help" in r.stderr


def test_cli_reference_covers_every_command():
    """Every visible command and group, as click sees the Typer app, has its help in the README."""
    r = generator("--stdout")
    assert r.returncode == 0, r.stderr
    names = re.findall(r"^### `(knitctl[^`]*)`$", r.stdout, re.M)
    for must in ("knitctl", "knitctl data push", "knitctl plan apply", "knitctl run log", "knitctl quickstart",
                 "knitctl doctor", "knitctl up", "knitctl context use"):
        assert must in names
    text = README.read_text()
    for name in names:
        assert f"### `{name}`" in text
    assert "╭" not in r.stdout and "\x1b[" not in r.stdout  # plain help: no rich panels, no colour


def test_the_two_setup_commands_and_ci_runs_the_second_verbatim():
    setup = section(README.read_text(), "Set up")
    commands = [b.strip() for b in blocks(setup, "sh")]
    assert commands[:2] == [INSTALL_CMD, TEST_CMD]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    runs = [line for line in ci if "./install.sh" in line]
    assert len(runs) == 1, runs
    assert runs[0] == TEST_CMD or runs[0].startswith(TEST_CMD + " || "), runs[0]


def test_plan_reference_names_every_field_and_its_examples_parse():
    from knitctl.plans.spec import ON_NODE_KEYS, RESOURCE_KEYS, TOP_KEYS, parse_plan

    ref = section(README.read_text(), "Plan file")
    for key in TOP_KEYS:
        assert f"| `{key}` |" in ref, key
    for key in RESOURCE_KEYS + ON_NODE_KEYS:
        assert f"`{key}`" in ref, key
    examples = blocks(ref, "yaml")
    assert len(examples) >= 2
    specs = [parse_plan(text, f"README example {i}") for i, text in enumerate(examples)]
    assert examples[0] == (REPO / "examples" / "quickstart" / "plans" / "train.yaml").read_text()
    everything = next(i for i, text in enumerate(examples) if all(re.search(rf"^{re.escape(k)}:", text, re.M) for k in TOP_KEYS))
    full = specs[everything]
    assert full.resources.gpu == 1 and full.on_node and full.timeout == 7200 and full.context


def test_install_options_are_documented():
    r = subprocess.run(["bash", str(REPO / "install.sh"), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    options = set(re.findall(r"^  (--[a-z-]+)", r.stdout, re.M)) - {"--help"}
    assert {"--prefix", "--dev", "--uninstall", "--no-docker", "--service"} <= options
    setup = section(README.read_text(), "Set up")
    for opt in options:
        assert f"`{opt}" in setup, opt
