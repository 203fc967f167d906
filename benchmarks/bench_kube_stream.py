"""Kubernetes exec streams: input staging and output collection against the fake API server.

Bytes per second of staging an input into a pod and of collecting an output back, both
as tar over the exec WebSocket (the v5 channel protocol), for a 100 MiB input. The server is
tests/kube_fake.py, which runs pods as Docker containers and each exec as `docker exec -i`, so the
reference is that same `docker exec -i … tar` pipe without the API server and WebSocket in between:
the ratio is what the exec stream (client framing, the server's relay) costs.

The input is one directory: half in one large file, half in 256 KiB files, random bytes
(incompressible). Best of `--rounds`. Needs dockerd and the test images (packaging/images/build.sh).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1 << 20
REPO = Path(__file__).resolve().parent.parent
BUSYBOX = os.environ.get("KNIT_BUSYBOX_IMAGE", "knit/busybox:1")


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": MiB, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def _make_input(root: Path, size: int) -> None:
    root.mkdir(parents=True)
    big = size // 2
    with open(root / "big.bin", "wb") as f:
        for _ in range(big // MiB):
            f.write(os.urandom(MiB))
    small = root / "small"
    small.mkdir()
    left, i = size - big, 0
    while left > 0:
        n = min(256 << 10, left)
        (small / f"{i:05d}.bin").write_bytes(os.urandom(n))
        left -= n
        i += 1


def run(argv: list[str]) -> list[str]:
    p = argparse.ArgumentParser(prog="python -m benchmarks kube_stream", description=__doc__.splitlines()[0])
    p.add_argument("--size", default="100M", help="input size (default 100M)")
    p.add_argument("--rounds", type=int, default=3)
    args, _ = p.parse_known_args(argv)
    size = _size(args.size)

    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    import docker

    from daemon.executors.base import Job
    from daemon.executors.kubernetes import KEEPER, OUT_ROOT, KubernetesExecutor

    from kube_fake import FakeKube

    client = docker.from_env()
    fk = FakeKube(client, images={"busybox:1.36": BUSYBOX}, pause_image=BUSYBOX).start()
    work = Path(tempfile.mkdtemp(prefix="knit-bench-kube-"))
    try:
        src = work / "input"
        print(f"kube_stream: making a {size // MiB} MiB input", file=sys.stderr)
        _make_input(src, size)
        tiny = work / "tiny"
        tiny.mkdir()
        (tiny / "x").write_text("x")
        out = work / "out"
        out.mkdir()
        kc = fk.write_kubeconfig(work / "kubeconfig")
        ex = KubernetesExecutor({"name": "bench", "kubeconfig": str(kc), "namespace": "knit"}, home_label=str(work))
        job = Job(run_id="bench0", plan_id="bench", image=BUSYBOX, entrypoint=None, args=("sleep", "3600"), env={},
                  inputs=(("/in", tiny),), outputs=(("/out", out),))
        h = ex.start(job, lambda b: None)
        ex._await_keeper(h.ref)
        keeper = fk.pod(h.ref).containers[KEEPER]
        dest = f"{OUT_ROOT}/0"
        staged, collected, piped_in, piped_out = [], [], [], []
        for r in range(args.rounds):
            subprocess.run(["docker", "exec", keeper, "sh", "-c", f"rm -rf {dest}/*"], check=True)
            t = time.perf_counter()
            ex.put_dir(h.ref, KEEPER, src, dest)
            staged.append(time.perf_counter() - t)
            back = work / f"back-{r}"
            t = time.perf_counter()
            ex.get_dir(h.ref, KEEPER, dest, back)
            collected.append(time.perf_counter() - t)
            assert (back / "big.bin").stat().st_size == (src / "big.bin").stat().st_size
            shutil.rmtree(back)

            subprocess.run(["docker", "exec", keeper, "sh", "-c", f"rm -rf {dest}/*"], check=True)
            t = time.perf_counter()
            subprocess.run(f"tar -c -f - -C {src} . | docker exec -i {keeper} tar -x -f - -C {dest}",
                           shell=True, check=True)
            piped_in.append(time.perf_counter() - t)
            back.mkdir()
            t = time.perf_counter()
            subprocess.run(f"docker exec {keeper} tar -c -f - -C {dest} . | tar -x -f - -C {back}",
                           shell=True, check=True)
            piped_out.append(time.perf_counter() - t)
            shutil.rmtree(back)
            print(f"kube_stream: round {r + 1}: in {staged[-1]:.2f}s, out {collected[-1]:.2f}s "
                  f"(docker exec pipe: in {piped_in[-1]:.2f}s, out {piped_out[-1]:.2f}s)", file=sys.stderr)
        ex.kill(h)
        mb = size / MiB
        return [
            f"kube_stream: staging {mb:.0f} MiB in: {mb / min(staged):.0f} MiB/s through the exec stream, "
            f"{min(piped_in) / min(staged):.2f}x the plain `docker exec -i` tar pipe ({mb / min(piped_in):.0f} MiB/s)",
            f"kube_stream: collecting {mb:.0f} MiB back: {mb / min(collected):.0f} MiB/s through the exec stream, "
            f"{min(piped_out) / min(collected):.2f}x the plain `docker exec` tar pipe ({mb / min(piped_out):.0f} MiB/s)",
        ]
    finally:
        fk.stop()
        shutil.rmtree(work, ignore_errors=True)
