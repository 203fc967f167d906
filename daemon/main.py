"""`knitd`: the daemon's entry point (foreground; `knitctl up` backgrounds it)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from knitctl.errors import KnitError
from knitctl.home import Home
from knitctl.knitd import PidLock

from .executors.base import ExecutorError


def detect_gpus() -> int | None:
    """Number of NVIDIA GPUs, or None when unknown (no nvidia-smi: Docker decides)."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="knitd", description="Execute the runs in the knit catalog.")
    p.add_argument("--home", help="KNIT_HOME (default: $KNIT_HOME or $XDG_DATA_HOME/knit)")
    p.add_argument("--parallelism", type=int, default=int(os.environ.get("KNIT_PARALLELISM", os.cpu_count() or 2)),
                   help="how many runs at once (default: $KNIT_PARALLELISM or the number of CPUs)")
    p.add_argument("--gpus", type=int, default=None, help="GPUs to share between runs (default: detected)")
    p.add_argument("--metadata-port", type=int, default=None, metavar="PORT",
                   help="also serve ML Metadata's gRPC service over the knit catalog on 127.0.0.1:PORT (0: a free "
                        "port); for another address, TLS or a token use `knitctl metadata serve`")
    return p.parse_args(argv)


METADATA_COMPONENT = "metadata server"


def start_metadata_server(home: Home, port: int):
    """ML Metadata's gRPC service over this home's catalog, on loopback only (knitd takes no TLS settings)."""
    from knitctl.metadata import metadata_store
    from knitctl.metadata import server as md

    stores = md.Stores(lambda: metadata_store.knit_catalog(home.root), shared=False)
    server = md.MetadataServer(stores, md.Settings(host="127.0.0.1", port=port))
    try:
        server.start()
    except BaseException:
        stores.close()
        raise
    return server


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    home = Home.resolve(args.home)
    home.ensure()
    os.close(os.open(home.daemon_log, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW, 0o600))
    os.chmod(home.daemon_log, 0o600)  # private from its first byte, and kept so if it was made before
    logging.basicConfig(
        filename=str(home.daemon_log),
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    from knitctl.controlchars import log_formatter

    for handler in logging.getLogger().handlers:  # names from a watched folder or a plan can't inject into the log
        handler.setFormatter(log_formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    log = logging.getLogger("knitd")
    try:
        if home.make_private():
            log.info("made files under %s private to the user (0600, folders 0700)", home.root)
    except OSError as e:
        log.warning("could not make everything under %s private: %s", home.root, e)
    lock = PidLock(home)
    try:
        lock.acquire()
        from knitctl.session import Session

        with Session.open(home, reclaim=False):  # a catalog that is not this store's is refused before Docker is asked
            pass
        from .executors import make_executor
        from .loop import Daemon

        executor = make_executor({"name": "local", "kind": "docker"}, str(home.root))
        gpus = args.gpus if args.gpus is not None else detect_gpus()
        daemon = Daemon(home, executor, parallelism=args.parallelism, gpus=gpus)
        metadata = start_metadata_server(home, args.metadata_port) if args.metadata_port is not None else None
    except (KnitError, ExecutorError) as e:
        msg = e.message if isinstance(e, KnitError) else str(e)
        log.error("%s", msg)
        print(f"knitd: error: {msg}", file=sys.stderr)
        sys.exit(1)
    signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
    signal.signal(signal.SIGINT, lambda *_: daemon.shutdown())
    log.info("knitd %d started: home %s, parallelism %d, gpus %s", os.getpid(), home.root, daemon.parallelism, gpus)
    if metadata is not None:
        log.info("serving ML Metadata's gRPC service over the catalog on 127.0.0.1:%d", metadata.port)
        daemon.health.beat(METADATA_COMPONENT, "ok", f"serving on 127.0.0.1:{metadata.port}", port=metadata.port)
    try:
        daemon.serve()
    except Exception as e:  # noqa: BLE001 — the run loop itself died: say so loudly, exit non-zero
        log.exception("knitd %d: the run loop died (%s); exiting", os.getpid(), type(e).__name__)
        print(f"knitd: error: the run loop died ({type(e).__name__}: {e}); see {home.daemon_log}", file=sys.stderr)
        sys.exit(1)
    finally:
        if metadata is not None:
            metadata.stop(grace=5.0)
            log.info("metadata server stopped")
        log.info("knitd %d stopping; running tasks keep running", os.getpid())
        lock.release()
