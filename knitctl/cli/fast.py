"""The one-liners without Typer: `knitctl --help`, `data find`, `run find`, `plan find`, `status`, `data push`;
and the top-level command names, which tell a plugin's name (`knitctl-NAME`) from a built-in command.

Importing Typer and its parser (its click, pydantic for coercion) takes several times longer than
these commands take to run. So they are answered from a description of the Typer app — each
command's options as Typer declares them, and the top-level help exactly as Typer printed it —
that a run through Typer caches in `$XDG_CACHE_HOME/knit/` (default `~/.cache/knit/`). The cache
is keyed on the CLI's source files and Typer's (sizes and modification times): edit a command and
it is described anew by its next run.

The parser here knows only the plain forms: `--opt VALUE`, `--opt=VALUE`, `-o VALUE`, `-oVALUE`,
flags, repeated options, positional arguments, `--`; values that are strings, integers, paths (no
checks beyond Typer's defaults) or a choice. Anything else — an unknown option, a command's
`--help`, combined short flags, a value Typer would refuse, a root option — goes to Typer, which
gives its own answer or error. The fast path never answers differently; it only answers sooner.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from typer import _click as click  # typer vendors click: its commands are these

# command path → the Typer-free function the Typer command delegates to, with the same parameters
HOT = {
    ("data", "find"): "knitctl.cli.oneliners:data_find",
    ("data", "push"): "knitctl.cli.oneliners:data_push",
    ("data", "compare"): "knitctl.cli.compare:data_compare",
    ("run", "find"): "knitctl.cli.oneliners:run_find",
    ("plan", "find"): "knitctl.cli.oneliners:plan_find",
    ("status",): "knitctl.cli.oneliners:status",
}
HELP = ["--help"]
# environment variables that change how Typer (through rich or click) renders help
HELP_ENV = ("COLOR", "TERM", "COLUMNS", "LINES", "TTY", "TYPER", "RICH", "JUPYTER", "LANG", "LC_", "PYTHONIOENCODING")
VERSION = 1


# -- the cache ----------------------------------------------------------------------------------


def cache_dir() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME") or (os.path.join(os.path.expanduser("~"), ".cache") if os.path.expanduser("~") != "~" else "")
    return Path(base) / "knit" if base else None


def stamp() -> str:
    """What the description depends on: the CLI's sources and Typer's, by size and modification time."""
    here = Path(__file__).parent
    parts = [f"v{VERSION}", sys.version.split()[0], str(here)]
    files = sorted(here.glob("*.py"))
    try:
        import importlib.util

        spec = importlib.util.find_spec("typer")
        if spec is not None and spec.origin:
            files.append(Path(spec.origin))
    except (ImportError, ValueError):
        parts.append("no-typer")
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _name(key: str) -> str:
    import zlib

    return f"{zlib.crc32(key.encode()):08x}"


def _spec_path(st: str) -> Path | None:
    d = cache_dir()
    return d / f"cli-{_name(str(Path(__file__).parent))}.json" if d else None


def _read_cached(path: Path | None, field: str, value: str) -> dict | None:
    """A cache file's document when it reads as JSON and its `field` is `value`; None otherwise."""
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get(field) == value else None


def load_spec(st: str) -> dict | None:
    return _read_cached(_spec_path(st), "stamp", st)


def _write(path: Path, text: str) -> None:
    """Atomically, quietly: a cache that can't be written only means no fast path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        pass


def help_key(st: str) -> str:
    size = None
    for fd in (1, 0, 2):
        try:
            size = tuple(os.get_terminal_size(fd))
            break
        except OSError:
            continue
    env = sorted((k, v) for k, v in os.environ.items() if any(p in k for p in HELP_ENV))
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        tty = None
    return json.dumps([st, os.path.basename(sys.argv[0]), tty, size, env])


def _help_path(key: str) -> Path | None:
    d = cache_dir()
    return d / f"help-{_name(key)}.json" if d else None


def load_help(key: str) -> str | None:
    doc = _read_cached(_help_path(key), "key", key)
    return doc.get("text") if doc else None


# -- serving ------------------------------------------------------------------------------------


def hot_key(argv: list[str]) -> tuple[str, ...] | None:
    for key in HOT:
        if tuple(argv[: len(key)]) == key:
            return key
    return None


def serve(argv: list[str]) -> tuple[bool, object]:
    """(True, exit code) when answered here; (False, None) when Typer must answer."""
    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return False, None  # a shell asking for completions: Typer's protocol
    if argv == HELP:
        text = load_help(help_key(stamp()))
        if text is None:
            return False, None
        sys.stdout.write(text)
        sys.stdout.flush()
        return True, 0
    key = hot_key(argv)
    if key is None:
        return False, None
    spec = load_spec(stamp())
    command = (spec or {}).get("commands", {}).get(" ".join(key))
    if command is None:
        return False, None
    try:
        kwargs = parse(command["params"], argv[len(key):])
    except (KeyError, TypeError, ValueError, AttributeError, ImportError):  # a cache file not as written: Typer's
        kwargs = None
    if kwargs is None:
        return False, None
    return True, resolve(HOT[key])(**kwargs)


def resolve(target: str):
    """`module:name` of knit's own (the cache names enums so; nothing outside knitctl is imported from it)."""
    import importlib

    module, _, name = target.partition(":")
    if not module.startswith("knitctl."):
        raise ValueError(f"not one of knit's: {target}")
    return getattr(importlib.import_module(module), name)


def parse(params: list[dict], args: list[str]) -> dict | None:
    """The keyword arguments Typer would call the command with, or None when Typer must look."""
    by_opt = {o: p for p in params if p["kind"] == "option" for o in p["opts"] + p["secondary"]}
    positional = [p for p in params if p["kind"] == "argument"]
    given: dict[str, list] = {}
    loose: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            loose.extend(args[i:])
            break
        if not a.startswith("-") or a == "-":
            loose.append(a)
            continue
        name, eq, inline = a.partition("=") if a.startswith("--") else (a, "", "")
        p = by_opt.get(name)
        if p is None and not a.startswith("--") and len(a) > 2:
            name, eq, inline = a[:2], "=", a[2:]  # -tVALUE
            p = by_opt.get(name)
            if p is not None and p["flag"]:
                return None  # combined short flags: Typer's
        if p is None:
            return None
        if p["flag"]:
            if eq:
                return None
            given.setdefault(p["name"], []).append(name in p["opts"])
            continue
        if not eq:
            if i >= len(args) or args[i].startswith("-"):
                return None
            inline = args[i]
            i += 1
        given.setdefault(p["name"], []).append(inline)
    out: dict = {}
    for p in positional:
        if p["multiple"]:
            values, loose = loose, []
        else:
            values, loose = loose[:1], loose[1:]
        if values:
            given[p["name"]] = values
    if loose:
        return None  # more arguments than the command takes
    for p in params:
        got = given.get(p["name"])
        if not got:
            if p["required"]:
                return None
            if p["multiple"]:
                out[p["name"]] = () if p["default"] is None else list(p["default"])
            else:
                out[p["name"]] = p["default"]
            if p["choices"] is not None and p["default"] is not None:
                out[p["name"]] = resolve(p["enum"])(p["default"])
            continue
        if p["flag"]:
            out[p["name"]] = got[-1]
            continue
        try:
            converted = [convert(p, v) for v in got]
        except ValueError:
            return None
        out[p["name"]] = converted if p["multiple"] else converted[-1]
    return out


def convert(p: dict, value: str):
    kind = p["type"]
    if kind == "str":
        return value
    if kind == "int":
        if not value.strip().lstrip("+-").isdigit():
            raise ValueError(value)
        return int(value)
    if kind == "choice":
        if value not in p["choices"]:
            raise ValueError(value)
        return resolve(p["enum"])(value)
    if kind == "path":
        if not value:
            raise ValueError(value)
        path = Path(value)
        try:
            st = os.stat(path)
        except OSError:
            return path
        import stat as st_mode

        if st_mode.S_ISDIR(st.st_mode) and not p["dir_okay"] or st_mode.S_ISREG(st.st_mode) and not p["file_okay"]:
            raise ValueError(value)
        if p["readable"] and not os.access(path, os.R_OK) or p["writable"] and not os.access(path, os.W_OK):
            raise ValueError(value)
        return path
    raise ValueError(kind)


# -- learning from Typer ------------------------------------------------------------------------


class _Tee:
    """sys.stdout for one Typer run whose output is worth keeping: writes go through and are kept."""

    def __init__(self, real: TextIO) -> None:
        self.real = real
        self.kept: list[str] = []

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError("text only")
        self.kept.append(text)
        return self.real.write(text)

    def flush(self):
        self.real.flush()

    def isatty(self):
        return self.real.isatty()

    def fileno(self):
        return self.real.fileno()

    @property
    def encoding(self):
        return self.real.encoding

    @property
    def errors(self):
        return self.real.errors


def through_typer(argv: list[str]):
    """Run the command through Typer, and cache what the fast path needs from it when it is missing."""
    from .app import app

    st = None
    tee = None
    if argv == HELP:
        st = stamp()
        key = help_key(st)
        if load_help(key) is None:
            tee = sys.stdout = _Tee(sys.stdout)
    elif hot_key(argv) is not None:
        st = stamp()
        if load_spec(st) is None:
            save_spec(app, st)
    try:
        rc = app(standalone_mode=False)
    finally:
        if tee is not None:
            sys.stdout = tee.real
    if tee is not None and rc in (0, None) and tee.kept:
        path = _help_path(key)
        if path is not None:
            _write(path, json.dumps({"key": key, "text": "".join(tee.kept)}))
    return rc


def describe(app) -> dict:
    """The hot commands' parameters as Typer builds them; a command the parser here can't take is left out."""
    import typer.main

    root = typer.main.get_command(app)
    commands = {}
    for key, target in HOT.items():
        cmd: click.Command | None = root
        for part in key:
            cmd = getattr(cmd, "commands", {}).get(part)
            if cmd is None:
                break
        if cmd is None:
            continue
        described = [describe_param(p) for p in cmd.params]
        params = [p for p in described if p is not None]
        if len(params) < len(described):
            continue
        import inspect

        try:
            body = resolve(target)
        except (ImportError, AttributeError):
            continue
        if [p["name"] for p in params] != list(inspect.signature(body).parameters):
            continue  # the Typer command and its body disagree: leave it to Typer
        commands[" ".join(key)] = {"params": params}
    return commands


def describe_param(p) -> dict | None:
    import enum
    import typing

    desc = getattr(p, "type_descriptor", None)
    if desc is None or not p.expose_value or p.callback is not None or p.envvar or p.is_eager:
        return None
    if getattr(p, "prompt", None) or getattr(p, "count", False) or getattr(p, "min", None) is not None or getattr(p, "max", None) is not None:
        return None
    info = desc.parameter_info
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None) is not None:
        return None
    ann = desc.annotation
    args = typing.get_args(ann)
    if typing.get_origin(ann) is typing.Union and type(None) in args and len(args) == 2:
        ann = next(a for a in args if a is not type(None))
    multiple = typing.get_origin(ann) is list
    if multiple:
        (ann,) = typing.get_args(ann) or (str,)
    kind = p.param_type_name
    flag = bool(getattr(p, "is_flag", False))
    if multiple != bool(p.multiple or p.nargs == -1) or p.nargs not in (1, -1):
        return None
    out = {
        "name": p.name, "kind": kind, "opts": list(p.opts) if kind == "option" else [],
        "secondary": list(getattr(p, "secondary_opts", []) or []), "flag": flag, "multiple": multiple,
        "required": bool(p.required), "choices": None, "enum": None,
    }
    if flag:
        if ann is not bool or not getattr(p, "is_bool_flag", False) or not isinstance(p.default, bool):
            return None
        out.update(type="bool", default=p.default)
        return out
    if ann is bool:
        return None
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        if not getattr(info, "case_sensitive", True) or not ann.__module__.startswith("knitctl."):
            return None
        out.update(type="choice", choices=[str(m.value) for m in ann], enum=f"{ann.__module__}:{ann.__qualname__}")
    elif ann is str:
        out["type"] = "str"
    elif ann is int:
        out["type"] = "int"
    elif isinstance(ann, type) and issubclass(ann, Path):
        if ann is not Path or info.resolve_path or info.allow_dash or info.exists or getattr(info, "path_type", None) is not None:
            return None
        out.update(type="path", file_okay=bool(info.file_okay), dir_okay=bool(info.dir_okay),
                   readable=bool(info.readable), writable=bool(info.writable))
    else:
        return None
    default = None if p.required else p.default
    if isinstance(default, enum.Enum):
        default = default.value
    if isinstance(default, tuple):
        default = list(default)
    if default is not None and not isinstance(default, (str, int, list)) or isinstance(default, bool):
        return None
    if isinstance(default, list) and (not multiple or default):
        return None
    out["default"] = default  # a list option without a default: Typer gives ()
    return out


def root_names(app) -> list[str]:
    """knitctl's own top-level command names (a plugin of one of these names never runs)."""
    import typer.main

    return sorted(getattr(typer.main.get_command(app), "commands", {}))


def builtin_names() -> list[str]:
    """The top-level command names: from the cached description, else from the Typer app (and cached then)."""
    st = stamp()
    spec = load_spec(st)
    names = (spec or {}).get("root")
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    from .app import app

    save_spec(app, st)
    return root_names(app)


def save_spec(app, st: str) -> None:
    path = _spec_path(st)
    if path is None:
        return
    _write(path, json.dumps({"stamp": st, "commands": describe(app), "root": root_names(app)}))
