"""A run's log: the whole file from disk, followed while the run lives.

The file is the live log (`KNIT_HOME/logs/<run>.log`) while the run runs and
the committed log datum once it has one; the screen reads whichever
`knitctl.runs.log_path` names, from where it left off, every quarter second,
a bounded slice at a time (a long log loads in steps without freezing the UI).
"""

from __future__ import annotations

import os
import shlex
import subprocess

from rich.text import Text
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.widgets import Static

from knitctl import runs as runs_api
from knitctl import runstate
from knitctl.catalog import runs as run_rows

from .. import format as fmt
from ..widgets.log_pane import LogPane
from .base import KnitScreen

SLICE = 4 << 20
POLL = 0.25


class LogScreen(KnitScreen):
    TITLE = "Log"
    HELP = ("The run's whole log, read from disk. While the run lives the view follows new lines (f toggles; "
            "scrolling up stops it, End resumes). / keeps only lines matching a regular expression (empty clears); "
            "w wraps long lines and t shows timestamps, both keeping the filter. o opens the log in $PAGER.")
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("f", "follow", "Follow"),
        Binding("w", "wrap", "Wrap"),
        Binding("t", "timestamps", "Timestamps"),
        Binding("o", "pager", "$PAGER"),
        Binding("g", "lineage", "Lineage", show=False),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.path = None
        self.read_offset = 0
        self._partial = b""
        self._loaded_once = False
        self.status = "?"
        self.filter_text = ""

    def header_title(self) -> str:
        return f"Log of run {self.run_id}"

    def compose_body(self) -> ComposeResult:
        yield Static(classes="status-line")
        yield LogPane(id="log")

    @property
    def pane(self) -> LogPane:
        return self.query_one(LogPane)

    def main_widget(self):
        return self.pane

    def mounted(self) -> None:
        self._read_status()
        self.pane.follow = self.status not in runstate.TERMINAL
        self.poll()
        self.set_interval(POLL, self.poll)

    # -- reading -----------------------------------------------------------------------------

    def _read_status(self) -> None:
        self.status = run_rows.status(self.app.read_conn, self.run_id) or "gone"

    def poll(self) -> None:
        try:
            path = runs_api.log_path(self.app.session, self.run_id)
        except Exception:
            path = self.app.home.run_log(self.run_id)
        self.path = path
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            self.show_status()
            return
        if size < self.read_offset:           # rewritten (a retried run starts its log again)
            self.read_offset, self._partial = 0, b""
            self.pane.clear()
        if size > self.read_offset:
            with open(path, "rb") as f:
                f.seek(self.read_offset)
                chunk = f.read(SLICE)
            self.read_offset += len(chunk)
            data = self._partial + chunk
            lines = data.split(b"\n")
            self._partial = lines.pop()
            ended = self.status in runstate.TERMINAL and self.read_offset >= size
            if ended and self._partial:
                lines.append(self._partial)
                self._partial = b""
            stamp = fmt.clock_time(self.app.now_ms()) if self._loaded_once else None
            self.pane.append([ln.decode("utf-8", "replace") for ln in lines], stamp)
        if self.read_offset >= size:
            self._loaded_once = True
        self.show_status()

    def show_status(self) -> None:
        p = self.pane
        t = Text()
        t.append(f"run {self.run_id}  ", style="bold")
        t.append_text(fmt.status(self.status))
        t.append(f"  {fmt.count(p.shown)} of {fmt.count(len(p.lines))} lines", style="dim")
        t.append("  following" if p.follow else "  paused", style="bold cyan" if p.follow else "dim")
        t.append("  wrap" if p.wrap else "  nowrap", style="dim")
        t.append("  time" if p.show_time else "  notime", style="dim")
        if self.filter_text:
            t.append("  filter ", style="dim")
            t.append(self.filter_text, style="bold yellow")
        if self.path is not None and not os.path.exists(self.path):
            t.append("  (no log yet)", style="dim italic")
        self.query_one(".status-line", Static).update(t)

    def refresh_live(self) -> None:
        self._read_status()
        self.poll()

    # -- keys ----------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.open_prompt("/", self.filter_text, "regular expression (case-insensitive); empty shows every line")

    def prompt_done(self, mode: str, value: str) -> None:
        import re

        try:
            self.pane.set_filter(value or None)
        except re.error as e:
            self.notify(f"{value!r} is not a regular expression: {e}", title="filter", severity="error")
            return
        self.filter_text = value
        self.show_status()

    def action_back(self) -> None:
        if self.filter_text:
            self.prompt_done("/", "")
        else:
            super().action_back()

    def action_follow(self) -> None:
        self.pane.follow = not self.pane.follow
        self.show_status()

    def action_wrap(self) -> None:
        self.pane.wrap = not self.pane.wrap
        self.show_status()

    def action_timestamps(self) -> None:
        self.pane.show_time = not self.pane.show_time
        self.show_status()

    def action_lineage(self) -> None:
        self.app.open_lineage("run", self.run_id)

    def action_pager(self) -> None:
        if self.path is None or not os.path.exists(self.path):
            self.notify("this run has no log yet", severity="warning")
            return
        cmd = [*shlex.split(os.environ.get("PAGER") or "less"), str(self.path)]
        try:
            with self.app.suspend():
                subprocess.call(cmd)
        except SuspendNotSupported:   # no terminal to hand over (headless)
            subprocess.call(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            self.notify(f"$PAGER ({cmd[0]}) was not found", severity="error")
