"""KNIT_HOME: where the catalog and the store live (docs/ARCHITECTURE.md#storage)."""

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
    def resolve(cls, root: str | os.PathLike | None = None) -> Home:
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

    def make_private(self) -> int:
        """Tighten what an older knit (or a umask) left readable by others: the top-level files and
        logs/ to 0600, KNIT_HOME's own folders to 0700. Links are never followed. Returns how many changed."""
        changed = 0
        for folder, file_mode in ((self.root, 0o600), (self.logs, 0o600)):
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            for e in entries:
                if e.is_symlink():
                    continue
                want = 0o700 if e.is_dir() else file_mode
                if folder == self.root and e.is_dir() and e.name not in _OWN_DIRS:
                    continue  # lost+found/ and the like: the store's own modes are its business
                mode = e.stat(follow_symlinks=False).st_mode & 0o7777
                if mode != want and (e.is_dir() or e.is_file()):
                    os.chmod(e.path, want)
                    changed += 1
        return changed


_OWN_DIRS = ("data", "staging", "trash", "logs", "runs", "inbox")

