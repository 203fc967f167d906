"""The `/` filter and the `:` command line, parsed. Pure functions.

A filter is words separated by spaces (quote a word to keep its spaces):

- `status:failed` (or a bare status word: `failed`) — any of the given statuses;
- `plan:3fa9` — runs of plans whose id starts so (data: produced by such a plan;
  `plan:upload` means uploads);
- `image:knit/python` — plans/runs whose image is that name (with any tag);
- `active:yes|no` — plans only;
- `key:value` — a tag: data carrying it (all such words must match); runs whose
  inputs or outputs carry it; plans whose inputs or outputs ask for it;
- `re:PATTERN`, `~PATTERN`, or any other bare word — a regular expression
  (case-insensitive) matched against the row's text (ids, plan, image, tags).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from knitctl import runstate
from knitctl.catalog.records import UPLOAD_PLAN

RUN_STATUSES = tuple(runstate.STATUSES)
DATA_STATUSES = ("done", "processing", "failed")
PLAN_WORDS = {"active": True, "inactive": False}
FIELD_KEYS = {"status", "s", "plan", "p", "image", "re", "active"}


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class Filter:
    text: str = ""
    statuses: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    patterns: tuple[str, ...] = ()
    active: bool | None = None
    uploads: bool = False            # plan:upload given

    @property
    def empty(self) -> bool:
        return not (self.statuses or self.plans or self.images or self.tags or self.patterns
                    or self.active is not None or self.uploads)

    def describe(self) -> str:
        return self.text.strip()


def _regex(p: str) -> str:
    try:
        re.compile(p)
    except re.error as e:
        raise FilterError(f"{p!r} is not a regular expression: {e}") from None
    return p


def parse(text: str, *, kind: str = "runs") -> Filter:
    """Parse filter text for the `runs`, `data` or `plans` table."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise FilterError(f"unbalanced quotes: {e}") from None
    statuses: list[str] = []
    plans: list[str] = []
    images: list[str] = []
    tags: list[tuple[str, str]] = []
    patterns: list[str] = []
    active: bool | None = None
    uploads = False
    allowed = RUN_STATUSES if kind == "runs" else DATA_STATUSES if kind == "data" else ()
    for w in words:
        if w.startswith("~") and len(w) > 1:
            patterns.append(_regex(w[1:]))
            continue
        key, sep, value = w.partition(":")
        key = key.strip()
        value = value.strip()
        if not sep:
            if w in allowed:
                statuses.append(w)
            elif kind == "plans" and w in PLAN_WORDS:
                active = PLAN_WORDS[w]
            else:
                patterns.append(_regex(w))
            continue
        if key == "re":
            patterns.append(_regex(value))
        elif key in ("status", "s"):
            for v in value.split(","):
                if v not in allowed:
                    raise FilterError(
                        f"status {v!r} is not one of {', '.join(allowed) or '(plans have no status; use active:yes)'}"
                    )
                statuses.append(v)
        elif key in ("plan", "p"):
            if value in ("upload", "uploads", "uploaded", UPLOAD_PLAN):
                uploads = True
            elif not re.fullmatch(r"[0-9a-f]{1,32}", value):
                raise FilterError(f"plan:{value} — plan ids are hexadecimal (a prefix is enough), or plan:upload")
            else:
                plans.append(value)
        elif key == "image":
            if not value:
                raise FilterError("image: needs a name, e.g. image:knit/python")
            images.append(value)
        elif key == "active":
            if value not in ("yes", "no", "true", "false"):
                raise FilterError(f"active:{value} — write active:yes or active:no")
            active = value in ("yes", "true")
        elif not key:
            raise FilterError(f"{w!r}: a tag needs a key before the colon")
        else:
            tags.append((key, value))
    return Filter(text.strip(), tuple(dict.fromkeys(statuses)), tuple(plans), tuple(images), tuple(tags),
                  tuple(patterns), active, uploads)


# -- the command line -------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    name: str
    args: str = ""


@dataclass(frozen=True)
class CommandSpec:
    name: str
    aliases: tuple[str, ...]
    usage: str
    help: str
    needs_arg: bool = False


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("runs", ("rs", "ru"), ":runs [FILTER]", "the Runs table, e.g. `:runs failed`"),
    CommandSpec("data", ("d", "ds", "datum"), ":data [FILTER]", "the Data table, e.g. `:data project:x`"),
    CommandSpec("plans", ("p", "pl", "plan"), ":plans [FILTER]", "the Plans table"),
    CommandSpec("run", ("show", "detail"), ":run ID", "one run's detail", True),
    CommandSpec("log", ("logs", "l"), ":log RUN", "a run's log", True),
    CommandSpec("lineage", ("lin", "g", "tree"), ":lineage ID", "the lineage tree of a datum or run", True),
    CommandSpec("help", ("h", "?"), ":help", "the keys of this screen"),
    CommandSpec("quit", ("q", "exit"), ":q", "quit"),
)
_BY_NAME = {c.name: c for c in COMMANDS} | {a: c for c in COMMANDS for a in c.aliases}


def parse_command(text: str) -> Command:
    s = text.strip().removeprefix(":").strip()
    if not s:
        raise FilterError("type a command: " + ", ".join(c.name for c in COMMANDS))
    head, _, rest = s.partition(" ")
    head = head.lower()
    spec = _BY_NAME.get(head)
    if spec is None:
        import difflib

        close = difflib.get_close_matches(head, list(_BY_NAME), n=1)
        hint = f"; did you mean :{_BY_NAME[close[0]].name}?" if close else ""
        raise FilterError(f"no command :{head}{hint} (try :help)")
    rest = rest.strip()
    # `:run` alone (or with a filter) means the table; with an id, the run's detail.
    if spec.name == "run" and not re.fullmatch(r"[0-9a-fA-F]{1,32}", rest):
        spec = _BY_NAME["runs"]
    if spec.needs_arg and not rest:
        raise FilterError(f"{spec.usage}: give an id")
    return Command(spec.name, rest)
