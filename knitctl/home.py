"""KNIT_HOME: where the catalog and the store live (DESIGN §6)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_root() -> Path:
    env = os.environ.get("KNIT_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "knit"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike | None = None) -> "Home":
        return cls(Path(root).expanduser().absolute() if root else default_root().absolute())

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.db"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def trash(self) -> Path:
        return self.root / "trash"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def runs(self) -> Path:
        """Outputs of runs in progress: runs/<run id>/<output knit id>/."""
        return self.root / "runs"

    @property
    def daemon_log(self) -> Path:
        return self.root / "knitd.log"

    @property
    def daemon_pid(self) -> Path:
        return self.root / "knitd.pid"

    def run_log(self, run_id: str) -> Path:
        return self.logs / f"{run_id}.log"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def ensure(self) -> None:
        """Create the layout, private to the user (0700).

        Modes are set with chmod, never through the umask: the umask is the whole process's,
        and changing it here would race with any other thread creating files.
        """
        self.root.parent.mkdir(parents=True, exist_ok=True)
        for d in (self.root, self.data, self.staging, self.trash, self.logs, self.runs, self.inbox):
            d.mkdir(mode=0o700, exist_ok=True)
            os.chmod(d, 0o700)
