"""Which folders may be watched: never KNIT_HOME, what holds it, or the system's own folders.

A watched folder's contents are *moved* into the store, so watching `/`, KNIT_HOME or a
folder around it would swallow the catalog, the store and knitd's own files. The rule is
a pure function of the path as written, its resolved form and the home; `knitctl watch add`
and knitd (for rules hand-edited into the config file) both ask it.
"""

from __future__ import annotations

import os
from pathlib import Path

# never watched, nor anything inside them
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin",
                "/sys", "/usr")
# never watched themselves (a folder inside them may be a fine drop folder)
SYSTEM_DIRS = ("/", "/home", "/media", "/mnt", "/opt", "/root", "/run", "/srv", "/tmp", "/var", "/var/tmp")


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def refusal(text: str, *, home_root: Path, home_inbox: Path, user_home: str | None = None,
            config_file: Path | None = None) -> str | None:
    """Why `text` may not be watched (one clause), or None when it may."""
    text = os.fspath(text)
    if not text or not text.strip():
        return "an empty path is not a folder (it would mean the current directory); give the folder's path"
    if "\0" in text:
        return "the path contains a NUL byte"
    written = os.path.abspath(os.path.expanduser(text))
    real = os.path.realpath(written)
    roots = {os.path.abspath(home_root), os.path.realpath(home_root)}
    user_home = user_home if user_home is not None else os.path.expanduser("~")
    if real == os.path.join(os.path.realpath(home_root), os.path.basename(home_inbox)) and \
            written in {os.path.abspath(home_inbox), real}:
        return None  # KNIT_HOME/inbox (a real folder, not a link elsewhere) is the one meant for drops
    for p in dict.fromkeys((written, real)):
        shown = p if p == written else f"{written} (a link to {p})"
        for root in roots:
            if _inside(p, root):
                return f"{shown} is inside KNIT_HOME ({root}); its files would be moved into the store"
            if _inside(root, p):
                return f"{shown} contains KNIT_HOME ({root}); the catalog and the store would be moved into the store"
        for top in SYSTEM_TREES:
            if _inside(p, top):
                return f"{shown} is a system directory ({top})"
        if p in SYSTEM_DIRS:
            return f"{shown} is a system directory"
        if user_home and p in {os.path.abspath(user_home), os.path.realpath(user_home)}:
            return f"{shown} is your home directory; everything in it would be moved into the store"
        if config_file is not None:
            cfg = os.path.realpath(config_file)
            if _inside(cfg, p):
                return f"{shown} holds knit's config file ({cfg})"
    return None


def check_watch_path(text: str, home, *, config_file: Path | None = None) -> str | None:
    """`refusal` for a Home (knitctl.home.Home)."""
    return refusal(text, home_root=home.root, home_inbox=home.inbox, config_file=config_file)
