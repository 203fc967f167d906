"""Provenance: who made an upload or a run (user, host), with which knit, from which git commit (uploads)
and with which exact image (runs: the image id and repo digest resolved when the container started —
a tag moves, an id does not). Kept in knit's table `provenance` (knitctl/catalog/provenance.py) and as
MLMD custom properties `knit.*` on the run's execution (and an upload's artifact).

The git probe runs `git` as a subprocess, briefly and defensively: a pushed directory may sit in a
repository someone else prepared, whose config could name programs for git to run (core.fsmonitor,
filter drivers, hooks, ssh for a lazy fetch). Every such setting is overridden on the command line,
system and global config are not read (so git's check that the repository is the user's own stands),
nothing is written to the repository, and any failure or timeout leaves the git fields out.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import __version__
from .catalog import mlmd
from .catalog import provenance as q

GIT_TIMEOUT = 3.0

# field -> MLMD custom property name
PROPERTY = {
    "user": "knit.user", "host": "knit.host", "knit_version": "knit.version", "image": "knit.image",
    "image_id": "knit.image_id", "repo_digest": "knit.repo_digest", "git_commit": "knit.git_commit",
    "git_dirty": "knit.git_dirty",
}

# the fields shown, in order, with their labels (run show, data show, the TUI)
LABELS = (("user", "user"), ("host", "host"), ("knit_version", "knit version"), ("image", "image (as written)"),
          ("image_id", "image id"), ("repo_digest", "repo digest"), ("git_commit", "git commit"),
          ("git_dirty", "git dirty"))


def who() -> dict:
    """This process's user, host and knit version."""
    import getpass  # here, as socket and subprocess below: listings that never record import this module
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER: the uid is still an answer
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname(), "knit_version": __version__}


def properties(values: dict) -> dict:
    """The MLMD custom properties of provenance `values` (fields absent stay absent)."""
    return {PROPERTY[k]: v for k, v in values.items() if k in PROPERTY and v is not None}


def record_upload(conn, run_id: str, knit_id: str, values: dict, *, at_ms: int | None = None) -> None:
    """An upload's provenance, in the caller's transaction: its run's row, MLMD properties on both the
    upload's execution and its datum's artifact."""
    q.record(conn, run_id, values, at_ms=at_ms)
    props = properties(values)
    mlmd.set_custom_properties(conn, "run", run_id, props)
    mlmd.set_custom_properties(conn, "data", knit_id, props)


def record_run(conn, run_id: str, values: dict) -> None:
    """A run's provenance as its task started, in the caller's transaction (replacing an earlier attempt's)."""
    q.record(conn, run_id, values)
    # an earlier attempt's image id (a retry) must not outlive it
    stale = {p: None for f, p in PROPERTY.items() if f not in values}
    mlmd.set_custom_properties(conn, "run", run_id, {**stale, **properties(values)})


def forget_run(conn, run_id: str) -> None:
    """A retried run's provenance goes with its discarded outputs (its next start records anew)."""
    q.forget(conn, run_id)
    mlmd.set_custom_properties(conn, "run", run_id, dict.fromkeys(PROPERTY.values()))


def add_to_run(conn, run_id: str, values: dict) -> None:
    """Fields learnt later (a pod's image id, reported once its task ran)."""
    values = {k: v for k, v in values.items() if v is not None}
    if values and q.update(conn, run_id, values):
        mlmd.set_custom_properties(conn, "run", run_id, properties(values))


def of_run(session, run_id: str) -> dict | None:
    return q.of_run(session.catalog.conn, run_id)


def of_datum(session, knit_id: str) -> dict | None:
    return q.of_datum(session.catalog.conn, knit_id)


def public(values: dict | None) -> dict:
    """What `-o json` shows: the recorded fields (no bookkeeping)."""
    return {k: v for k, v in (values or {}).items() if k in PROPERTY}


def rows(values: dict | None, *, shown_image: str | None = None) -> list[tuple[str, str]]:
    """(label, text) of each recorded field, in LABELS order, for a human; the image as written is left
    out when it is `shown_image` (a run's screen shows its plan's image already)."""
    out = []
    for key, label in LABELS:
        if key == "image" and values and values.get(key) == shown_image:
            continue
        if values and key in values:
            v = values[key]
            out.append((label, ("yes" if v else "no") if key == "git_dirty" else str(v)))
    return out


# -- git -------------------------------------------------------------------------------------------

# Settings that make git run a program (or write to the repository) while it answers rev-parse and
# status, overridden. Filter drivers have names of the repository's choosing: those are found first
# (reading config runs nothing) and overridden by name.
_SAFE_CONFIG = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),
    ("core.untrackedCache", "false"),
    ("core.splitIndex", "false"),
    ("protocol.allow", "never"),          # a partial clone's lazy fetch would run ssh or a credential helper
    ("credential.helper", ""),
    ("core.sshCommand", "false"),
    ("diff.external", ""),
    ("status.submoduleSummary", "false"),
    ("submodule.recurse", "false"),
)
_FILTER_KEYS = ("clean", "smudge", "process")


def _git_env(extra: list[tuple[str, str]]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_ATTR_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0", GIT_LITERAL_PATHSPECS="1", GIT_NO_REPLACE_OBJECTS="1", GIT_PAGER="cat",
        GIT_ASKPASS="true", SSH_ASKPASS="true", LC_ALL="C",
    )
    pairs = list(_SAFE_CONFIG) + extra
    env["GIT_CONFIG_COUNT"] = str(len(pairs))
    for i, (k, v) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"] = k
        env[f"GIT_CONFIG_VALUE_{i}"] = v
    return env


def _git(git: str, where: Path, args: list[str], env: dict) -> str | None:
    import subprocess

    try:
        r = subprocess.run([git, "-C", str(where), *args], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return r.stdout.decode("utf-8", errors="replace")


def _in_work_tree(d: Path) -> bool:
    """Whether a `.git` sits in d or above it: no git process for a directory outside any repository."""
    return any(os.path.lexists(p / ".git") for p in (d, *d.parents))


def git_state(path: str | os.PathLike) -> dict:
    """{git_commit, git_dirty} of a pushed path inside a git work tree (dirty: `git status` lists changes
    or untracked files under the path); {} when git is missing, the path is in no work tree (or one git
    refuses, e.g. owned by someone else), HEAD has no commit, or git takes longer than GIT_TIMEOUT."""
    p = Path(os.path.abspath(path))
    d = p if p.is_dir() else p.parent
    if not d.is_dir() or not _in_work_tree(d):
        return {}
    import shutil

    git = shutil.which("git")
    if git is None:
        return {}
    names = _git(git, d, ["config", "--null", "--name-only", "--list"], _git_env([]))
    if names is None:
        return {}
    extra: list[tuple[str, str]] = []
    for name in {n.strip() for n in names.split("\0")}:
        section, _, rest = name.partition(".")
        driver, _, key = rest.rpartition(".")
        if section.lower() == "filter" and driver:
            extra += [(f"filter.{driver}.{k}", "") for k in _FILTER_KEYS] + [(f"filter.{driver}.required", "false")]
    env = _git_env(extra)
    # "true" and HEAD's commit; fails without a commit, "false" in a .git directory or a bare repository
    answer = (_git(git, d, ["rev-parse", "--is-inside-work-tree", "HEAD^{commit}"], env) or "").split()
    if len(answer) != 2 or answer[0] != "true":
        return {}
    head = answer[1]
    spec = "." if p == d else p.name
    status = _git(git, d, ["status", "--porcelain=v1", "-z", "--ignore-submodules=all", "--untracked-files=all",
                           "--no-renames", "--", spec], env)
    if status is None:
        return {}
    return {"git_commit": head, "git_dirty": bool(status.strip("\0").strip())}
