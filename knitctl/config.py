"""The user's config file: contexts and watch rules (docs/ARCHITECTURE.md#watched-folders, #contexts).

`$KNIT_CONFIG`, else `$XDG_CONFIG_HOME/knit/config.yaml` (default
`~/.config/knit/config.yaml`). Written atomically (temp file + rename), so
a reader never sees half a file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

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
    hooks: list = field(default_factory=list)   # knitctl.hooks.Hook, in the file's order
    retention: dict | None = None       # the `retention:` section as written (checked by knitctl.retention.parse)

    def to_dict(self) -> dict:
        d: dict = {"current-context": self.current_context, "contexts": self.contexts}
        if self.watch:
            d["watch"] = [w.to_dict() for w in self.watch]
        if self.hooks:
            d["hooks"] = [h.to_dict() for h in self.hooks]
        if not self.inbox:
            d["inbox"] = False
        if self.retention is not None:
            d["retention"] = self.retention
        return d


MAX_CONFIG_BYTES = 1 << 20
MODES = ("move", "copy")


def load(path: Path | None = None) -> Config:
    """The config file, validated field by field: a bad value is one UsageError naming the file and the field."""
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return Config(contexts={LOCAL: {"kind": "docker"}})
    except OSError as e:
        raise UsageError(f"{path}: can't be read ({e.strerror}); fix its permissions or remove it") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB, not a knit config; fix or remove the file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte {e.start}); fix or remove the file") from None
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML ({getattr(e, 'problem', None) or e}); fix or remove the file") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be a knit config; fix or remove the file") from None
    return parse(doc, path)


def _fail(path, field_name: str, what: str) -> NoReturn:
    raise UsageError(f"{path}: {field_name}: {what}; fix the value or remove the file")


def parse(doc, path) -> Config:
    """A loaded YAML document as a Config (pure; `path` only names the file in errors)."""
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: must be a mapping (current-context, contexts, watch); fix or remove the file")
    contexts = doc.get("contexts") or {}
    if not isinstance(contexts, dict):
        _fail(path, "contexts", "must be a mapping of name → settings")
    for name, settings in contexts.items():
        if not isinstance(name, str) or not isinstance(settings, dict):
            _fail(path, f"contexts.{name}", "must be a mapping of settings (kind, kubeconfig, …)")
    contexts.setdefault(LOCAL, {"kind": "docker"})
    watch = doc.get("watch") or []
    if not isinstance(watch, list):
        _fail(path, "watch", f"must be a list of rules (path, tags, settle, mode), not {type(watch).__name__}")
    rules = [_rule(path, i, w) for i, w in enumerate(watch)]
    current = doc.get("current-context") or LOCAL
    if not isinstance(current, str):
        _fail(path, "current-context", "must be a context's name")
    inbox_on = doc.get("inbox", True)
    if not isinstance(inbox_on, bool):
        _fail(path, "inbox", "must be true or false")
    retention = doc.get("retention")
    if retention is not None:
        from . import retention as retention_rules

        try:
            retention_rules.parse(retention)
        except UsageError as e:
            raise UsageError(f"{path}: {e.message}; fix the value or remove the file") from None
    return Config(current_context=current, contexts=contexts, watch=rules, inbox=inbox_on, hooks=_hooks(path, doc),
                  retention=retention)


def _hooks(path, doc: dict) -> list:
    if doc.get("hooks") is None:
        return []
    from . import hooks
    from .runstate import STATUSES

    try:
        return hooks.parse(doc["hooks"], STATUSES)
    except hooks.HookConfigError as e:
        _fail(path, e.field, e.what)


def _rule(path, i: int, w) -> WatchRule:
    where = f"watch[{i}]"
    if not isinstance(w, dict) or "path" not in w:
        _fail(path, where, "needs at least `path`")
    if not isinstance(w["path"], str):
        _fail(path, f"{where}.path", "must be a folder's path")
    tags = w.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, (str, int, float)) and not isinstance(t, bool) for t in tags):
        _fail(path, f"{where}.tags", "must be a list of KEY:VALUE tags")
    settle = w.get("settle", DEFAULT_SETTLE)
    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or not math.isfinite(settle) or not 0 <= settle <= 86400:
        _fail(path, f"{where}.settle", f"must be a number of seconds from 0 to 86400, not {settle!r}")
    mode = w.get("mode", "move")
    if mode not in MODES:
        _fail(path, f"{where}.mode", f"must be move or copy, not {mode!r}")
    return WatchRule(path=w["path"], tags=[str(t) for t in tags], settle=float(settle), mode=mode)


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
