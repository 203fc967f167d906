"""Project defaults: a `knit.yaml` found by walking up from the working directory.

Like `.git` or `pyproject.toml`, the nearest `knit.yaml` in the working directory or one of its
parents applies; the walk stops at the filesystem root, or before `$HOME`'s parent when it starts
under `$HOME` (so `~/knit.yaml` is the furthest one a project under home can inherit). It holds

    tags:          # added to every `data push` and to `plan template`'s tag lists
      - project:mnist
    resources:     # as in a plan file; for plans that give none, at `plan apply`
      cpu: 2
      memory: 4Gi
    context: team-gpu   # the current context here: under --context / $KNIT_CONTEXT, over the config's

Flags win: a `-t KEY:VALUE` on `data push` replaces the defaults' tags of that KEY (and `-n` their
`name:`); other default tags are added. The file is read as strictly as a plan file: unknown keys,
wrong types, bad tags or resources and control characters are one error naming the file and the field.

Only the knitctl command line reads it — knitd and the TUI decide as they did — so the CLI says so
with `enable()`; `active()` is what `contexts.current` asks. Parsing and merging are pure; `discover`
and `load` touch the disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .plans.spec import PlanSpec, Resources
    from .tags import Tag

FILENAME = "knit.yaml"
KEYS = ("tags", "resources", "context")
MAX_BYTES = 1 << 20
HOW_TO_FIX = "fix it, or move it aside to do without project defaults"


@dataclass(frozen=True)
class Search:
    """Where the walk for a knit.yaml went: from `start`, through `searched` (nearest first), to `found`."""

    start: Path
    searched: tuple[Path, ...]
    found: Path | None
    stop: str        # why the walk ended where it did, for people


@dataclass(frozen=True)
class Defaults:
    """What a knit.yaml sets; an empty one when none applies."""

    path: Path | None = None
    tags: tuple[Tag, ...] = ()
    resources: Resources | None = None
    context: str | None = None

    def to_dict(self) -> dict:
        return {
            "tags": [str(t) for t in self.tags],
            "resources": self.resources.to_dict() if self.resources is not None else {},
            "context": self.context,
        }


# -- finding it ---------------------------------------------------------------------------------


def search_dirs(start: Path, home: Path | None) -> tuple[list[Path], str]:
    """The directories to look in for a knit.yaml, nearest first, and where the walk stops. Pure.

    `start` and `home` are absolute. Under `home`, the walk ends at `home` itself (its parent is
    another user's or the system's); elsewhere it goes up to the root."""
    chain = [start, *start.parents]
    if home is not None and home.parent != home and (start == home or home in start.parents):
        return chain[: chain.index(home) + 1], f"{home} ($HOME; the walk stops before its parent)"
    return chain, "the filesystem root"


def _home() -> Path | None:
    h = os.environ.get("HOME")
    return Path(os.path.abspath(h)) if h else None


def discover(start: Path | None = None) -> Search:
    """The knit.yaml that applies from `start` (default: the working directory)."""
    try:
        begin = Path(os.path.abspath(start if start is not None else os.getcwd()))
    except FileNotFoundError:  # the working directory was removed: it has no parents to look in
        return Search(Path("."), (), None, "nowhere: the working directory no longer exists")
    dirs, stop = search_dirs(begin, _home())
    for i, d in enumerate(dirs):
        candidate = d / FILENAME
        try:
            os.lstat(candidate)
        except OSError:
            continue
        return Search(begin, tuple(dirs[: i + 1]), candidate, stop)
    return Search(begin, tuple(dirs), None, stop)


def load(search: Search) -> Defaults:
    """The defaults of the knit.yaml `search` found (none: empty defaults). One UsageError when it is malformed."""
    if search.found is None:
        return Defaults()
    from .safeyaml import read_text

    text = read_text(search.found, max_bytes=MAX_BYTES, what="knit.yaml (project defaults)", hint=HOW_TO_FIX)
    return parse(text, search.found)


# -- reading it ---------------------------------------------------------------------------------


def _kind(v: Any) -> str:
    if v is None:
        return "empty"
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "a number", float: "a number",
            str: "a string"}.get(type(v), type(v).__name__)


def parse(text: str, path: Path) -> Defaults:
    """A knit.yaml's text as Defaults. Pure; every problem is one UsageError naming the file and the field."""
    from . import safeyaml

    source = str(path)

    def fail(field: str, what: str) -> UsageError:
        return UsageError(f"{source}: {field}: {what}" if field else f"{source}: {what}")

    doc = safeyaml.load(text, source)
    if doc is None:
        return Defaults(path)
    if not isinstance(doc, dict):
        raise fail("", f"must be a mapping with tags, resources or context, not {_kind(doc)}")
    for key in doc:
        if key not in KEYS:
            import difflib

            close = difflib.get_close_matches(str(key), KEYS, n=1, cutoff=0.5)
            hint = f"did you mean `{close[0]}`?" if close else f"valid keys are {', '.join(KEYS)}"
            raise fail(str(key), f"unknown key; {hint}")
    tags = _tags(doc.get("tags"), fail)
    resources = None
    if doc.get("resources") is not None:
        from .plans.spec import parse_resources  # plans' rules: imported only for a file that gives resources

        resources = parse_resources(source, "resources", doc["resources"])
        if not resources.to_dict():
            resources = None
    context = None
    if doc.get("context") is not None:
        value = doc["context"]
        if not isinstance(value, str):
            raise fail("context", f"must be a context's name, not {_kind(value)}")
        from .contexts import name_problem

        problem = name_problem(value)
        if problem:
            raise fail("context", problem)
        context = value
    return Defaults(path, tags, resources, context)


def _tags(value: Any, fail) -> tuple[Tag, ...]:
    from . import tags as tagrules

    if value is None:
        return ()
    if not isinstance(value, list):
        raise fail("tags", f"must be a list of key:value (lines starting with '- '), not {_kind(value)}")
    out: list[Tag] = []
    for i, item in enumerate(value):
        where = f"tags[{i}]"
        if isinstance(item, dict) and len(item) == 1:
            (k, v), = item.items()
            raise fail(where, f"is a mapping ({k}: {v}); write the tag as one string, '{k}:{v}' (no space after ':', or quoted)")
        if not isinstance(item, str):
            raise fail(where, f"must be a key:value string, not {_kind(item)}")
        try:
            tag = tagrules.parse_user(item, where=where)
        except UsageError as e:
            raise fail("", e.message) from None
        if tag not in out:
            out.append(tag)
    return tuple(out)


# -- applying it --------------------------------------------------------------------------------


def merge_tags(defaults: Iterable[Tag], given: Iterable[str], *, given_keys: Iterable[str] = ()) -> list[str]:
    """The tags of a push: the defaults whose keys no flag gives, then the flags' tags. Pure.

    `given` are the `-t` values (already valid); `given_keys` are further keys a flag sets (`-n`: name)."""
    from . import tags as tagrules

    flags = [tagrules.parse(t) for t in given]
    keys = {t.key for t in flags} | set(given_keys)
    return [str(t) for t in defaults if t.key not in keys] + list(given)


def with_resources(spec: PlanSpec, defaults: Defaults) -> PlanSpec:
    """`spec` with the defaults' resources when it gives none. Pure."""
    from dataclasses import replace

    if defaults.resources is None or spec.resources.to_dict():
        return spec
    return replace(spec, resources=defaults.resources)


# the template's lines (patterns compiled by `re` when a template is first printed: a push needs none)
_TAGS_BLOCK = r"^(?P<indent>\s*)tags:\s*(?:#.*)?$"
_TAGS_FLOW = r"^(?P<head>\s*tags:\s*)\[\s*\](?P<tail>\s*(?:#.*)?)$"
_ITEM = r"^(?P<indent>\s*)-\s+(?P<value>\"[^\"]*\"|'[^']*'|[^#\s][^#]*?)\s*(?:#.*)?$"
_RESOURCES = r"^resources:"


def template(text: str, defaults: Defaults) -> str:
    """A plan template with the defaults in it: their tags in every tag list (a template tag of the same
    key gives way), and its example resources commented out when the defaults give resources. Pure.

    It reads the templates knit prints (`tags:` blocks of `- "k:v"` lines, or `tags: []`), not any YAML."""
    if defaults.tags == () and defaults.resources is None:
        return text
    import json

    from . import tags as tagrules

    keys = {t.key for t in defaults.tags}
    quoted = [json.dumps(str(t), ensure_ascii=False) for t in defaults.tags]
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if defaults.resources is not None and re.match(_RESOURCES, line):
            res = " ".join(f"{k}={v}" for k, v in defaults.resources.to_dict().items())
            out.append(f"# resources: from {defaults.path} when this file gives none ({res})")
            while i < len(lines) and lines[i].startswith((" ", "\t")):
                i += 1
            continue
        flow = re.match(_TAGS_FLOW, line)
        if flow and quoted:
            out.append(f"{flow['head']}[{', '.join(quoted)}]{flow['tail']}")
            continue
        block = re.match(_TAGS_BLOCK, line)
        if not block or not quoted:
            out.append(line)
            continue
        out.append(line)
        items: list[str] = []
        indent = None
        while i < len(lines) and (item := re.match(_ITEM, lines[i])) and len(item["indent"]) > len(block["indent"]):
            indent = item["indent"]
            value = item["value"]
            tag_text = json.loads(value) if value.startswith('"') else value.strip("'")
            if tagrules.parse(tag_text).key not in keys:
                items.append(lines[i])
            i += 1
        pad = indent if indent is not None else block["indent"] + "  "
        out.extend(f"{pad}- {q}" for q in quoted)
        out.extend(items)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


# -- the process's defaults ---------------------------------------------------------------------

_state: dict = {"enabled": False}


def enable() -> None:
    """This process is the knitctl command line: its current context takes knit.yaml into account."""
    _state["enabled"] = True


def current(start: Path | None = None) -> tuple[Search, Defaults]:
    """The knit.yaml that applies here and its defaults, read once per file version."""
    search = discover(start)
    if search.found is None:
        return search, Defaults()
    try:
        st = os.stat(search.found)
        key = (str(search.found), st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        key = None
    cached = _state.get("cache")
    if key is not None and cached is not None and cached[0] == key:
        return search, cached[1]
    defaults = load(search)
    if key is not None:
        _state["cache"] = (key, defaults)
    return search, defaults


def active() -> Defaults | None:
    """The defaults that apply to this process: None unless the command line enabled them."""
    if not _state["enabled"]:
        return None
    return current()[1]


def push_tags(given: list[str], *, name: bool) -> list[str]:
    """A `data push`'s tags with the project's defaults: the flags' tags checked first, then merged."""
    from . import tags as tagrules

    enable()
    tagrules.parse_many(given, where="--tag")
    _, defaults = current()
    if not defaults.tags:
        return list(given)
    return merge_tags(defaults.tags, given, given_keys=("name",) if name else ())


def suggest(search: Search) -> str | None:
    """A hint when a near-miss file name sits where knit.yaml was looked for (knit.yml, .knit.yaml)."""
    for d in search.searched:
        for alt in ("knit.yml", ".knit.yaml", "Knit.yaml"):
            if (d / alt).exists():
                return f"{d / alt} is not read: the file must be named {FILENAME}"
    return None
