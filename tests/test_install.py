"""install.sh in a clean HOME: idempotent, --prefix honoured, uninstall keeps only the user's data.

Each scenario runs the real install.sh — a fresh virtualenv made with this interpreter, a real
`pip install` of the checkout, real links, completion files and unit file — in a temporary HOME.

Keeping it fast and offline-safe: pip is pointed, through its own environment variables, at a
wheelhouse of knit's dependencies (and its build backend) instead of an index: `PIP_NO_INDEX=1`,
`PIP_FIND_LINKS=<wheelhouse>`, `PIP_CONFIG_FILE=/dev/null`. The wheelhouse is built once with this
virtualenv's pip (offline from the previous wheelhouse when it still satisfies pyproject.toml, else
from the configured index, as the development install just did) and kept in pytest's cache. So
install.sh runs unchanged and pip really resolves, installs and builds knit — only the download is
skipped — and a first install takes seconds instead of a minute. (Reusing the development
virtualenv's site-packages through a .pth or PYTHONPATH was the alternative; it would let an
install that forgot a dependency pass, which this way can't.)

The machine's systemd user session isn't the test's to change: a stand-in `systemctl` first on
PATH answers `--user show-environment`, keeps enable/disable state as real systemd does (the
`default.target.wants` link) and logs every call. Docker is left alone (`--no-docker`); for the
--prefix scenario PATH holds no docker, dockerd or sudo, to check the command install.sh prints
instead. PATH entries under the real HOME are dropped, and RUSTUP_HOME points outside
the clean HOME (pip asks `rustc --version`, and a rustup shim would write ~/.rustup into it), and
pip's cache lives outside HOME.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pipwheels
import pytest

from conftest import REPO

INSTALL = REPO / "install.sh"
INSTALL_TIMEOUT = pipwheels.TIMEOUT

SYSTEMCTL_STUB = r"""#!/usr/bin/env bash
# A stand-in for `systemctl --user`: logs each call, keeps enable state like systemd does.
printf '%s\n' "$*" >>"$KNIT_TEST_SYSTEMCTL_LOG"
units="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
wants="$units/default.target.wants/knitd.service"
[[ "$1" == --user ]] || exit 1
shift
cmd=$1; shift
args=()
for a in "$@"; do [[ $a == --* ]] || args+=("$a"); done
case "$cmd" in
    show-environment) echo "HOME=$HOME" ;;
    daemon-reload) ;;
    is-enabled) [[ -L "$wants" ]] || exit 1; [[ " $* " == *" --quiet "* ]] || echo enabled ;;
    is-active) exit 3 ;;
    enable) [[ -f "$units/${args[0]}" ]] || exit 1; mkdir -p "$(dirname "$wants")"; ln -sfn "$units/${args[0]}" "$wants" ;;
    disable) rm -f "$wants" ;;
    *) exit 1 ;;
esac
"""


# -- the environment -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheelhouse(request, tmp_path_factory) -> Path:
    """Wheels of knit's dependencies and build backend (tests/pipwheels.py), built once."""
    return pipwheels.wheelhouse(request, tmp_path_factory)


def _path_without(real_home: Path, farm: Path | None, exclude: set[str]) -> str:
    """PATH minus entries under the real HOME; with `farm`, one directory of links to every
    command on it except `exclude`."""
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and (real_home.resolve() == Path("/") or not Path(d).resolve().is_relative_to(real_home.resolve()))]
    if farm is None:
        return os.pathsep.join(dirs)
    farm.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            dest = farm / e.name
            if e.name in exclude or dest.exists() or dest.is_symlink():
                continue
            if e.is_file() and os.access(e.path, os.X_OK):
                dest.symlink_to(e.path)
    return str(farm)


class Installer:
    """install.sh (and the installed knitctl) in a clean HOME under `root`."""

    def __init__(self, root: Path, wheelhouse: Path, *, systemd: bool, hide: set[str] = frozenset()):
        real_home = Path.home()
        self.root = root
        self.home = root / "home"
        self.home.mkdir(parents=True)
        tools = root / "tools"
        tools.mkdir()
        self.systemctl_log = root / "systemctl.log"
        self.systemctl_log.touch()
        path = _path_without(real_home, root / "path" if hide else None, set(hide) | {"systemctl"})
        if systemd:
            stub = tools / "systemctl"
            stub.write_text(SYSTEMCTL_STUB)
            stub.chmod(0o755)
            path = f"{tools}{os.pathsep}{path}"
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("KNIT_", "XDG_", "PIP_", "PYTHON", "VIRTUAL_ENV", "BASH_COMPLETION", "DOCKER_"))
                and k not in ("ZDOTDIR", "CONDA_PREFIX")}
        self.env = {
            **keep,
            "HOME": str(self.home),
            "PATH": path,
            "NO_COLOR": "1",
            **pipwheels.pip_env(wheelhouse, root / "pip-cache"),
            "KNIT_TEST_SYSTEMCTL_LOG": str(self.systemctl_log),
            # a rustup shim on PATH (pip asks `rustc --version`) writes its settings under RUSTUP_HOME,
            # ~/.rustup by default: keep it out of the clean HOME whatever HOME the tests run under
            "RUSTUP_HOME": str(root / "rustup"),
        }

    def run(self, *args: str | os.PathLike, cwd: Path = REPO) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if cmd[0] == "install.sh":
            cmd = ["bash", str(INSTALL), *cmd[1:]]
        return subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=INSTALL_TIMEOUT)

    def systemctl_calls(self) -> list[str]:
        return self.systemctl_log.read_text().splitlines()


def snapshot(root: Path) -> dict[str, tuple]:
    """relative path -> (kind, size, mtime_ns, link target), bytecode caches left out."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = p.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return out


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, f"$ {' '.join(r.args)}\n-> {r.returncode}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"
    return r


# -- the default install, twice, then used, then uninstalled twice ------------------------------


@pytest.fixture(scope="module")
def default_install(tmp_path_factory, wheelhouse):
    """install.sh with its defaults (but --no-docker) in a clean HOME holding a few of the user's own
    files; run twice, then used to make data and settings. What each step saw."""
    ins = Installer(tmp_path_factory.mktemp("install"), wheelhouse, systemd=True)
    h = ins.home
    (h / ".zshrc").write_text("# mine\n")            # zsh user: install.sh adds zsh completion
    (h / ".config" / "fish").mkdir(parents=True)     # fish user: and fish completion
    (h / ".profile").write_text("# mine too\n")
    steps: dict = {"before": snapshot(h)}
    steps["install1"] = ok(ins.run("install.sh", "--python", sys.executable, "--no-docker"))
    steps["after1"] = snapshot(h)
    steps["calls1"] = ins.systemctl_calls()
    steps["install2"] = ok(ins.run("install.sh", "--python", sys.executable, "--no-docker"))
    steps["after2"] = snapshot(h)
    steps["calls2"] = ins.systemctl_calls()[len(steps["calls1"]):]
    # use it: data and settings of the user's own, made by the installed knitctl
    knitctl = h / ".local" / "bin" / "knitctl"
    src = ins.root / "my-dataset"
    src.mkdir()
    (src / "rows.csv").write_text("a,b\n1,2\n")
    steps["push"] = ok(ins.run(knitctl, "data", "push", src, "-t", "project:mine"))
    steps["context"] = ok(ins.run(knitctl, "context", "use", "local"))
    steps["with_data"] = snapshot(h)
    return ins, steps


@pytest.fixture(scope="module")
def uninstalled(default_install):
    """The same HOME after `install.sh --uninstall`, twice (the tests using it come last)."""
    ins, steps = default_install
    n = len(ins.systemctl_calls())
    steps["uninstall1"] = ok(ins.run("install.sh", "--uninstall"))
    steps["calls_un"] = ins.systemctl_calls()[n:]
    steps["after_un1"] = snapshot(ins.home)
    steps["uninstall2"] = ok(ins.run("install.sh", "--uninstall"))
    steps["after_un2"] = snapshot(ins.home)
    return ins, steps


VENV = ".local/share/knit/venv"
UNIT = ".config/systemd/user/knitd.service"
WANTS = ".config/systemd/user/default.target.wants/knitd.service"
MADE = {  # what install.sh puts in HOME besides the virtualenv
    ".local/bin/knitctl": ("link", f"{VENV}/bin/knitctl"),
    ".local/bin/knitd": ("link", f"{VENV}/bin/knitd"),
    ".local/share/bash-completion/completions/knitctl": "knitctl/share/completions/knitctl.bash",
    ".zfunc/_knitctl": "knitctl/share/completions/_knitctl",
    ".config/fish/completions/knitctl.fish": "knitctl/share/completions/knitctl.fish",
}


def test_first_install_makes_venv_links_completion_and_enabled_unit(default_install):
    ins, steps = default_install
    h = ins.home
    err = steps["install1"].stderr
    assert f"creating a virtualenv at {h / VENV}" in err
    assert f"installed knit 0.1.0 into {h / VENV}" in err
    assert (h / VENV / "pyvenv.cfg").is_file()
    for rel, want in MADE.items():
        p = h / rel
        if isinstance(want, tuple):
            assert p.is_symlink() and os.readlink(p) == str(h / want[1]), rel
        else:
            assert p.read_bytes() == (REPO / want).read_bytes(), rel
    # the installed commands run, from the virtualenv (not from this checkout's development one)
    out = ok(ins.run(h / ".local/bin/knitctl", "--help")).stdout
    assert "quickstart" in out and "doctor" in out
    where = ok(ins.run(h / VENV / "bin/python", "-c", "import knitctl; print(knitctl.__file__)", cwd=ins.root)).stdout.strip()
    assert where.startswith(str(h / VENV)), where
    # the unit: placeholders filled, enabled (not started)
    unit = (h / UNIT).read_text()
    assert "@KNITD@" not in unit and "@SOURCE@" not in unit
    assert f"ExecStart={h / VENV}/bin/knitd\n" in unit
    assert f"Documentation=file://{REPO}/README.md" in unit
    assert unit.startswith(f"# knitd as a systemd user service, installed by {REPO}/install.sh")
    assert "[Service]" in unit and "WantedBy=default.target" in unit
    assert (h / WANTS).is_symlink()
    assert "--user enable knitd.service" in steps["calls1"]
    assert not [c for c in steps["calls1"] if c.startswith("--user start") or c.startswith("--user restart")]
    assert "enabled knitd.service (not started" in err
    # nothing else in HOME: only the user's files from before, the made files and their directories
    made = set(MADE) | {UNIT, WANTS}
    new = {p for p, v in steps["after1"].items() if v[0] != "dir" and p not in steps["before"]
           and not p.startswith(VENV + "/")}
    assert new == made


def test_second_install_is_up_to_date_and_changes_nothing(default_install):
    ins, steps = default_install
    err = steps["install2"].stderr
    assert f"knit 0.1.0 in {ins.home / VENV} is up to date" in err
    assert "already links to" in err
    assert err.count("completion is up to date") == 3
    assert "the knitd service is up to date" in err and "knitd.service is enabled" in err
    # no step did anything: no message starts with an action (a note may say a package "is not
    # installed" — bash-completion is missing on some machines — and that is not an action)
    actions = ("creating ", "recreating ", "installing ", "installed ", "linked ", "relinked ", "enabled ")
    said = [line.removeprefix("install.sh: ") for line in err.splitlines()]
    assert not [line for line in said if line.startswith(actions)], err
    assert steps["after2"] == steps["after1"]  # every file, link and mtime, the virtualenv's included
    assert not [c for c in steps["calls2"] if c.split()[1] in ("enable", "disable", "start", "daemon-reload")]


def test_installed_knitctl_works_on_the_default_home(default_install):
    ins, steps = default_install
    assert steps["push"].stdout.split("\t")[0]  # the pushed datum's row
    assert (ins.home / ".local/share/knit/catalog.db").is_file()
    assert (ins.home / ".config/knit/config.yaml").is_file()


def test_uninstall_removes_what_install_made_and_keeps_the_users_data(uninstalled):
    ins, steps = uninstalled
    h = ins.home
    after = steps["after_un1"]
    # the user's data and settings are untouched, byte for byte and mtime for mtime
    kept = {p: v for p, v in steps["with_data"].items()
            if p.startswith(".local/share/knit/") and not p.startswith(VENV) or p.startswith(".config/knit")}
    assert kept and {p: after.get(p) for p in kept} == kept
    # everything else install.sh made is gone, the virtualenv inside KNIT_HOME included
    assert not (h / VENV).exists()
    for rel in [*MADE, UNIT, WANTS]:
        assert not (h / rel).exists() and not (h / rel).is_symlink(), rel
    files_left = {p for p, v in after.items() if v[0] != "dir"}
    users_before = {p for p, v in steps["before"].items() if v[0] != "dir"}
    assert files_left == users_before | {p for p, v in kept.items() if v[0] != "dir"}
    # knitctl's cache, made by using it, is derived: it goes too
    assert any(p.startswith(".cache/knit/") for p in steps["with_data"])
    assert not (h / ".cache").exists()
    # the unit was disabled (and stopped) before it went
    assert any(c.startswith("--user disable") and "--now" in c for c in steps["calls_un"]), steps["calls_un"]
    # the message names what stays
    err = steps["uninstall1"].stderr
    assert f"the virtualenv {h / VENV}" in err
    assert f"kept your data: KNIT_HOME {h / '.local/share/knit'} (the catalog and 1 data)" in err
    assert f"kept your settings: {h / '.config/knit/config.yaml'}" in err


def test_uninstall_twice_is_fine(uninstalled):
    ins, steps = uninstalled
    err = steps["uninstall2"].stderr
    assert "nothing to remove" in err
    assert f"kept your data: KNIT_HOME {ins.home / '.local/share/knit'}" in err
    assert steps["after_un2"] == steps["after_un1"]


# -- --prefix and --bin-dir, without Docker on PATH ----------------------------------------------


def test_prefix_and_bin_dir_are_honoured_and_uninstall_takes_them(tmp_path, wheelhouse):
    ins = Installer(tmp_path, wheelhouse, systemd=False, hide={"docker", "dockerd", "sudo"})
    assert shutil.which("docker", path=ins.env["PATH"]) is None
    prefix = tmp_path / "opt" / "knit venv"   # a space, too
    bin_dir = tmp_path / "bin"
    args = ["--python", sys.executable, "--prefix", prefix, "--bin-dir", bin_dir, "--no-completion", "--no-docker"]
    r = ok(ins.run("install.sh", *args))
    assert (prefix / "pyvenv.cfg").is_file()
    assert os.readlink(bin_dir / "knitctl") == str(prefix / "bin" / "knitctl")
    assert os.readlink(bin_dir / "knitd") == str(prefix / "bin" / "knitd")
    assert snapshot(ins.home) == {}  # install.sh wrote nothing into HOME
    assert ok(ins.run(bin_dir / "knitctl", "--help")).stdout
    # the default places stay empty
    assert not (ins.home / VENV).exists() and not (ins.home / ".local/bin").exists()
    # no Docker and --no-docker: the exact command to run instead
    engine = REPO / "packaging" / "docker-engine.sh"
    assert f"no Docker engine here, and --no-docker: knit's runs need one; to install and start it, run: bash {engine}" in r.stderr
    assert "no systemd user session here" in r.stderr
    assert set(snapshot(ins.home)) <= {".cache", ".cache/knit"} | {  # using knitctl: only its cache
        p for p in snapshot(ins.home) if p.startswith(".cache/knit/")}
    un = ok(ins.run("install.sh", "--uninstall", "--prefix", prefix, "--bin-dir", bin_dir))
    assert not prefix.exists()
    assert not (bin_dir / "knitctl").is_symlink() and not (bin_dir / "knitd").is_symlink()
    assert f"the virtualenv {prefix}" in un.stderr
    assert snapshot(ins.home) == {}  # and uninstall took the cache too

