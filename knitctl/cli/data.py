"""`knitctl data`: push, find, show, pull, tag, lineage, compare."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import data as data_api
from ..errors import UsageError
from . import oneliners
from .common import OutputOpt, open_session, transfer_progress
from .compare import CompareFormat
from .graphs import GraphFormat, parse_depth, print_graph
from .output import Format, emit, human_size

app = typer.Typer(help="Data: immutable directories with key:value tags.", no_args_is_help=True)

COLUMNS = oneliners.DATA_COLUMNS


@app.command("push")
def push(
    dirs: list[Path] = typer.Argument(..., help="Directories (or files) to push; each becomes one datum."),
    tag: list[str] = typer.Option([], "-t", "--tag", help="Tag key:value to set (repeatable)."),
    name: bool = typer.Option(False, "-n", "--name", help="Also tag each datum name:<directory name>."),
    move: bool = typer.Option(False, "--move", help="Move instead of copy (same filesystem: a rename)."),
    output: Format | None = OutputOpt,
):
    """Commit directories as new data, tagged."""
    oneliners.data_push(dirs=dirs, tag=tag, name=name, move=move, output=output)


@app.command("find")
def find(
    tag: list[str] = typer.Option([], "-t", "--tag", help="Only data with this tag (repeatable; all must match)."),
    transient: str = typer.Option("no", "--transient", help="yes (or true): only unfinished or failed data; no (or false, the default): only committed; both."),
    since: str | None = typer.Option(None, "--since", help="Only data committed at or after this RFC 3339 time."),
    duration: str | None = typer.Option(None, "--duration", help="With --since: the window's length (e.g. 2h, 1d)."),
    output: Format | None = OutputOpt,
    marked: str = typer.Option("both", "--marked", help="yes: only data marked bad (knit#bad:ROOT tags); no: only unmarked; both (the default, marks shown as tags)."),
):
    """List data by tags."""
    oneliners.data_find(tag=tag, transient=transient, since=since, duration=duration, output=output, marked=marked)


@app.command("show")
def show(knit_id: str = typer.Argument(..., help="Datum id (a unique prefix is enough)."), output: Format | None = OutputOpt):
    """One datum: tags, upstream run, downstream runs, nominations."""
    with open_session() as s:
        d = data_api.show(s, knit_id).to_dict()
    if output in (Format.json, Format.yaml):
        emit([d], output, [], single=True)
        return
    rows = [
        ("id", d["knit_id"]),
        ("status", d["status"]),
        ("tags", "\n".join(d["tags"])),
        ("size", f'{human_size(d["size"])} in {d["file_count"]} files' if d["size"] is not None else ""),
        ("digest", d["digest"] or ""),
        ("upstream", f'run {d["upstream"]["run_id"]} of plan {d["upstream"]["plan_id"]} at {d["upstream"]["path"]}'),
    ]
    if d.get("source"):
        rows.append(("source", d["source"]))
    from .. import provenance

    rows += provenance.rows(d.get("provenance"))
    rows.append(("downstream", "\n".join(f'run {x["run_id"]} of plan {x["plan_id"]} at {x["path"]} ({x["status"]})' for x in d.get("downstream", [])) or "-"))
    rows.append(("nominated", "\n".join(f'plan {x["plan_id"]} input {x["path"]}' for x in d.get("nominations", [])) or "-"))
    if d.get("dropped"):
        x = d["dropped"]
        rows.append(("dropped", f'{x["state"]} at {x["dropped"]} by gc rule {x["rule"]} ({human_size(x["size"])} freed); '
                                 "files gone, metadata and lineage kept"))
    if d.get("marked_bad"):
        rows.append(("marked bad", "\n".join(
            f'{"itself" if m["root"] == d["knit_id"] else "from " + m["root"]}: {m["reason"]} ({m["marked"]})' for m in d["marked_bad"])))
    emit([{"field": k, "value": v} for k, v in rows], output, [("field", lambda r: r["field"]), ("value", lambda r: r["value"])])


@app.command("pull")
def pull(
    knit_id: str = typer.Argument(..., help="Datum id (a unique prefix is enough)."),
    dest: str = typer.Argument(".", help="Directory to write into, made when missing (default: the current one); - writes the .tar.gz to stdout."),
    extract: bool = typer.Option(False, "-x", "--extract", help="Write the files into DEST/<id>/ instead of DEST/<id>.tar.gz."),
):
    """Copy a datum out, verifying its digest."""
    import sys

    if dest == "-" and sys.stdout.isatty():
        raise UsageError("- writes a .tar.gz to stdout, which is a terminal here; redirect it (> datum.tar.gz) or give a directory")
    with open_session() as s:
        d = data_api.get(s, knit_id)
        with transfer_progress(d.size or 0, "pulling") as progress:
            out = data_api.pull(s, knit_id, dest, extract=extract, progress=progress, stream=sys.stdout.buffer)
    if out is not None:
        typer.echo(str(out))


@app.command("tag")
def tag_cmd(
    knit_id: str = typer.Argument(..., help="Datum id (a unique prefix is enough)."),
    add: list[str] = typer.Option([], "--add", help="Tag key:value to add (repeatable)."),
    remove: list[str] = typer.Option([], "--remove", help="Tag key:value to remove (repeatable)."),
    remove_key: list[str] = typer.Option([], "--remove-key", help="Remove every tag with this key (repeatable)."),
    output: Format | None = OutputOpt,
):
    """Change a datum's tags: removals first, then additions."""
    with open_session() as s:
        d = data_api.tag(s, knit_id, add=add, remove=remove, remove_keys=remove_key)
    emit([d.to_dict()], output, COLUMNS, single=output in (Format.json, Format.yaml))


@app.command("lineage")
def lineage(
    knit_id: str = typer.Argument(..., help="Datum id (a unique prefix is enough)."),
    upstream: bool = typer.Option(False, "-u", "--upstream", help="Only what it came from."),
    downstream: bool = typer.Option(False, "-d", "--downstream", help="Only what came of it."),
    numbers: str = typer.Option("3", "-n", "--numbers", help="How many runs deep to go, or 'all'."),
    output: GraphFormat = typer.Option(GraphFormat.tree, "-o", "--output", help="tree, dot, mermaid, json, or svg/png (drawn by Graphviz's dot)."),
):
    """The lineage graph around a datum."""
    from .. import lineage as lineage_api

    depth = parse_depth(numbers)
    both = not upstream and not downstream
    with open_session() as s:
        kid = data_api.resolve_id(s, knit_id)
        g = lineage_api.walk(s, "data", kid, up=upstream or both, down=downstream or both, depth=depth)
    print_graph(g.to_dict(), output)


@app.command("mark-bad")
def mark_bad(
    knit_id: str = typer.Argument(..., help="Datum id (a unique prefix is enough): the root of what is bad."),
    reason: str = typer.Option(..., "--reason", help="Why the data are bad (kept with the mark, shown by data show)."),
    output: Format | None = OutputOpt,
):
    """Mark a datum and everything derived from it bad: tagged knit#bad:ID, not nominated for new runs."""
    from .. import marks
    from .output import message

    with open_session() as s:
        r = marks.mark_bad(s, knit_id, reason)
    message(f"marked {r.root} and {len(r.data) - 1} datum(s) derived from it bad (knit#bad:{r.root})")
    if r.pending:
        message(f"{len(r.pending)} run(s) created before the mark take marked data and have not started: "
                f"{', '.join(r.pending[:5])}{' …' if len(r.pending) > 5 else ''}; `knitctl run abort RUN` if they should not run")
    emit([{"knit_id": k, "root": r.root} for k in r.data], output,
         [("id", lambda x: x["knit_id"]), ("mark", lambda x: f'knit#bad:{x["root"]}')])


@app.command("unmark")
def unmark(
    knit_id: str = typer.Argument(..., help="Root datum id given to mark-bad (a unique prefix is enough)."),
    output: Format | None = OutputOpt,
):
    """Remove a bad mark from its root and everything derived from it; they are nominated again (what already ran does not run again)."""
    from .. import marks
    from .output import message

    with open_session() as s:
        r = marks.unmark(s, knit_id)
    message(f"unmarked {r.root} and what derives from it ({len(r.data)} datum(s) clean again); "
            f"{len(r.new_runs)} new run(s)")
    emit([{"run_id": x} for x in r.new_runs], output, [("new run", lambda x: x["run_id"])])


_COMPARE_EXAMPLES = ("Examples:\n\n\b\n  knitctl data compare -t type:metrics --sort -accuracy\n"
                     "  knitctl data compare 9dba68b5 c41f0e2a -o csv > results.csv\n"
                     "  knitctl data compare -t project:demo -t type:metrics --files 'eval/*.json' -o json")


@app.command("compare", epilog=_COMPARE_EXAMPLES)
def compare(
    knit_ids: list[str] = typer.Argument(None, metavar="ID", help="Data ids to compare (unique prefixes are enough); or use -t."),
    tag: list[str] = typer.Option([], "-t", "--tag", help="Compare the committed data carrying this tag (repeatable; all must match)."),
    files: list[str] = typer.Option([], "--files", metavar="GLOB", help="Which files hold metrics and parameters (repeatable; default: *.json *.yaml *.yml *.csv at any depth)."),
    sort: str | None = typer.Option(None, "--sort", metavar="COLUMN", help="Order the rows by this column (-NAME: highest first)."),
    desc: bool = typer.Option(False, "--desc", help="With --sort: highest first."),
    output: CompareFormat | None = typer.Option(None, "-o", "--output", help="table, json or csv (default: table on a terminal, tab-separated when piped)"),
):
    """Compare data side by side: the inputs and parameters that vary upstream, then their metrics.

    Reads the JSON and YAML key-values (flattened: a.b) and one-row CSVs in each datum, and in the
    data upstream that differ between them (their tags too)."""
    from . import compare as compare_cli

    compare_cli.data_compare(knit_ids=knit_ids, tag=tag, files=files, sort=sort, desc=desc, output=output)
