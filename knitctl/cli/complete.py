"""Tab completion of catalog values — datum, run and plan ids, tags, context names — without Typer.

The completion scripts (knitctl/share/completions/) call `knitctl` back on every TAB with
`_KNITCTL_COMPLETE=complete_<shell>`. Where the word being completed is a value from the catalog,
it is answered here: one read-only SQLite query, no Typer, no session. Everything else (command
names, option names, files) goes to Typer's own completion, as before.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import sys

LIMIT = 200

# command path → what its first argument is
FIRST_ARG: dict[tuple[str, ...], str] = {
    **{("data", c): "data" for c in ("show", "pull", "tag", "lineage", "compare")},
    **{("run", c): "run" for c in ("show", "stop", "abort", "retry", "rm", "log", "wait", "verify")},
    **{("plan", c): "plan" for c in ("show", "resource", "annotate", "graph")},
    **{("context", c): "context" for c in ("use", "show", "rm")},
    ("explain", "data"): "data", ("explain", "run"): "run", ("explain", "plan"): "plan",
}
SECOND_ARG: dict[tuple[str, ...], str] = {("plan", "active"): "plan"}
# options taking a catalog value: (command path or None for any) → option → kind
OPTIONS: dict[tuple[str, ...] | None, dict[str, str]] = {
    None: {"-t": "tag", "--tag": "tag", "--context": "context"},
    ("data", "tag"): {"--add": "tag", "--remove": "tag"},
    ("plan", "find"): {"-i": "tag", "--in-tag": "tag", "-O": "tag", "--out-tag": "tag"},
    ("run", "find"): {"-p": "plan", "--plan": "plan", "--planid": "plan", "-i": "data", "--input": "data",
                      "--in-knitid": "data", "-O": "data", "--output-data": "data", "--out-knitid": "data",
                      "-c": "context"},
}
GROUPS = {"data", "plan", "run", "explain", "watch", "context", "metadata"}


def _options(path: tuple[str, ...]) -> dict[str, str]:
    return {**OPTIONS[None], **OPTIONS.get(path, {})}


def wanted(args: list[str], incomplete: str) -> str | None:
    """What kind of catalog value the word being completed is, or None (Typer answers). Pure."""
    words = [a for a in args if a]
    path: tuple[str, ...] = ()
    i = 0
    if words and words[0] in GROUPS:
        path = tuple(words[:2]) if len(words) >= 2 else ()
        i = 2
    elif words and not words[0].startswith("-"):
        path = (words[0],)
        i = 1
    if not path or incomplete.startswith("-"):
        return None
    opts = _options(path)
    positional = 0
    rest = words[i:]
    j = 0
    while j < len(rest):
        w = rest[j]
        if w in opts:
            if j == len(rest) - 1:
                return opts[w]  # completing the option's value
            j += 2
            continue
        if not w.startswith("-"):
            positional += 1
        j += 1
    if positional == 0:
        return FIRST_ARG.get(path)
    if positional == 1:
        return SECOND_ARG.get(path)
    return None


def values(kind: str, prefix: str) -> list[str]:
    """Catalog values of a kind starting with prefix (at most LIMIT); [] when there is no catalog."""
    if kind == "context":
        try:
            from .. import config as config_mod

            return sorted(n for n in config_mod.load().contexts if n.startswith(prefix))
        except Exception:  # noqa: BLE001 — a completion never fails loudly
            return []
    from ..catalog import completion
    from ..home import Home

    db = Home.resolve().catalog
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return completion.names(conn, kind, prefix, LIMIT)
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def _args(shell: str) -> tuple[list[str], str]:
    if shell == "bash":
        words = shlex.split(os.environ.get("COMP_WORDS", ""), posix=True) if os.environ.get("COMP_WORDS") else []
        cword = int(os.environ.get("COMP_CWORD", "0") or 0)
        return words[1:cword], words[cword] if cword < len(words) else ""
    line = os.environ.get("_TYPER_COMPLETE_ARGS", "")
    words = shlex.split(line, posix=True)[1:]
    if words and not line.endswith(" "):
        return words[:-1], words[-1]
    return words, ""


def _zsh_quote(s: str) -> str:
    return s.replace('"', '""').replace("'", "''").replace("$", "\\$").replace("`", "\\`").replace(":", r"\\:")


def serve() -> bool:
    """Answer a completion request when it asks for catalog values; False when Typer must."""
    mode = os.environ.get("_KNITCTL_COMPLETE", "")
    if not mode.startswith("complete_"):
        return False
    shell = mode.removeprefix("complete_")
    if shell not in ("bash", "zsh", "fish"):
        return False
    try:
        args, incomplete = _args(shell)
    except ValueError:  # an unclosed quote: Typer copes with it its own way
        return False
    kind = wanted(args, incomplete)
    if kind is None:
        return False
    found = values(kind, incomplete)
    if shell == "fish":
        if os.environ.get("_TYPER_COMPLETE_FISH_ACTION") == "is-args":
            sys.exit(0 if found else 1)
        sys.stdout.write("\n".join(found))
    elif shell == "zsh":
        items = "\n".join(f'"{_zsh_quote(v)}"' for v in found)
        sys.stdout.write(f"_arguments '*: :(({items}))'" if found else "_files")
    else:
        sys.stdout.write("\n".join(found))
    sys.stdout.flush()
    return True
