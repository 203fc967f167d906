"""What users install is what is tested: the wheel, installed (not editable) into a clean virtualenv
outside the checkout, used from a directory that is not the checkout — each face of the product.

The wheel is built from a copy of the package sources (nothing is written into the checkout), with
pip pointed at the wheelhouse the install tests use (tests/pipwheels.py), so it is built and
installed for real but offline and in seconds. The TUI runs inside a real pseudo-terminal.
A second test compares the package tree's non-Python files with the wheel's file list.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
import zipfile
from pathlib import Path

import pipwheels
import pytest

from conftest import BUSYBOX_IMAGE, PYTHON_IMAGE, REPO, make_tree, read_tree, require_images

PACKAGES = ("knitctl", "daemon", "tui")
SOURCES = ("pyproject.toml", "README.md", *PACKAGES)
TIMEOUT = pipwheels.TIMEOUT


def _ignore(_dir, names):
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


@pytest.fixture(scope="module")
def wheel(request, tmp_path_factory) -> Path:
    """knit's wheel, built by pip from a copy of the checkout's package sources."""
    wh = pipwheels.wheelhouse(request, tmp_path_factory)
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=_ignore)
        else:
            shutil.copy2(p, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(base / "dist"), str(src)],
                       env={**os.environ, **pipwheels.pip_env(wh, base / "pip-cache")}, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, f"pip wheel failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    (found,) = (base / "dist").glob("knit-*.whl")
    return found


class Installed:
    """The wheel in a fresh virtualenv; commands run from `work` (not the checkout) with their own HOME."""

    def __init__(self, root: Path, wheel: Path, wh: Path):
        self.root = root
        self.venv = root / "venv"
        self.work = root / "work"
        self.work.mkdir()
        self.home = root / "home"
        self.home.mkdir()
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("KNIT_", "XDG_", "PIP_", "PYTHON", "VIRTUAL_ENV", "COLUMNS", "LINES", "FORCE_COLOR"))}
        path = [d for d in keep.get("PATH", "").split(os.pathsep) if d and not Path(d).resolve().is_relative_to(REPO)]
        self.env = {**keep, "HOME": str(self.home), "PATH": os.pathsep.join([str(self.venv / "bin"), *path]),
                    "NO_COLOR": "1", "KNIT_CONFIG": str(root / "config.yaml"), "XDG_CACHE_HOME": str(root / "cache"),
                    **pipwheels.pip_env(wh, root / "pip-cache")}
        self.env.pop("TERM", None)
        ok(self.run(sys.executable, "-m", "venv", self.venv))
        ok(self.run(self.venv / "bin" / "python", "-m", "pip", "install", "-q", wheel))

    def run(self, *args, home: Path | None = None, timeout: float = TIMEOUT, **kw) -> subprocess.CompletedProcess:
        env = dict(self.env)
        if home is not None:
            env["KNIT_HOME"] = str(home)
        return subprocess.run([str(a) for a in args], cwd=self.work, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, **kw)

    def knitctl(self, *args, home: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
        return self.run(self.venv / "bin" / "knitctl", *args, home=home, timeout=timeout)


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0 and "Traceback" not in (r.stderr or ""), \
        f"$ {' '.join(map(str, r.args))}\n-> {r.returncode}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def installed(request, tmp_path_factory, wheel) -> Installed:
    return Installed(tmp_path_factory.mktemp("installed"), wheel, pipwheels.wheelhouse(request, tmp_path_factory))


# -- the wheel's contents -------------------------------------------------------------------------


def package_files() -> set[str]:
    """Every file under the packages that is not Python source or bytecode, as a wheel names it."""
    out = set()
    for pkg in PACKAGES:
        for dirpath, dirnames, filenames in os.walk(REPO / pkg, followlinks=True):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                if not f.endswith((".py", ".pyc")):
                    out.add((Path(dirpath) / f).relative_to(REPO).as_posix())
    return out


def missing_from(names: set[str]) -> list[str]:
    return sorted(package_files() - names)


def test_every_file_under_the_packages_is_in_the_wheel(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        record = z.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
    assert "tui/styles/app.tcss" in package_files()  # the walk sees what the TUI reads
    assert missing_from(names) == []
    recorded = {line.split(",")[0] for line in record.splitlines()}
    assert missing_from(recorded) == []
    # and the Python modules too, every one of them
    for pkg in PACKAGES:
        for p in (REPO / pkg).rglob("*.py"):
            if "__pycache__" not in p.parts:
                assert p.relative_to(REPO).as_posix() in names, p


def test_the_check_notices_a_dropped_style(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = {n for n in z.namelist() if n != "tui/styles/app.tcss"}
    assert missing_from(names) == ["tui/styles/app.tcss"]


# -- each face, installed -------------------------------------------------------------------------


def test_installed_from_the_wheel_not_the_checkout(installed):
    where = ok(installed.run(installed.venv / "bin" / "python", "-c", "import knitctl, tui; print(knitctl.__file__, tui.__file__)"))
    for f in where.stdout.split():
        assert Path(f).is_relative_to(installed.venv), where.stdout
    direct = list(installed.venv.glob("lib/python*/site-packages/*.pth"))
    assert not [p for p in direct if str(REPO) in p.read_text()], direct  # no path back to the checkout


def test_version(installed):
    r = ok(installed.knitctl("--version", home=installed.root / "h-version"))
    assert r.stdout.strip() == "knitctl 0.1.0"


def test_push_find_pull_round_trip(installed):
    home = installed.root / "h-data"
    src = make_tree(installed.work / "ds", {"rows.csv": "a,b\n1,2\n", "sub": {"x.bin": b"\x00\xff" * 64}})
    (d,) = json.loads(ok(installed.knitctl("data", "push", "ds", "-t", "project:wheel", "-o", "json", home=home)).stdout)
    found = json.loads(ok(installed.knitctl("data", "find", "-t", "project:wheel", "-o", "json", home=home)).stdout)
    assert [f["knit_id"] for f in found] == [d["knit_id"]]
    ok(installed.knitctl("data", "pull", d["knit_id"][:8], "out", "-x", home=home))
    assert read_tree(installed.work / "out" / d["knit_id"]) == read_tree(src)


def _strip(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return re.sub(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[PX^_].*?\x1b\\|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?", "", text)


class Terminal:
    """A program on the slave side of a pseudo-terminal; what it drew, read from the master side."""

    def __init__(self, args, env, cwd, size=(40, 120)):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True)
        os.close(slave)
        self.raw = b""

    def read_until(self, pattern: str, timeout: float = 60) -> str:
        """Read output until `pattern` (a regex) shows in what was drawn since this call."""
        deadline = time.monotonic() + timeout
        start = len(self.raw)
        while True:
            text = _strip(self.raw[start:])
            if re.search(pattern, text):
                return text
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} on the terminal in {timeout}s; it showed:\n{_strip(self.raw)[-3000:]}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the program ended before {pattern!r}; it showed:\n{_strip(self.raw)[-3000:]}")
                self.raw += chunk

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def finish(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                self.raw += chunk
        try:
            return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.master)


def test_tui_in_a_pseudo_terminal(installed):
    home = installed.root / "h-tui"
    ok(installed.knitctl("init", home=home))
    env = {**installed.env, "KNIT_HOME": str(home), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    term = Terminal([str(installed.venv / "bin" / "knitctl"), "tui"], env, installed.work)
    try:
        term.read_until(r"Runs +0 loaded of 0")         # the default screen drawn, its table read
        term.send("?")
        term.read_until(r"Command line")                # the help screen
        term.send("q")                                  # closes the help (keys are handled in order) ...
        term.send("q")                                  # ... and quits
        code = term.finish()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    shown = _strip(term.raw)
    assert "Traceback" not in shown and "Error" not in shown, shown[-3000:]
    assert code == 0, shown[-3000:]


PLAN = """\
image: {image}
entrypoint: ["sh", "-c", "cp -r /in/src/. /out/ && echo copied"]
inputs:
  - path: /in/src
    tags: ["project:wheel-run", "type:in"]
outputs:
  - path: /out
    tags: ["project:wheel-run", "type:out"]
"""


def test_up_a_run_in_docker_and_down(installed, docker_client):
    require_images(docker_client, BUSYBOX_IMAGE)
    home = installed.root / "h-run"
    ok(installed.knitctl("init", home=home))
    try:
        ok(installed.knitctl("up", home=home))
        (installed.work / "copy.yaml").write_text(PLAN.format(image=BUSYBOX_IMAGE))
        ok(installed.knitctl("plan", "apply", "copy.yaml", home=home))
        make_tree(installed.work / "in", {"hello.txt": "hello\n"})
        ok(installed.knitctl("data", "push", "in", "-t", "project:wheel-run", "-t", "type:in", home=home))
        run_id = _first_run(installed, home)
        ok(installed.knitctl("run", "wait", run_id, "--timeout", "5m", home=home))
        (out,) = json.loads(ok(installed.knitctl("data", "find", "-t", "type:out", "-o", "json", home=home)).stdout)
        ok(installed.knitctl("data", "pull", out["knit_id"], "got", "-x", home=home))
        assert (installed.work / "got" / out["knit_id"] / "hello.txt").read_text() == "hello\n"
    finally:
        ok(installed.knitctl("down", home=home))
    st = json.loads(ok(installed.knitctl("status", "-o", "json", home=home)).stdout)
    assert st["knitd"] == "stopped", st


def _first_run(installed, home, timeout: float = 120) -> str:
    """The id of the run knitd makes for the pushed datum (it plans on its own)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = json.loads(ok(installed.knitctl("run", "find", "-o", "json", home=home)).stdout)
        if runs:
            return runs[0]["run_id"]
        assert time.monotonic() < deadline, "knitd made no run for the pushed datum"
        time.sleep(0.5)  # polling another process's progress, with a deadline


def test_quickstart(installed, docker_client):
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get("python:3.11-slim")
    except ImageNotFound:  # no registry here: the quickstart falls back to the offline image
        require_images(docker_client, PYTHON_IMAGE)
    home = installed.root / "h-quickstart"
    try:
        r = ok(installed.knitctl("quickstart", home=home, timeout=900))
    finally:
        installed.knitctl("down", home=home)
    assert "metrics (" in r.stdout and "lineage:" in r.stdout, r.stdout
    assert str(installed.venv) in r.stderr  # its examples came from the installed package
