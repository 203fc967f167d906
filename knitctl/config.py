"""The user's config file: contexts and watch rules (DESIGN §8, §12).

`$KNIT_CONFIG`, else `$XDG_CONFIG_HOME/knit/config.yaml` (default
`~/.config/knit/config.yaml`). Written atomically (temp file + rename), so
a reader never sees half a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import UsageError

LOCAL = "local"
DEFAULT_SETTLE = 2.0


def config_path() -> Path:
    env = os.environ.get("KNIT_CONFIG")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "knit" / "config.yaml"


@dataclass
class WatchRule:
    path: str
    tags: list[str] = field(default_factory=list)
    settle: float = DEFAULT_SETTLE      # seconds without size/mtime change
    mode: str = "move"                  # move | copy

    def to_dict(self) -> dict:
        return {"path": self.path, "tags": list(self.tags), "settle": self.settle, "mode": self.mode}


@dataclass
class Config:
    current_context: str = LOCAL
    contexts: dict[str, dict] = field(default_factory=dict)
    watch: list[WatchRule] = field(default_factory=list)
    inbox: bool = True                  # watch KNIT_HOME/inbox

    def to_dict(self) -> dict:
        d: dict = {"current-context": self.current_context, "contexts": self.contexts}
        if self.watch:
            d["watch"] = [w.to_dict() for w in self.watch]
        if not self.inbox:
            d["inbox"] = False
        return d


def load(path: Path | None = None) -> Config:
    path = path or config_path()
    if not path.exists():
        return Config(contexts={LOCAL: {"kind": "docker"}})
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML ({getattr(e, 'problem', e)}); fix or remove the file") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: must be a mapping (current-context, contexts, watch)")
    contexts = doc.get("contexts") or {}
    if not isinstance(contexts, dict):
        raise UsageError(f"{path}: contexts: must be a mapping of name → settings")
    contexts.setdefault(LOCAL, {"kind": "docker"})
    rules = []
    for i, w in enumerate(doc.get("watch") or []):
        if not isinstance(w, dict) or "path" not in w:
            raise UsageError(f"{path}: watch[{i}]: needs at least `path`")
        rules.append(WatchRule(
            path=str(w["path"]), tags=[str(t) for t in w.get("tags") or []],
            settle=float(w.get("settle", DEFAULT_SETTLE)), mode=str(w.get("mode", "move")),
        ))
    return Config(
        current_context=str(doc.get("current-context") or LOCAL),
        contexts=contexts,
        watch=rules,
        inbox=bool(doc.get("inbox", True)),
    )


def save(cfg: Config, path: Path | None = None) -> None:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(cfg.to_dict(), f, sort_keys=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
