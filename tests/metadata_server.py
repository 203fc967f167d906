"""Start `knitctl metadata serve` as a real process for tests: `Served(proc, port)`, stopped by SIGTERM.

The server prints one line when it listens ("serving ... on HOST:PORT ..."); `start` waits for
that line (or the process's exit) by reading its stderr, so tests never sleep for it.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

KNITCTL = [sys.executable, "-c", "from knitctl.cli.main import run; run()"]
_LISTENING = re.compile(r"serving ml_metadata\.MetadataStoreService on (\S+):(\d+) ")


@dataclass
class Served:
    proc: subprocess.Popen
    port: int
    lines: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 60) -> str:
        """SIGTERM, wait, and the server's whole stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return "".join(self.lines) + (err or "")


def env_for(home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if home is not None:
        env["KNIT_HOME"] = str(home)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


def start(*args: str, home: Path | None = None, timeout: float = 60) -> Served:
    proc = subprocess.Popen([*KNITCTL, "metadata", "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env_for(home))
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], deadline - time.monotonic())
        if not ready:
            break
        line = proc.stderr.readline()
        if not line:  # the server exited
            out, err = proc.communicate()
            raise AssertionError(f"the server exited ({proc.returncode}) before listening:\n{''.join(lines)}{err}")
        lines.append(line)
        found = _LISTENING.search(line)
        if found:
            return Served(proc, int(found.group(2)), lines)
    proc.kill()
    raise AssertionError(f"the server did not listen within {timeout}s:\n{''.join(lines)}")


def run_cli(*args: str, home: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*KNITCTL, "metadata", "serve", *args], capture_output=True, text=True,
                          env=env_for(home), timeout=timeout)
