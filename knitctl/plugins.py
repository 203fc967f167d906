"""Extension commands: `knitctl NAME ARGS...` runs `knitctl-NAME ARGS...` from PATH when NAME is not
one of knitctl's own commands (the convention of kubectl and git).

The plugin replaces the knitctl process (exec), so its exit status, output and signals are its own.
It finds where knit is in its environment: KNIT_HOME (the home knitctl would use), KNIT_CONTEXT
(the current context: `--context`, else $KNIT_CONTEXT, else the config's) and KNIT_CONFIG (the config
file's path). A built-in command always wins over a plugin of the same name; `knitctl plugin ls`
says which plugins are found, which are shadowed and which can't run.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

PREFIX = "knitctl-"
ROOT_VALUE_OPTIONS = ("--context",)   # the root options a plugin's name may follow (with their value)


@dataclass(frozen=True)
class Plugin:
    name: str                   # the command: `knitctl NAME`
    path: Path
    executable: bool
    shadowed_by: Path | None = None    # an earlier file on PATH with the same name runs instead
    builtin: bool = False              # a knitctl command of the same name runs instead

    @property
    def note(self) -> str:
        if self.builtin:
            return f"ignored: `knitctl {self.name}` is a built-in command"
        if self.shadowed_by is not None:
            return f"shadowed by {self.shadowed_by}"
        if not self.executable:
            return "ignored: not executable (chmod +x)"
        return ""

    def to_dict(self) -> dict:
        return {"name": self.name, "path": str(self.path), "runs": not self.note, "note": self.note}


def valid_name(name: str) -> bool:
    """A word that can name a plugin: not an option, no path separator, nothing hidden or empty."""
    return bool(name) and not name.startswith((".", "-")) and "/" not in name and "\0" not in name


def path_dirs(path_env: str | None) -> list[Path]:
    """PATH's directories in order (an empty entry is the working directory, as the shell reads it)."""
    return [Path(d or ".") for d in (path_env or "").split(os.pathsep)] if path_env else []


def _is_executable(path: Path) -> bool | None:
    """True/False for a regular file (after symlinks); None when it isn't one."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return os.access(path, os.X_OK)


def find(name: str, path_env: str | None) -> Path | None:
    """The first executable `knitctl-NAME` on PATH, or None."""
    if not valid_name(name):
        return None
    for d in path_dirs(path_env):
        candidate = d / (PREFIX + name)
        if _is_executable(candidate):
            return candidate
    return None


def discover(path_env: str | None, builtins: Iterable[str]) -> list[Plugin]:
    """Every `knitctl-*` file on PATH, in PATH order, with whether it would run and why not."""
    builtin = set(builtins)
    first: dict[str, Path] = {}
    out = []
    for d in path_dirs(path_env):
        try:
            names = sorted(e.name for e in os.scandir(d) if e.name.startswith(PREFIX))
        except OSError:
            continue
        for fname in names:
            name = fname[len(PREFIX):]
            path = d / fname
            executable = _is_executable(path)
            if executable is None or not valid_name(name):
                continue
            shadow = first.get(name)
            if executable and shadow is None:
                first[name] = path
            out.append(Plugin(name, path, executable, shadow, name in builtin))
    return out


def command_word(argv: Sequence[str]) -> tuple[str | None, list[str], dict[str, str]]:
    """(the command word, the arguments after it, root options given before it). Pure.

    Only `--context VALUE` / `--context=VALUE` may come before a plugin's name; any other option
    there leaves the command line to knitctl's own parser (the word is None).
    """
    options: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-"):
            return a, list(argv[i + 1:]), options
        name, eq, value = a.partition("=")
        if name not in ROOT_VALUE_OPTIONS:
            return None, [], options
        if not eq:
            if i + 1 >= len(argv):
                return None, [], options
            value = argv[i + 1]
            i += 1
        options[name] = value
        i += 1
    return None, [], options


def environment(context: str | None = None) -> dict[str, str]:
    """The plugin's environment: this process's, plus KNIT_HOME, KNIT_CONTEXT (`context` when given: the
    `--context` flag) and KNIT_CONFIG as knitctl resolves them here."""
    from . import config, contexts
    from .home import Home

    env = dict(os.environ)
    env["KNIT_CONTEXT"] = context or contexts.current()
    env["KNIT_HOME"] = str(Home.resolve().root)
    env["KNIT_CONFIG"] = str(config.config_path().absolute())
    return env


def run(path: Path, name: str, args: Sequence[str], env: Mapping[str, str]) -> None:
    """Replace this process with the plugin. Returns only by raising when it can't be started."""
    try:
        os.execve(path, [str(path), *args], dict(env))
    except OSError as e:
        raise UsageError(
            f"plugin `knitctl {name}` ({path}) can't be run: {e.strerror or e}; "
            "make it an executable program (a #! line and chmod +x) or remove it from PATH"
        ) from None


def dispatch(argv: Sequence[str], builtins: Callable[[], Iterable[str]]) -> None:
    """Run the plugin `argv` names, if any (never returns then); otherwise return and let knitctl answer.

    `builtins` is called for knitctl's own command names only when a plugin file is found, so an ordinary
    command never pays for looking them up.
    """
    word, rest, options = command_word(argv)
    if word is None:
        return
    path = find(word, os.environ.get("PATH"))
    if path is None or word in builtins():
        return
    run(path, word, rest, environment(options.get("--context")))
