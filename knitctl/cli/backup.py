"""`knitctl backup DEST` and `knitctl restore SRC` (the library: knitctl/backup.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import backup as backup_api
from ..home import Home
from .common import OutputOpt
from .output import Format, emit, human_size, message
from .progress import transfer_progress

CopyOpt = typer.Option(False, "--copy", help="Copy the store's files even where hard links would do "
                       "(on the same filesystem they are hard-linked: committed data never change).")


HOW = {"hardlink": "hard-linked", "copy": "copied",
       "hardlink+copy": "hard-linked where the filesystem allowed it, else copied"}


def _examples(*lines: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def backup(
    dest: Path = typer.Argument(..., help="Where to write it: a new path, or an empty directory, outside KNIT_HOME."),
    copy: bool = CopyOpt,
    output: Format | None = OutputOpt,
):
    """Back up KNIT_HOME while knitd runs and pushes go on: a consistent copy of the catalog, the data it
    knows, the logs of finished runs and the config file. DEST appears only once it is complete."""
    with backup_api.Backup(Home.resolve(), dest, copy=copy) as job:
        with transfer_progress(job.total, "backing up") as progress:
            report = job.run(progress)
    c = report.copied
    message(f"backed up {report.source} to {report.dest}: {c.data} data ({c.files} files, {human_size(c.bytes)}, "
            f"{HOW[c.method]}), {report.catalog['runs']} runs, "
            f"{report.catalog['plans']} plans, {c.logs} logs")
    _show(report, output)


def restore(
    src: Path = typer.Argument(..., help="A directory written by `knitctl backup`."),
    copy: bool = CopyOpt,
    output: Format | None = OutputOpt,
):
    """Restore a backup into KNIT_HOME, which must be new or empty; KNIT_HOME appears only once it is complete.
    Runs that were in progress when the backup was taken are failed (`knitctl run retry` runs them again)."""
    home = Home.resolve()
    job = backup_api.Restore(src, home, copy=copy)
    with transfer_progress(job.total, "restoring") as progress:
        report = job.run(progress)
    c = report.copied
    message(f"restored {report.source} into {report.dest}: {c.data} data ({c.files} files, {human_size(c.bytes)}, "
            f"{HOW[c.method]}), {report.catalog['runs']} runs, "
            f"{report.catalog['plans']} plans, {c.logs} logs; config: {report.config}")
    if report.failed_runs:
        shown = ", ".join(report.failed_runs[:5]) + (", ..." if len(report.failed_runs) > 5 else "")
        message(f"{len(report.failed_runs)} run(s) in progress when the backup was taken are failed: {shown}; "
                "`knitctl run retry RUN_ID` runs one again")
    message("check it: knitctl doctor --digests")
    _show(report, output)


def _show(report: backup_api.Report, output: Format | None) -> None:
    doc = report.to_dict()
    if output in (Format.json, Format.yaml):
        emit([doc], output, [], single=True)
        return
    d = doc["data"]
    rows = [
        ("source", doc["source"]), ("dest", doc["dest"]), ("store id", doc["store_id"]),
        ("catalog", f"schema {doc['schema']}: {doc['catalog']['data']} data, {doc['catalog']['runs']} runs, "
                    f"{doc['catalog']['plans']} plans"),
        ("data", f"{d['directories']} directories, {d['files']} files, {human_size(d['bytes'])} ({d['method']})"),
        ("logs", str(doc["logs"])), ("config", doc["config"]),
    ]
    if report.action == "backup":
        rows.append(("catalog copies", str(doc["catalog_copies"])))
    else:
        rows.append(("failed runs", " ".join(doc["failed_runs"]) or "none"))
    rows.append(("seconds", f"{doc['seconds']:.2f}"))
    emit([{"k": k, "v": v} for k, v in rows], output, [("field", lambda r: r["k"]), ("value", lambda r: r["v"])])


def register(app: typer.Typer) -> None:
    """Add `backup` and `restore` to the root app."""
    app.command("backup", epilog=_examples("knitctl backup /mnt/backups/knit-$(date +%F)",
                                           "knitctl backup /mnt/usb/knit --copy -o json"))(backup)
    app.command("restore", epilog=_examples("KNIT_HOME=~/knit-restored knitctl restore /mnt/backups/knit-2026-11-29",
                                            "knitctl restore /mnt/usb/knit --copy"))(restore)
