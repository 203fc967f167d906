"""Shared fixtures and helpers for knit's tests.

- `knit_home`: a fresh KNIT_HOME (a Path, not created yet) set in the environment.
- `cli(*args)`: run `python -m knitctl ...` as a real subprocess against that home;
  returns a `Result` with `.code`, `.out`, `.err`.  `run_cli(args, home=...)` is
  the same thing for homes that are not the fixture's (module-scoped setups).
- `make_tree(path, spec)`: build a directory tree from a nested dict
  (`{"a.txt": "text", "bin": {"run.sh": File("#!/bin/sh\\n", 0o755)}, "link": Link("a.txt")}`).
- `read_tree(path)`: the inverse, for comparing trees byte for byte.
- `catalog_dump(home)`: every catalog table's rows, for "nothing changed" checks.

The helpers are plain functions importable with `from conftest import ...`; the
fixtures of the same names hand them out.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLI_TIMEOUT = 120


# -- running the CLI ----------------------------------------------------------------


@dataclass
class Result:
    args: list[str]
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def out_lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.strip()]

    def json(self):
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"$ knitctl {' '.join(self.args)}\n-> exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def cli_env(home: Path | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the CLI runs with: the given KNIT_HOME, no colour, no terminal width hints."""
    env = dict(os.environ)
    for k in ("COLUMNS", "LINES", "FORCE_COLOR", "TERM"):
        env.pop(k, None)
    env["NO_COLOR"] = "1"
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if home is not None:
        env["KNIT_HOME"] = str(home)
    if extra:
        env.update(extra)
    return env


def cli_command(args: Sequence[str | os.PathLike]) -> list[str]:
    return [sys.executable, "-m", "knitctl", *map(str, args)]


def run_cli(
    args: Sequence[str | os.PathLike],
    *,
    home: Path | None,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = CLI_TIMEOUT,
) -> Result:
    """Run `knitctl ARGS` in a subprocess with KNIT_HOME=home; stdout is a pipe (not a TTY)."""
    proc = subprocess.run(
        cli_command(args),
        cwd=cwd,
        env=cli_env(home, env),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result([str(a) for a in args], proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def knit_home(tmp_path, monkeypatch) -> Path:
    """A fresh KNIT_HOME path (not created: the first command creates it), exported as KNIT_HOME."""
    home = tmp_path / "knit-home"
    monkeypatch.setenv("KNIT_HOME", str(home))
    return home


@pytest.fixture
def cli(knit_home) -> Callable[..., Result]:
    """`cli("data", "find", "-o", "json")` runs knitctl against `knit_home`."""

    def _cli(*args, home: Path | None = None, **kw) -> Result:
        return run_cli(args, home=home or knit_home, **kw)

    return _cli


# -- trees -----------------------------------------------------------------------------


@dataclass(frozen=True)
class File:
    content: bytes | str = b""
    mode: int = 0o644


@dataclass(frozen=True)
class Link:
    target: str


def make_tree(path: str | os.PathLike, spec: Mapping) -> Path:
    """Create `path` and, inside it, what `spec` describes.

    Values: str/bytes → a file with that content; dict → a directory (empty dict:
    empty directory); `File(content, mode)` → a file with a mode; a tuple
    `(content, mode)` is shorthand for File; `Link(target)` → a symlink.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for name, value in spec.items():
        p = root / name
        if isinstance(value, Mapping):
            make_tree(p, value)
            continue
        if isinstance(value, Link):
            os.symlink(value.target, p)
            continue
        if isinstance(value, tuple):
            value = File(*value)
        if not isinstance(value, File):
            value = File(value)
        data = value.content.encode() if isinstance(value.content, str) else value.content
        p.write_bytes(data)
        os.chmod(p, value.mode)
    return root


def read_tree(path: str | os.PathLike) -> dict[str, tuple]:
    """relative path → ("dir",) | ("file", bytes, executable) | ("link", target), for comparisons."""
    root = Path(path)
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", p.read_bytes(), bool(st.st_mode & stat.S_IXUSR))
    return out


@pytest.fixture(name="make_tree")
def _make_tree_fixture() -> Callable[..., Path]:
    return make_tree


@pytest.fixture(name="read_tree")
def _read_tree_fixture() -> Callable[..., dict]:
    return read_tree


# -- the catalog -------------------------------------------------------------------------


def catalog_dump(home: Path) -> dict[str, list[tuple]]:
    """Every table of the catalog with its rows sorted, plus the schema version.

    A read-write connection (it only reads) so that a WAL left by a killed writer can be recovered.
    """
    path = home / "catalog.db"
    assert path.exists(), f"no catalog at {path}"
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        dump = {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
        dump["#user_version"] = [(conn.execute("PRAGMA user_version").fetchone()[0],)]
        return dump
    finally:
        conn.close()


@pytest.fixture(name="catalog_dump")
def _catalog_dump_fixture() -> Callable[[Path], dict]:
    return catalog_dump


# -- waiting -------------------------------------------------------------------------------


def wait_for(condition: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.005, what: str = "condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# -- plans, runs and projection through the library -------------------------------


def plan_doc(
    inputs: Mapping[str, Sequence[str]],
    outputs: Mapping[str, Sequence[str]] | None = None,
    *,
    image: str = "busybox:1.36",
    log: Sequence[str] | None = None,
    **extra,
) -> dict:
    """A plan file as a dict: {mount path: tags} for inputs and outputs, plus any other fields."""
    doc: dict = {"image": image, "inputs": [{"path": p, "tags": list(t)} for p, t in inputs.items()]}
    doc["outputs"] = [{"path": p, "tags": list(t)} for p, t in (outputs or {}).items()]
    if log is not None:
        doc["log"] = {"tags": list(log)}
    doc.update(extra)
    return doc


def apply_plan(session, inputs, outputs=None, *, dry_run: bool = False, **kw):
    """Validate a plan (see `plan_doc`) and apply it through the registry; the ApplyResult."""
    import yaml

    from knitctl.plans import registry
    from knitctl.plans.spec import parse_plan

    spec = parse_plan(yaml.safe_dump(plan_doc(inputs, outputs, **kw)), "test-plan.yaml")
    return registry.apply(session, spec, dry_run=dry_run)


def push_datum(session, *tags: str, n: int = 1):
    """Push `n` small directories tagged `tags` in one push; the Datum (or list when n > 1)."""
    from knitctl import data as data_api
    from knitctl import ids

    srcs = []
    for _ in range(n):
        srcs.append(make_tree(session.home.root.parent / f"src-{ids.new_id()}", {"f.txt": ids.new_id()}))
    pushed = data_api.push(session, srcs, list(tags))
    return pushed[0] if n == 1 else pushed


def finish_run(session, run_id: str, status: str = "done") -> None:
    """Walk a waiting run through the state machine to `done` (or `failed`), as the daemon would."""
    from knitctl import runstate

    path = ["ready", "running", "completing", "done"] if status == "done" else ["ready", "running", "aborting", "failed"]
    with session.catalog.write() as conn:
        for s in path:
            runstate.move(conn, run_id, s, exit_code=(0 if s == "done" else 1 if s == "failed" else None))


def runs_of(session, plan_id: str) -> list[tuple[str, str, str]]:
    """(run_id, status, canonical assignment) of every run of a plan, by creation."""
    return [
        (r[0], r[1], r[2])
        for r in session.catalog.query(
            "SELECT run_id, status, assignment FROM run WHERE plan_id = ? ORDER BY created_ms, run_id", (plan_id,)
        )
    ]


@pytest.fixture
def session(knit_home):
    """An open Session on `knit_home`."""
    from knitctl.session import Session

    s = Session.open()
    try:
        yield s
    finally:
        s.close()


# -- knitd and Docker ---------------------------------------------------------------
#
# `docker_client`: the real dockerd (skipped when unreachable, unless KNIT_REQUIRE_DOCKER=1 or CI is
# set); `knitd(parallelism=2, gpus=None)`: start knitd as a real subprocess on `knit_home` and wait
# until it holds its lock; teardown stops it (and any `knitctl up` one) and removes the containers
# labelled `knit.home=<home>`. `catalog_rows(home, sql, params)` reads the catalog from a fresh
# read-only connection; `wait_run(home, run_id, ...)` polls a run's status with a deadline and
# fails with knitd's log.

BUSYBOX_IMAGE = os.environ.get("KNIT_BUSYBOX_IMAGE", "knit/busybox:1")
PYTHON_IMAGE = os.environ.get("KNIT_PYTHON_IMAGE", "knit/python:3.11")
TERMINAL_RUN_STATES = ("done", "failed", "invalidated")


def _docker_required() -> bool:
    """Runs are real containers: a missing dockerd or image fails the tests, unless someone
    explicitly opts out with KNIT_SKIP_DOCKER=1 (never in CI)."""
    return not os.environ.get("KNIT_SKIP_DOCKER") or bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def docker_client():
    """A docker SDK client on the real dockerd; fails when there is none (skips only with KNIT_SKIP_DOCKER=1)."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means no usable dockerd
        if _docker_required():
            pytest.fail(f"dockerd is required but not reachable: {e}")
        pytest.skip(f"no reachable dockerd: {e}")
    yield client
    client.close()


def require_images(client, *images: str) -> None:
    """Fail (skip only with KNIT_SKIP_DOCKER=1) unless the offline test images exist (packaging/images/build.sh)."""
    from docker.errors import ImageNotFound

    missing = []
    for image in images:
        try:
            client.images.get(image)
        except ImageNotFound:
            missing.append(image)
    if missing:
        msg = f"test image(s) {', '.join(missing)} missing; build them with packaging/images/build.sh"
        if _docker_required():
            pytest.fail(msg)
        pytest.skip(msg)


def catalog_rows(home: Path, sql: str, params: Sequence = ()) -> list[tuple]:
    """Rows of a query on the catalog, from a fresh read-only connection (sees the latest commit)."""
    conn = sqlite3.connect(f"file:{Path(home) / 'catalog.db'}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, tuple(params)).fetchall()
    finally:
        conn.close()


def run_row(home: Path, run_id: str) -> dict:
    conn = sqlite3.connect(f"file:{Path(home) / 'catalog.db'}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM run WHERE run_id = ?", (run_id,)).fetchone()
        return dict(row) if row else {}
    finally:
        conn.close()


def knitd_diagnostics(home: Path, lines: int = 40) -> str:
    """knitd's log tail and every run's status, for failure messages."""
    out = []
    log = Path(home) / "knitd.log"
    if log.exists():
        out += ["--- knitd.log (tail)", *log.read_text(errors="replace").splitlines()[-lines:]]
    err = Path(home) / "knitd.test-stderr"
    if err.exists() and err.read_text(errors="replace").strip():
        out += ["--- knitd stderr (tail)", *err.read_text(errors="replace").splitlines()[-lines:]]
    if (Path(home) / "catalog.db").exists():
        rows = catalog_rows(home, "SELECT run_id, plan_id, status, exit_code, message FROM run ORDER BY created_ms")
        out += ["--- runs", *("\t".join(map(str, r)) for r in rows)]
    return "\n".join(out)


def wait_run(home: Path, run_id: str, statuses=TERMINAL_RUN_STATES, *, timeout: float = 60.0) -> dict:
    """Poll until the run's status is one of `statuses`; its row. Fails with knitd's log on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        row = run_row(home, run_id)
        if row.get("status") in statuses:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run {run_id} is {row.get('status')!r}, not {'/'.join(statuses)}, after {timeout}s\n"
                + knitd_diagnostics(home)
            )
        time.sleep(0.05)


def wait_until(condition: Callable[[], object], *, timeout: float = 60.0, interval: float = 0.05, what: str = "condition",
               home: Path | None = None):
    """`wait_for` with knitd's diagnostics in the failure when `home` is given."""
    try:
        return wait_for(condition, timeout=timeout, interval=interval, what=what)
    except AssertionError as e:
        if home is None:
            raise
        raise AssertionError(f"{e}\n{knitd_diagnostics(home)}") from None


class KnitdProcess:
    """knitd as a real subprocess: `python -m daemon --home H --parallelism N [--gpus G]`."""

    def __init__(self, home: Path, *, parallelism: int = 2, gpus: int | None = None):
        self.home = Path(home)
        self.parallelism = parallelism
        self.gpus = gpus
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, timeout: float = 30.0) -> KnitdProcess:
        from knitctl.home import Home
        from knitctl.knitd import running_pid

        cmd = [sys.executable, "-m", "daemon", "--home", str(self.home), "--parallelism", str(self.parallelism)]
        if self.gpus is not None:
            cmd += ["--gpus", str(self.gpus)]
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "knitd.test-stderr", "ab") as err:  # the child keeps its own copy
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(self.home), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err)
        home = Home.resolve(self.home)
        deadline = time.monotonic() + timeout
        while running_pid(home) != self.proc.pid:
            if self.proc.poll() is not None:
                raise AssertionError(f"knitd exited with {self.proc.returncode} at start\n{knitd_diagnostics(self.home)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"knitd did not take its lock within {timeout}s\n{knitd_diagnostics(self.home)}")
            time.sleep(0.02)
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> int:
        """SIGKILL, and reap it."""
        import signal as _signal

        self.signal(_signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def terminate(self, *, timeout: float = 20.0) -> int:
        """SIGTERM and wait for it to exit; its exit status."""
        import signal as _signal

        self.signal(_signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def remove_home_containers(client, home: Path) -> int:
    """Force-remove every container labelled knit.home=<home>; how many there were."""
    found = client.containers.list(all=True, filters={"label": f"knit.home={Path(home).absolute()}"})
    for c in found:
        try:
            c.remove(force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
    return len(found)


def home_containers(client, home: Path, *, all: bool = True) -> list[dict]:
    """The home's containers as Docker lists them (dicts with Id, Labels, State), in one API call."""
    return client.api.containers(all=all, filters={"label": f"knit.home={Path(home).absolute()}"})


@pytest.fixture
def knitd(knit_home, docker_client):
    """`knitd(parallelism=2, gpus=None)` starts knitd on `knit_home`; all are stopped at teardown."""
    started: list[KnitdProcess] = []

    def _start(*, parallelism: int = 2, gpus: int | None = None) -> KnitdProcess:
        k = KnitdProcess(knit_home, parallelism=parallelism, gpus=gpus).start()
        started.append(k)
        return k

    yield _start
    for k in started:
        if k.alive():
            try:
                k.terminate(timeout=20)
            except subprocess.TimeoutExpired:
                k.kill()
    if (knit_home / "knitd.pid").exists():  # one started by `knitctl up`
        from knitctl import knitd as knitd_api
        from knitctl.home import Home

        try:
            knitd_api.stop(Home.resolve(knit_home), wait=20)
        except Exception:  # noqa: BLE001
            pid = knitd_api.running_pid(Home.resolve(knit_home))
            if pid and pid > 0:
                os.kill(pid, 9)
    remove_home_containers(docker_client, knit_home)


@pytest.fixture
def cli_inproc(knit_home, monkeypatch, capsys) -> Callable[..., Result]:
    """Like `cli`, but runs the console script's entry point in this process (no interpreter start).

    The same error boundary (`knitctl.cli.main.run`), exit codes, stdout and stderr; use `cli`
    where the process itself matters.
    """
    from knitctl.cli import main as cli_main

    def _run(*args) -> Result:
        for k in ("COLUMNS", "LINES", "FORCE_COLOR", "TERM"):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("NO_COLOR", "1")
        monkeypatch.setattr(sys, "argv", ["knitctl", *map(str, args)])
        capsys.readouterr()
        try:
            cli_main.run()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return Result([str(a) for a in args], code, out, err)

    return _run


@pytest.fixture(autouse=True)
def _process_state_restored():
    """What an in-process command changes for its process stays in its test: `--context` sets
    KNIT_CONTEXT for the process, and the command line switches knit.yaml discovery on."""
    from knitctl import projectdefaults

    env, defaults = dict(os.environ), dict(projectdefaults._state)
    yield
    if dict(os.environ) != env:
        os.environ.clear()
        os.environ.update(env)
    projectdefaults._state.clear()
    projectdefaults._state.update(defaults)


@pytest.fixture(autouse=True)
def _private_knit_config(tmp_path_factory, monkeypatch):
    """Every test gets its own config file: no test may read or write the user's real one."""
    monkeypatch.setenv("KNIT_CONFIG", str(tmp_path_factory.mktemp("config") / "config.yaml"))


# docker / kubernetes / slow applied from the fixtures a test uses (tests/markers.py)
from markers import pytest_collection_modifyitems  # noqa: E402,F401
