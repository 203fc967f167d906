"""A run's log: every line kept (read from disk), drawn a line at a time.

The pane holds the lines and draws only those in view (a ScrollView with
`render_line`), so a long log costs its text and no widgets. A filter (a
regular expression, case-insensitive) keeps the matching lines and highlights
the matches; wrapping and the timestamp column are views over the same lines,
so toggling them keeps the filter and the place.

Timestamps: a line that starts with an RFC 3339 time (as `docker logs -t`
writes) shows it in the time column; a line that arrived while the pane
followed the log shows when it arrived; others show none.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
STAMP_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s")
STAMP_WIDTH = 12       # HH:MM:SS.mmm
MATCH_STYLE = Style(reverse=True, bold=True)


def short_stamp(stamp: str | None) -> str:
    """The time of day of an RFC 3339 stamp, to the millisecond."""
    if not stamp:
        return ""
    return stamp.partition("T")[2][:STAMP_WIDTH]


class LogPane(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown,space", "page_down", "Page down", show=False),
        Binding("home", "top", "Top", show=False),
        Binding("end,G", "bottom", "End", show=False),
    ]

    wrap: reactive[bool] = reactive(False)
    show_time: reactive[bool] = reactive(True)
    follow: reactive[bool] = reactive(True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[str] = []
        self.stamps: list[str | None] = []
        self.pattern: re.Pattern | None = None
        self._view: list[int] = []                    # indices of lines passing the filter
        self._rows: list[tuple[int, int, int]] = []   # (line, start, end) per screen row
        self._width = 0

    # -- content ----------------------------------------------------------------------

    def clear(self) -> None:
        self.lines, self.stamps = [], []
        self._rebuild()

    def append(self, lines: list[str], stamp: str | None = None) -> None:
        start = len(self.lines)
        for raw in lines:
            line = ANSI_RE.sub("", raw).replace("\t", "    ").rstrip("\r")
            m = STAMP_RE.match(line)
            if m:
                self.lines.append(line[m.end():])
                self.stamps.append(m.group(1))
            else:
                self.lines.append(line)
                self.stamps.append(stamp)
        new = [i for i in range(start, len(self.lines)) if self._keeps(i)]
        self._view.extend(new)
        for i in new:
            self._rows.extend(self._rows_of(i))
        self._resize_virtual()
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        self.refresh()

    def set_filter(self, pattern: str | None) -> None:
        self.pattern = re.compile(pattern, re.IGNORECASE) if pattern else None
        self._rebuild()

    @property
    def shown(self) -> int:
        return len(self._view)

    def visible_text(self) -> list[str]:
        """The text of the rows in view (for tests and the pager)."""
        top = int(self.scroll_y)
        out = []
        for line, start, end in self._rows[top : top + self.size.height]:
            out.append(self.lines[line][start:end])
        return out

    def all_text(self) -> list[str]:
        return [self.lines[i] for i in self._view]

    # -- layout -------------------------------------------------------------------------

    def _keeps(self, i: int) -> bool:
        return self.pattern is None or self.pattern.search(self.lines[i]) is not None

    def _text_width(self) -> int:
        return max(8, self.size.width - (STAMP_WIDTH + 1 if self.show_time else 0) - 1)

    def _rows_of(self, i: int) -> list[tuple[int, int, int]]:
        n = len(self.lines[i])
        self._width = max(self._width, n)
        if not self.wrap or n <= self._text_width():
            return [(i, 0, n)]
        w = self._text_width()
        return [(i, s, min(n, s + w)) for s in range(0, n, w)]

    def _rebuild(self) -> None:
        anchor = self._rows[int(self.scroll_y)][0] if self._rows and int(self.scroll_y) < len(self._rows) else None
        self._width = 0
        self._view = [i for i in range(len(self.lines)) if self._keeps(i)]
        self._rows = [r for i in self._view for r in self._rows_of(i)]
        self._resize_virtual()
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        elif anchor is not None:
            # keep the line that was at the top in view
            y = next((n for n, r in enumerate(self._rows) if r[0] >= anchor), 0)
            self.scroll_to(y=y, animate=False, immediate=True)
        self.refresh()

    def _resize_virtual(self) -> None:
        extra = STAMP_WIDTH + 1 if self.show_time else 0
        width = (self.size.width if self.wrap else self._width + extra + 1)
        self.virtual_size = Size(max(width, 1), len(self._rows))

    def on_resize(self) -> None:
        if self.wrap:
            self._rebuild()

    def watch_wrap(self) -> None:
        if self.is_mounted:
            self._rebuild()

    def watch_show_time(self) -> None:
        if self.is_mounted:
            self._rebuild()

    # -- drawing ------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        row = int(self.scroll_y) + y
        base = self.rich_style
        if row >= len(self._rows):
            return Strip.blank(width, base)
        i, start, end = self._rows[row]
        text = Text(no_wrap=True, end="")
        if self.show_time:
            stamp = self.stamps[i] if start == 0 else None
            text.append(short_stamp(stamp).ljust(STAMP_WIDTH) + " ", style="dim")
        offset = len(text)
        text.append(self.lines[i][start:end])
        if self.pattern is not None:
            for m in self.pattern.finditer(self.lines[i]):
                a, b = max(m.start(), start), min(m.end(), end)
                if a < b:
                    text.stylize(MATCH_STYLE, offset + a - start, offset + b - start)
        segments = list(text.render(self.app.console))
        strip = Strip(segments, text.cell_len)
        if not self.wrap:
            strip = strip.crop(int(self.scroll_x), int(self.scroll_x) + width)
        return strip.extend_cell_length(width, base).apply_style(base) if strip.cell_length < width else strip.crop(0, width)

    # -- keys ----------------------------------------------------------------------------

    def action_scroll_up(self) -> None:
        self.follow = False
        self.scroll_relative(y=-1, animate=False)

    def action_scroll_down(self) -> None:
        self.scroll_relative(y=1, animate=False)

    def action_page_up(self) -> None:
        self.follow = False
        self.scroll_relative(y=-max(1, self.size.height - 1), animate=False)

    def action_page_down(self) -> None:
        self.scroll_relative(y=max(1, self.size.height - 1), animate=False)

    def action_top(self) -> None:
        self.follow = False
        self.scroll_to(y=0, animate=False)

    def action_bottom(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False)

    def watch_follow(self, follow: bool) -> None:
        if follow and self.is_mounted:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)


__all__ = ["LogPane"]
