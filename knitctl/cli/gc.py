"""`knitctl gc`: apply retention rules (knitctl.retention) — free data's bytes, keep their metadata."""

from __future__ import annotations

import typer

from ..errors import UsageError
from .common import OutputOpt, open_session
from .output import Format, emit, human_size, message


def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be dropped and the bytes freed; change nothing."),
    keep_newest: int | None = typer.Option(None, "--keep-newest", help="Keep the N newest data per tag set (with -t: among the data carrying those tags)."),
    older_than: str | None = typer.Option(None, "--older-than", help="Drop data committed longer ago than this (e.g. 30d)."),
    failed_older_than: str | None = typer.Option(None, "--failed-older-than", help="Drop failed runs' outputs older than this (e.g. 7d)."),
    tag: list[str] = typer.Option([], "-t", "--tag", help="With the rule flags: only data carrying this tag (repeatable)."),
    pin: str | None = typer.Option(None, "--pin", help="The tag that pins data (and what they came from) against gc; default keep:true or the config's retention.pin."),
    output: Format | None = OutputOpt,
):
    """Drop data by retention rules (the config's `retention:` or these flags): bytes freed, metadata and lineage kept.

    Never dropped: pinned data (keep:true) and everything upstream of them, inputs of runs not finished,
    data still processing. A gc killed half-way is finished by the next one.
    """
    from .. import config, retention, tags

    with_flags = [r for r in (
        retention.rule(retention.KEEP_NEWEST, keep_newest, tag, where="--keep-newest") if keep_newest is not None else None,
        retention.rule(retention.OLDER_THAN, older_than, tag, where="--older-than") if older_than is not None else None,
        retention.rule(retention.FAILED_OLDER_THAN, failed_older_than, tag, where="--failed-older-than") if failed_older_than is not None else None,
    ) if r is not None]
    if tag and not with_flags:
        raise UsageError("-t/--tag chooses the data a rule flag applies to; give --keep-newest, --older-than or --failed-older-than too")
    cfg = config.load()
    rules = retention.parse(cfg.retention)
    if with_flags:
        rules.rules = with_flags   # flags replace the file's rules (its pin stays unless --pin)
    if pin is not None:
        rules.pin = tags.parse_user(pin, where="--pin")
    if not rules.rules:
        raise UsageError("no retention rules: give --keep-newest N, --older-than DURATION or --failed-older-than DURATION, "
                         "or add retention.rules to the config file")
    with open_session() as s:
        report = retention.gc(s, rules, dry_run=dry_run)
    verb = "would drop" if dry_run else "dropped"
    message(f"{verb} {len(report.drops)} datum(s), {'freeing' if dry_run else 'freed'} {human_size(report.size)} "
            f"({report.size} bytes); pinned by {rules.pin}")
    emit([d.to_dict() for d in report.drops], output, [
        ("id", lambda d: d["knit_id"]),
        ("rule", lambda d: d["rule"] + (" (resumed)" if d.get("resumed") else "")),
        ("size", lambda d: human_size(d["size"])),
        ("tags", lambda d: d["tags"]),
    ])
