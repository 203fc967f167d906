"""`knitctl watch ls | add | rm`: folders whose drops become data."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import config as config_mod
from .. import tags as tagrules
from ..config import WatchRule
from ..errors import UsageError
from ..guards import check_watch_path
from ..home import Home
from ..inbox import rules_with_inbox
from ..times import parse_duration
from .output import Format, emit, message

app = typer.Typer(help="Watched folders: files and directories dropped there become data.", no_args_is_help=True)

COLUMNS = [
    ("path", lambda r: r["path"]),
    ("tags", lambda r: r["tags"]),
    ("settle", lambda r: f'{r["settle"]:g}s'),
    ("mode", lambda r: r["mode"]),
]


@app.command("ls")
def ls(output: Format | None = typer.Option(None, "-o", "--output", help="table, json or yaml.")):
    """The watch rules (KNIT_HOME/inbox is watched unless turned off)."""
    cfg = config_mod.load()
    rules = rules_with_inbox(Home.resolve().inbox, cfg.watch, cfg.inbox)
    emit([r.to_dict() for r in rules], output, COLUMNS)


@app.command("add")
def add(
    path: str = typer.Argument(..., help="The folder to watch (created if missing)."),
    tag: list[str] = typer.Option([], "-t", "--tag", help="Tag every datum from it gets (repeatable)."),
    settle: str = typer.Option("2s", "--settle", help="How long an item must stay unchanged (e.g. 2s, 1m)."),
    copy: bool = typer.Option(False, "--copy", help="Copy items and leave them in place instead of moving them."),
):
    """Watch a folder. knitd picks the change up without a restart."""
    tags = [str(t) for t in tagrules.parse_many(tag, where="--tag")]
    secs = parse_duration(settle, where="--settle") / 1000
    home = Home.resolve()
    path = str(path)
    why = check_watch_path(path, home, config_file=config_mod.config_path())
    if why:
        raise UsageError(f"refused to watch {path!r}: {why}; watch a folder of its own outside KNIT_HOME "
                        "(KNIT_HOME/inbox is watched already)")
    folder = Path(path).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: is not a directory; give a folder to watch")
    cfg = config_mod.load()
    rule = WatchRule(str(folder), tags, secs, "copy" if copy else "move")
    cfg.watch = [r for r in cfg.watch if Path(r.path).expanduser().absolute() != folder] + [rule]
    folder.mkdir(parents=True, exist_ok=True)
    config_mod.save(cfg)
    message(f"watching {folder} ({'copy' if copy else 'move'}, settle {secs:g}s" + (f", tags {' '.join(tags)}" if tags else "") + ")")


@app.command("rm")
def rm(path: str = typer.Argument(..., help="The folder to stop watching.")):
    """Stop watching a folder (its files stay where they are)."""
    path = str(path)
    if not path.strip():
        raise UsageError("an empty path names no folder; `knitctl watch ls` lists the watched folders")
    folder = Path(path).expanduser().absolute()
    cfg = config_mod.load()
    home = Home.resolve()
    if folder.resolve() == home.inbox.resolve() and not any(Path(r.path).expanduser().absolute() == folder for r in cfg.watch):
        cfg.inbox = False
        config_mod.save(cfg)
        message(f"stopped watching {folder} (the default inbox)")
        return
    kept = [r for r in cfg.watch if Path(r.path).expanduser().absolute() != folder]
    if len(kept) == len(cfg.watch):
        raise UsageError(f"{folder}: is not watched; `knitctl watch ls` lists the watched folders")
    cfg.watch = kept
    config_mod.save(cfg)
    message(f"stopped watching {folder}")
