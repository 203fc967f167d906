"""`knitctl up | down | status`: the daemon."""

from __future__ import annotations

import typer

from .. import knitd
from ..controlchars import escape
from ..home import Home
from . import oneliners
from .common import open_session
from .output import Format, emit, message


def up(
    parallelism: int | None = typer.Option(None, "--parallelism", help="How many runs at once."),
    gpus: int | None = typer.Option(None, "--gpus", help="GPUs to share between runs (default: detected)."),
    metadata_port: int | None = typer.Option(
        None, "--metadata-port", metavar="PORT",
        help="Also serve ML Metadata's gRPC service over the catalog on 127.0.0.1:PORT (0: a free port)."),
):
    """Start knitd in the background (through its systemd user unit when installed)."""
    from .. import health

    home = Home.resolve()
    home.ensure()
    args: list[str] = []
    if parallelism:
        args += ["--parallelism", str(parallelism)]
    if gpus is not None:
        args += ["--gpus", str(gpus)]
    if metadata_port is not None:
        if not 0 <= metadata_port <= 65535:
            from ..errors import UsageError

            raise UsageError(f"--metadata-port {metadata_port} is not a port number (0-65535; 0 picks a free one)")
        args += ["--metadata-port", str(metadata_port)]
    was = knitd.running_pid(home)
    pid = knitd.start(home, args)
    message(f"knitd is {'already ' if was else ''}running (pid {pid}); log: {home.daemon_log}")
    port = health.metadata_port(home, pid)
    if port:
        message(f"ML Metadata's gRPC service: 127.0.0.1:{port} (MetadataStoreClientConfig(host='127.0.0.1', port={port}))")
    elif metadata_port is not None and was:
        message("knitd was running already, without --metadata-port: `knitctl down` first, or use `knitctl metadata serve`")


def down():
    """Stop knitd. Running tasks keep running; the next knitd re-attaches to them."""
    home = Home.resolve()
    pid = knitd.stop(home)
    message(f"knitd (pid {pid}) stopped" if pid else "knitd is not running")


def status(output: Format | None = typer.Option(None, "-o", "--output", help="table, json or yaml.")):
    """knitd's state: pid, context, runs by status."""
    oneliners.status(output=output)


def quickstart():
    """Run the example pipeline (prepare → train → evaluate on iris) and show its lineage."""
    import sys

    from .. import quickstart as qs

    with open_session() as s:
        result = qs.run(s, message)
    sys.stdout.write(f"\nmetrics ({result['metrics_id']}):\n{result['metrics']}\n\nlineage:\n{result['tree']}\n")
    message(
        "explore further:\n"
        f"  {'knitctl tui':<44}# browse runs, logs and lineage\n"
        f"  {'knitctl run find':<44}# the runs\n"
        f"  {'knitctl run log RUN_ID':<44}# a run's log\n"
        f"  {'knitctl data lineage ' + result['metrics_id'] + ' -o dot':<44}# the lineage as Graphviz"
    )


def doctor(
    digests: bool = typer.Option(False, "--digests", help="Also re-hash every datum in the store (slow)."),
    context: str | None = typer.Option(None, "--context", help="Check only this Kubernetes context: reachable, permissions, GPUs."),
    output: Format | None = typer.Option(None, "-o", "--output", help="table, json or yaml."),
    repair: bool = typer.Option(False, "--repair", help="Rebuild a damaged or unpaired catalog from what can be read "
                                "(the old file is kept aside; store data are never deleted). Stop knitd first."),
):
    """Check Docker, GPUs, disk, the catalog, knitd and each context; say how to fix what's wrong."""
    from .. import doctor as doctor_api

    if repair:
        from ..catalog import repair as repair_api

        for line in repair_api.repair(Home.resolve()).lines():
            message(line)
        return
    results = doctor_api.run(Home.resolve(), digests=digests, context=context)
    if output in (Format.json, Format.yaml):
        emit(results, output, [])
    else:
        for r in results:
            mark = "ok " if r["ok"] else "FAIL"
            line = f"{mark} {r['check']}: {r['detail']}"
            print(escape(line, keep_lines=True))
            if not r["ok"]:
                print(escape(f"     fix: {r['fix']}", keep_lines=True))
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)
