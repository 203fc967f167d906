"""Making sure an image is on the Docker host: present, pulled, or built offline.

`python -m daemon.images IMAGE [--fallback python]` prints the image to use on
stdout: IMAGE when present or pullable, else the image the offline builder
(packaging/images/build.sh) makes. knitctl calls this rather than talk to
Docker itself.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound

BUILDER = Path(__file__).resolve().parents[1] / "knitctl" / "share" / "images" / "build.sh"  # shipped in the package
FALLBACKS = {"python": os.environ.get("KNIT_PYTHON_IMAGE", "knit/python:3.11"),
             "busybox": os.environ.get("KNIT_BUSYBOX_IMAGE", "knit/busybox:1")}


def say(msg: str) -> None:
    print(f"knit: {msg}", file=sys.stderr, flush=True)


def present(client, image: str) -> bool:
    try:
        client.images.get(image)
        return True
    except ImageNotFound:
        return False


def ensure(image: str, fallback: str | None) -> str:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as e:
        raise SystemExit(f"knit: can't reach Docker: {e}; start dockerd (`knitctl doctor` checks it)") from None
    if present(client, image):
        return image
    say(f"pulling {image} ...")
    try:
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        client.images.pull(repo, tag=tag)
        return image
    except (APIError, DockerException) as e:
        reason = str(getattr(e, "explanation", None) or e).splitlines()[0]
        if not fallback:
            raise SystemExit(f"knit: image {image} is not here and can't be pulled ({reason})") from None
        say(f"{image} can't be pulled (no image registry reachable? {reason[:120]})")
    target = FALLBACKS.get(fallback, fallback)
    if present(client, target):
        say(f"using the offline image {target}")
        return target
    if not BUILDER.exists():
        raise SystemExit(f"knit: the offline image builder is missing ({BUILDER}); reinstall knit")
    say(f"building {target} offline with {BUILDER} (a few minutes, once)")
    kind = next((k for k, v in FALLBACKS.items() if v == target), fallback)
    r = subprocess.run(["bash", str(BUILDER), kind], stdout=sys.stderr)
    if r.returncode != 0 or not present(client, target):
        raise SystemExit(f"knit: building {target} failed; see the messages above")
    return target


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m daemon.images")
    p.add_argument("image")
    p.add_argument("--fallback", help="python, busybox, or an image name to build/use when IMAGE can't be had")
    a = p.parse_args(argv)
    print(ensure(a.image, a.fallback))


if __name__ == "__main__":
    main()
