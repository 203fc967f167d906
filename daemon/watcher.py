"""knitd's watched folders: notice drops, wait until they settle, ingest them.

The folders are scanned at start (drops made while knitd was down count) and
again whenever watchfiles reports a change, or at least every half second
while something is settling. The config file is re-read when it changes, so
`knitctl watch add|rm` takes effect without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path

from watchfiles import watch

from knitctl import config as config_mod
from knitctl import inbox
from knitctl.config import WatchRule
from knitctl.home import Home
from knitctl.session import Session

log = logging.getLogger("knitd")

POLL_MS = 500
RECENT = 20


class Watcher:
    def __init__(self, home: Home, stop: threading.Event):
        self.home = home
        self.stop = stop
        self.recent: deque = deque(maxlen=RECENT)
        self._seen: dict[Path, tuple[tuple, float]] = {}    # item -> (signature, since)
        self._done: dict[Path, tuple] = {}                  # items ingested but left in place (copy) -> signature
        self._config_mtime: float | None = None
        self.rules: list[WatchRule] = []

    def _load_rules(self) -> bool:
        """Re-read the config when it changed; True when the rules changed."""
        path = config_mod.config_path()
        mtime = path.stat().st_mtime if path.exists() else None
        if mtime == self._config_mtime and self.rules:
            return False
        self._config_mtime = mtime
        try:
            cfg = config_mod.load(path)
        except Exception as e:  # a broken config must not stop ingest of the inbox
            log.error("config: %s", getattr(e, "message", e))
            cfg = config_mod.Config()
        rules = inbox.rules_with_inbox(self.home.inbox, cfg.watch, cfg.inbox)
        changed = [r.to_dict() for r in rules] != [r.to_dict() for r in self.rules]
        self.rules = rules
        if changed:
            log.info("watching %s", ", ".join(r.path for r in rules) or "nothing")
        return changed

    def _roots(self) -> list[tuple[WatchRule, Path]]:
        out = []
        for r in self.rules:
            p = Path(r.path).expanduser()
            if p.is_dir():
                out.append((r, p))
            else:
                log.warning("watch rule %s: not a directory (yet); skipped", r.path)
        return out

    def serve(self) -> None:
        self.home.inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._load_rules()
        with Session.open(self.home, reclaim=False) as session:
            while not self.stop.is_set():
                roots = self._roots()
                self.scan(session, roots)
                watched = [str(p) for _, p in roots] or [str(self.home.inbox)]
                for _ in watch(*watched, stop_event=self.stop, rust_timeout=POLL_MS, yield_on_timeout=True,
                               debounce=50, step=50):
                    if self.stop.is_set():
                        return
                    if self._load_rules():
                        break  # new roots: watch them instead
                    self.scan(session, roots)

    def scan(self, session: Session, roots: list[tuple[WatchRule, Path]]) -> None:
        now = time.monotonic()
        present: set[Path] = set()
        for rule, root in roots:
            for item in inbox.items(root):
                present.add(item)
                sig = inbox.signature(item)
                if self._done.get(item) == sig:
                    continue  # copied already; only a change makes it a new datum
                seen = self._seen.get(item)
                if seen is None or seen[0] != sig:
                    self._seen[item] = (sig, now)
                    continue
                if now - seen[1] < rule.settle:
                    continue
                self._ingest(session, rule, root, item, sig)
                self._seen.pop(item, None)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        for gone in set(self._done) - present:
            del self._done[gone]

    def _ingest(self, session: Session, rule: WatchRule, root: Path, item: Path, sig: tuple) -> None:
        try:
            result = inbox.ingest(session, rule, root, item, sig)
        except Exception:
            log.exception("ingest of %s failed", item)
            return
        if result.rejected:
            log.warning("rejected %s: %s", item, result.rejected)
        elif result.already:
            log.info("%s was already ingested as %s", item, result.knit_id)
        else:
            log.info("ingested %s as %s", item, result.knit_id)
        if result.knit_id and (item.exists() or item.is_symlink()):
            self._done[item] = sig
        self.recent.append(result)
