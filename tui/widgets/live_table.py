"""A DataTable that loads its rows a page at a time and follows the catalog.

- Lazy: the first page (`PAGE` rows) is all a screen loads; the next page is
  read by keyset (`order < last shown`) when the cursor or the viewport comes
  near the end.
- Live: `follow()` (called when the catalog changed) reads only
  * rows newer than the newest shown (inserted above),
  * the rows in view (updated in place, or removed when gone or no longer
    matching the filter), and
  * with a filter, rows changed since the last look (which may now match).
  Rows out of view are marked unverified and checked when they scroll into
  view. The cursor stays on its row and the view on what it showed.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from ..filters import Filter
from ..query import Row, Source
from .cells import RENDER, TIMED

if TYPE_CHECKING:
    from textual import getters

    from ..app import KnitApp

PAGE = 100
SLACK_MS = 5_000      # how far back `changed` looks past the newest update seen


class LiveTable(DataTable):
    if TYPE_CHECKING:  # Textual types `app` as any App; this one always runs inside KnitApp
        app = getters.app(KnitApp)

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("end,G", "scroll_bottom", "Last row", show=False),
        Binding("home", "scroll_top", "First row", show=False),
    ]

    def __init__(self, source: Source, *, id: str | None = None, page: int = PAGE) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.source = source
        self.page_size = page
        self.filter = Filter()
        self.render_cells = RENDER[source.kind]
        self.timed = TIMED[source.kind]
        self._keys: list[str] = []            # table order, newest first
        self._neg: list[int] = []             # -order, ascending (for bisect)
        self._rows: dict[str, Row] = {}
        self._cells: dict[str, list] = {}
        self._rk: dict[str, RowKey] = {}
        self._exhausted = False
        self._epoch = 0
        self._verified: dict[str, int] = {}
        self._watermark = 0
        self._verify_pending = False
        self._busy = False
        self.pages_loaded = 0
        self.total: int | None = None

    # -- plumbing -------------------------------------------------------------------

    @property
    def conn(self):
        return self.app.read_conn

    def now(self) -> int:
        return self.app.now_ms()

    def on_mount(self) -> None:
        for label, key in self.source.columns:
            self.add_column(label, key=key)
        self.reload()

    @property
    def keys(self) -> list[str]:
        return list(self._keys)

    def row_of(self, key: str) -> Row | None:
        return self._rows.get(key)

    @property
    def current(self) -> Row | None:
        if not self._keys or not (0 <= self.cursor_row < len(self._keys)):
            return None
        return self._rows[self._keys[self.cursor_row]]

    def select_key(self, key: str) -> bool:
        if key in self._rows:
            self.move_cursor(row=self._keys.index(key))
            return True
        return False

    # -- loading -------------------------------------------------------------------

    def reload(self, flt: Filter | None = None) -> None:
        """Start over (a new filter): first page only."""
        if flt is not None:
            self.filter = flt
        self.clear()
        self._keys, self._neg, self._rows, self._cells, self._rk = [], [], {}, {}, {}
        self._verified = {}
        self._exhausted = False
        self.pages_loaded = 0
        self.total = None
        self._watermark = self.source.watermark(self.conn) if self._needs_changed() else 0
        self.load_more()

    def _needs_changed(self) -> bool:
        return not self.filter.empty or self.source.kind == "plans"

    def load_more(self) -> int:
        if self._exhausted or self._busy:
            return 0
        self._busy = True
        try:
            after = self._neg and -self._neg[-1] or None
            page = self.source.page(self.conn, self.filter, after, self.page_size)
            self._exhausted = page.done
            self.pages_loaded += 1
            now = self.now()
            for row in page.rows:
                if row.key not in self._rows:
                    self._append(row, now)
        finally:
            self._busy = False
        return len(page.rows)

    def _append(self, row: Row, now: int) -> None:
        cells = self.render_cells(row, now)
        self._rk[row.key] = self.add_row(*cells, key=row.key)
        self._keys.append(row.key)
        self._neg.append(-row.order)
        self._rows[row.key] = row
        self._cells[row.key] = cells
        self._verified[row.key] = self._epoch

    def _near_end(self) -> bool:
        margin = self.page_size // 4
        bottom = int(self.scroll_y) + self.size.height
        return self.cursor_row >= len(self._keys) - margin or bottom >= len(self._keys) - margin

    def _maybe_load(self) -> None:
        if not self._busy and not self._exhausted and self._near_end():
            self.load_more()

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        if self.is_mounted:
            self._maybe_load()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if not self.is_mounted:
            return
        self._maybe_load()
        if not self._verify_pending:
            self._verify_pending = True
            self.call_after_refresh(self._verify_visible)

    # -- what is in view --------------------------------------------------------------

    def visible_keys(self) -> list[str]:
        top = max(0, int(self.scroll_y))
        height = max(self.size.height, 1)
        return self._keys[top : top + height + 1]

    def _verify_visible(self) -> None:
        self._verify_pending = False
        stale = [k for k in self.visible_keys() if self._verified.get(k, -1) < self._epoch]
        if stale:
            self._apply(stale, self.source.fetch(self.conn, self.filter, stale))

    def tick(self) -> None:
        """Re-render the time-relative cells (age, duration) of the rows in view."""
        if not self.timed:
            return
        now = self.now()
        for key in self.visible_keys():
            self._update(self._rows[key], now, only=self.timed)

    # -- following the catalog ------------------------------------------------------------

    def follow(self) -> None:
        """The catalog changed: bring what is shown up to date, in place."""
        self._epoch += 1
        conn = self.conn
        now = self.now()
        if not self._keys:
            self._exhausted = False
            self.load_more()
            return
        newer = self.source.newer(conn, self.filter, -self._neg[0])
        if newer:
            self._insert(newer, now)
        candidates = set(self.visible_keys())
        if self._needs_changed():
            changed, self._watermark = self.source.changed(conn, max(0, self._watermark - SLACK_MS))
            candidates |= changed
        fresh = self.source.fetch(conn, self.filter, candidates)
        self._apply(candidates, fresh)
        self.total = None

    def _apply(self, candidates, fresh: dict[str, Row]) -> None:
        now = self.now()
        gone = [k for k in candidates if k in self._rows and k not in fresh]
        for k in gone:
            self._remove(k)
        to_insert = []
        last = -self._neg[-1] if self._neg else None
        for k, row in fresh.items():
            if k in self._rows:
                self._rows[k] = row
                self._update(row, now)
                self._verified[k] = self._epoch
            elif self._exhausted or last is None or row.order > last:
                to_insert.append(row)
        if to_insert:
            self._insert(to_insert, now)

    def _update(self, row: Row, now: int, only: tuple[str, ...] = ()) -> None:
        cells = self.render_cells(row, now)
        old = self._cells[row.key]
        for (_, col), new_cell, old_cell in zip(self.source.columns, cells, old):
            if only and col not in only:
                continue
            if new_cell != old_cell:
                self.update_cell(self._rk[row.key], col, new_cell, update_width=True)
        if only:
            merged = [c if col in only else o for (label, col), c, o in zip(self.source.columns, cells, old)]
            self._cells[row.key] = merged
        else:
            self._cells[row.key] = cells

    def _remove(self, key: str) -> None:
        idx = self._keys.index(key)
        cursor = self.cursor_row
        top = int(self.scroll_y)
        self.remove_row(self._rk.pop(key))
        del self._keys[idx]
        del self._neg[idx]
        self._rows.pop(key, None)
        self._cells.pop(key, None)
        self._verified.pop(key, None)
        if idx < cursor:
            self.move_cursor(row=cursor - 1, scroll=False)
        if idx < top:
            self.set_scroll(None, top - 1)

    def _insert(self, rows: list[Row], now: int) -> None:
        """Insert rows at their places by order; the cursor keeps its row, the view its rows."""
        cursor_key = self._keys[self.cursor_row] if self._keys and 0 <= self.cursor_row < len(self._keys) else None
        top = int(self.scroll_y)
        above = 0
        new_keys = []
        for row in rows:
            if row.key in self._rows:
                continue
            idx = bisect.bisect_left(self._neg, -row.order)
            cells = self.render_cells(row, now)
            self._rk[row.key] = self.add_row(*cells, key=row.key)
            self._keys.insert(idx, row.key)
            self._neg.insert(idx, -row.order)
            self._rows[row.key] = row
            self._cells[row.key] = cells
            self._verified[row.key] = self._epoch
            new_keys.append(self._rk[row.key])
            if idx < top or (idx == top and top > 0):
                above += 1
        if not new_keys:
            return
        # Put every row at its place (add_row appended them) and size the table now,
        # so the scroll offset below is not clamped to the old height.
        from textual._two_way_dict import TwoWayDict

        self._row_locations = TwoWayDict({self._rk[k]: i for i, k in enumerate(self._keys)})
        self._update_count += 1
        self._update_dimensions(new_keys)
        self._new_rows.difference_update(new_keys)
        if above:
            self.set_scroll(None, top + above)
        if cursor_key is not None:
            self.move_cursor(row=self._keys.index(cursor_key), scroll=False)
        self.refresh()
