"""Before hooks' cost on a run's start: push → container running with a before hook against none.

A before hook is called as a run leaves `ready`, between knitd claiming it and starting its container,
so its whole round trip is added to the run's start. This measures by how much, on an idle knitd with
a no-op plan (bench_runs' setup): `--runs` samples (default 20) of each of

- no hook (the reference, measured interleaved with the others),
- an HTTP hook: a local server (http.server in a thread) answering `{"env": {...}}`,
- a command hook: a shell script reading the run JSON and printing the same answer;

each from the push's start to Docker's `start` event of the run's container, and knitd's own share
(the run's `ready` → `starting` in its history, where the hooks are called). Also the bare round trip
of each hook called in this process (`knitctl.hooks.call`), 100 times. The bar: a hook adds its own
round trip and nothing more (ready → starting with a hook within a few ms of the hook's round trip).

knitd runs on a fresh KNIT_HOME under benchmarks/.work/hooks with its own config file (KNIT_CONFIG),
rewritten between samples (knitd re-reads it when it changes). Needs dockerd and knit/busybox:1.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from .bench_ingest import force_rmtree
from .bench_runs import WORK, Knit, StartEvents, knit_start, pct

ANSWER = json.dumps({"env": {"BENCH_TOKEN": "t" * 40}}).encode()


def log(text: str) -> None:
    print(f"  hooks: {text}", file=sys.stderr, flush=True)


class Server:
    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", str(len(ANSWER)))
                self.end_headers()
                self.wfile.write(ANSWER)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/gate"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def command(work: Path) -> str:
    path = work / "gate.sh"
    path.write_text("#!/bin/sh\ncat > /dev/null\necho '" + ANSWER.decode() + "'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def write_config(path: Path, hooks: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"hooks": hooks} if hooks else {}))
    os.replace(tmp, path)


def hook_share_ms(knit: Knit) -> float:
    """The last run's ready → starting, in ms (where the before hooks are called)."""
    (run_id,) = knit.query("SELECT run_id FROM run WHERE plan_id = ? ORDER BY created_ms DESC LIMIT 1", (knit.plan_id,))[0]
    at = dict(knit.query("SELECT status, min(at_ms) FROM run_history WHERE run_id = ? GROUP BY status", (run_id,)))
    return at["starting"] - at["ready"]


def round_trips(hooks: dict[str, list[dict]], n: int) -> dict[str, float]:
    """Median ms of calling each hook in this process."""
    from knitctl import hooks as rules
    from knitctl import runstate

    out = {}
    doc = rules.sample_document()
    for name, entries in hooks.items():
        if not entries:
            continue
        (h,) = rules.parse(entries, runstate.STATUSES)
        payload = rules.envelope(h, doc, old="ready", new="starting", delivery=None)
        times = []
        for _ in range(n):
            r = rules.call(h, payload)
            assert r.ok, r
            times.append(r.seconds * 1000)
        out[name] = pct(times, 50)
    return out


def run(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks hooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="samples of each kind (default 20)")
    parser.add_argument("--image", default=os.environ.get("KNIT_BUSYBOX_IMAGE", "knit/busybox:1"),
                        help="image with `true` (default knit/busybox:1)")
    args, _ = parser.parse_known_args(argv)

    import docker

    client = docker.from_env()
    client.images.get(args.image)
    work = WORK / "hooks"
    force_rmtree(work)
    work.mkdir(parents=True)
    config = work / "config.yaml"
    write_config(config, [])
    saved = {k: os.environ.get(k) for k in ("KNIT_HOME", "KNIT_CONFIG")}
    os.environ["KNIT_CONFIG"] = str(config)
    server = Server()
    kinds = {
        "none": [],
        "http": [{"name": "gate", "when": "before", "url": server.url, "timeout": 5}],
        "command": [{"name": "gate", "when": "before", "command": [command(work)], "timeout": 5}],
    }
    events = StartEvents(client)
    knit = Knit(work / "home", args.image, 2)
    start: dict[str, list[float]] = {k: [] for k in kinds}
    share: dict[str, list[float]] = {k: [] for k in kinds}
    try:
        for hooks in kinds.values():  # one of each first, to warm up
            write_config(config, hooks)
            knit_start(knit, events, cli=False)
        for i in range(args.runs):
            for kind, hooks in kinds.items():
                write_config(config, hooks)
                total, _, _ = knit_start(knit, events, cli=False)
                start[kind].append(total * 1000)
                share[kind].append(hook_share_ms(knit))
            log(f"{i + 1}/{args.runs}: " + ", ".join(f"{k} {start[k][-1]:.0f} ms" for k in kinds))
        trips = round_trips(kinds, 100)
    finally:
        knit.close(client)
        events.close()
        server.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        force_rmtree(work)
    ref50, ref95 = pct(start["none"], 50), pct(start["none"], 95)
    lines = [f"hooks: push → container running without a hook: p50 {ref50:.0f} ms, p95 {ref95:.0f} ms; "
             f"knitd's ready → starting p50 {pct(share['none'], 50):.1f} ms"]
    for kind in ("http", "command"):
        lines.append(
            f"hooks: with a {kind} before hook: p50 {pct(start[kind], 50):.0f} ms ({pct(start[kind], 50) - ref50:+.0f} ms), "
            f"p95 {pct(start[kind], 95):.0f} ms ({pct(start[kind], 95) - ref95:+.0f} ms); ready → starting p50 "
            f"{pct(share[kind], 50):.1f} ms; the hook's own round trip p50 {trips[kind]:.1f} ms")
    return lines
