"""knitd's watched folders: notice drops, wait until they settle, ingest them.

The folders are scanned at start (drops made while knitd was down count), again
whenever watchfiles reports a change, and exactly when the next pending item is
due to have settled. The config file is looked at every second and re-read when
it changed, so `knitctl watch add|rm` takes effect without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path

from watchfiles import watch

from knitctl import config as config_mod
from knitctl import guards, inbox
from knitctl.config import WatchRule
from knitctl.home import Home
from knitctl.session import Session

log = logging.getLogger("knitd")

POLL_MS = 500
CONFIG_CHECK_SECONDS = 1.0


class _Either:
    """Stops watchfiles when knitd stops or the watched roots change."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)
RECENT = 20


class Watcher:
    def __init__(self, home: Home, stop: threading.Event, beat=None):
        self.home = home
        self.stop = stop
        self.beat = beat or (lambda: None)   # called each time round: knitd's health file
        self.recent: deque = deque(maxlen=RECENT)
        self._seen: dict[Path, tuple[tuple, float]] = {}    # item -> (signature, since)
        self._done: dict[Path, tuple] = {}                  # items ingested but left in place (copy) -> signature
        self._config_mtime: float | None = None
        self.rules: list[WatchRule] = []
        self._refused: set = set()

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
        rules = [r for r in inbox.rules_with_inbox(self.home.inbox, cfg.watch, cfg.inbox) if self._allowed(r, path)]
        changed = [r.to_dict() for r in rules] != [r.to_dict() for r in self.rules]
        self.rules = rules
        if changed:
            log.info("watching %s", ", ".join(r.path for r in rules) or "nothing")
        return changed

    def _allowed(self, rule: WatchRule, config_file: Path | None = None) -> bool:
        """False (logged once per reason) for a rule that would swallow KNIT_HOME or a system folder:
        the config file may be edited by hand, and a watched link may be re-pointed later."""
        why = guards.check_watch_path(rule.path, self.home, config_file=config_file or config_mod.config_path())
        if why is None:
            if self._refused:
                self._refused = {x for x in self._refused if x[0] != rule.path}
            return True
        if (rule.path, why) not in self._refused:
            self._refused.add((rule.path, why))
            log.error("watch rule %r refused and skipped: %s; remove it with `knitctl watch rm`", rule.path, why)
        return False

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
                watched = [str(p) for _, p in roots] or [str(self.home.inbox)]
                changed, restart = threading.Event(), threading.Event()
                thread = threading.Thread(target=self._watch, args=(watched, changed, restart), daemon=True,
                                          name="watchfiles")
                thread.start()
                try:
                    while not self.stop.is_set():
                        self.beat()
                        due = self.scan(session, roots)
                        # sleep until something changes, the next item is due to settle, or it's
                        # time to look at the config again — whichever comes first
                        wait = CONFIG_CHECK_SECONDS if due is None else max(0.005, due - time.monotonic())
                        changed.wait(min(wait, CONFIG_CHECK_SECONDS))
                        changed.clear()
                        if self._load_rules():
                            break  # new roots: watch them instead
                finally:
                    restart.set()
                    thread.join(timeout=2)

    def _watch(self, watched: list[str], changed: threading.Event, restart: threading.Event) -> None:
        stop, either = self.stop, _Either(self.stop, restart)
        try:
            for _ in watch(*watched, stop_event=either, rust_timeout=POLL_MS, yield_on_timeout=False,
                           debounce=20, step=20):
                changed.set()
        except Exception:  # a vanished root and the like: the scanner still polls
            if not stop.is_set():
                log.exception("watching %s failed; scanning on a timer", ", ".join(watched))

    def scan(self, session: Session, roots: list[tuple[WatchRule, Path]]) -> float | None:
        """Ingest what has settled; returns when the next pending item is due (monotonic), if any."""
        now = time.monotonic()
        due: float | None = None
        present: set[Path] = set()
        for rule, root in roots:
            if not self._allowed(rule):
                continue
            for item in inbox.items(root):
                present.add(item)
                sig = inbox.signature(item)
                if self._done.get(item) == sig:
                    continue  # copied already; only a change makes it a new datum
                seen = self._seen.get(item)
                if seen is None or seen[0] != sig:
                    self._seen[item] = (sig, now)
                    at = now + rule.settle
                    due = at if due is None else min(due, at)
                    continue
                if now - seen[1] < rule.settle:
                    at = seen[1] + rule.settle
                    due = at if due is None else min(due, at)
                    continue
                self._ingest(session, rule, root, item, sig)
                self._seen.pop(item, None)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        for gone in set(self._done) - present:
            del self._done[gone]
        return due

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
