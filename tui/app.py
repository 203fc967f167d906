"""The knit TUI: Runs (default), Data and Plans as live tables, the Pipeline, details, logs, lineage.

The app reads the catalog on its own read-only connection and never holds a
transaction open, so writers (knitd, knitctl) are never blocked. A thread
watches SQLite's data_version on a second read-only connection every
`poll_interval` seconds and tells the screens when another connection has
committed; they then update the rows they show in place. The same thread
notices knitd starting and stopping (its pid-file lock) for the header.

Abort and retry, the only writes, go through `knitctl.runs` in a worker
thread after a confirmation.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import get_current_worker

from knitctl import knitd, runstate
from knitctl.catalog import Catalog, browse
from knitctl.catalog import runs as run_rows
from knitctl.home import Home

if TYPE_CHECKING:
    from knitctl.session import Session

from . import filters, query
from .screens.base import KnitScreen
from .screens.confirm import ConfirmScreen
from .screens.data import DataScreen
from .screens.datum_detail import DatumDetailScreen
from .screens.help import HelpScreen
from .screens.lineage import LineageScreen
from .screens.log_view import LogScreen
from .screens.plan_detail import PlanDetailScreen
from .screens.plans import PlansScreen
from .screens.run_detail import RunDetailScreen
from .screens.runs import RunsScreen

STYLES = Path(__file__).parent / "styles"
Clock = Callable[[], int]


def system_clock() -> int:
    return int(time.time() * 1000)


def current_context() -> str:
    """The context knitctl would use: $KNIT_CONTEXT, else the config file's current one."""
    env = os.environ.get("KNIT_CONTEXT")
    if env:
        return env
    try:
        from knitctl import config

        return config.load().current_context
    except Exception:
        return "?"


class CatalogChanged(Message):
    """Another connection committed to the catalog."""


class KnitdChanged(Message):
    def __init__(self, pid: int | None) -> None:
        super().__init__()
        self.pid = pid


class IdProvider(Provider):
    """Command palette: jump to a run, datum or plan by (a prefix of) its id."""

    async def search(self, query_text: str) -> Hits:
        app: KnitApp = self.app  # type: ignore[assignment]
        text = query_text.strip().lower()
        if len(text) < 2:
            return
        matcher = self.matcher(query_text)
        for kind, obj_id, summary in query.search_ids(app.read_conn, text):
            title = f"{kind} {obj_id}"
            yield Hit(matcher.match(obj_id) or 0.5, matcher.highlight(title), partial(app.open_object, kind, obj_id),
                      help=summary)

    async def discover(self) -> Hits:
        return
        yield  # pragma: no cover


def _pipeline_screen():
    """The Pipeline mode's screen, imported when first shown (it brings the plan rules with it)."""
    from .screens.pipeline import PipelineScreen

    return PipelineScreen()


def _metadata_screen():
    """The Metadata mode's screen, imported when first shown (it brings the metadata package with it)."""
    from .screens.metadata import MetadataScreen

    return MetadataScreen()


class KnitApp(App):
    TITLE = "knit"
    CSS_PATH = [STYLES / "app.tcss", STYLES / "screens.tcss", STYLES / "widgets.tcss"]
    MODES = {"runs": RunsScreen, "data": DataScreen, "plans": PlansScreen, "pipeline": _pipeline_screen,
             "metadata": _metadata_screen}
    DEFAULT_MODE = "runs"
    COMMANDS = App.COMMANDS | {IdProvider}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("1", "mode('runs')", "Runs", show=False),
        Binding("2", "mode('data')", "Data", show=False),
        Binding("3", "mode('plans')", "Plans", show=False),
        Binding("4", "mode('pipeline')", "Pipeline", show=False),
        Binding("5", "mode('metadata')", "Metadata", show=False),
    ]
    has_catalog = True           # False in MlmdApp: no knit catalog, the Metadata mode alone
    mlmd_label: str | None = None  # the ml-metadata file shown (MlmdApp), for the header

    knitd_pid: reactive[int | None] = reactive(None)
    context_name: reactive[str] = reactive("")

    def __init__(
        self,
        home: Home | str | os.PathLike | None = None,
        *,
        context: str | None = None,
        clock: Clock | None = None,
        poll_interval: float = 0.25,
        watch_knitd: bool = True,
    ) -> None:
        super().__init__()
        self.home = home if isinstance(home, Home) else Home.resolve(home)
        if not self.home.catalog.exists():
            from knitctl.session import Session

            Session.open(self.home, reclaim=False).close()
        self._catalog = Catalog(self.home.catalog, readonly=True)
        self.read_conn = query.prepare(self._catalog.conn)  # catalog queries take the connection
        self.now_ms: Clock = clock or system_clock
        self.poll_interval = poll_interval
        self.catalog_version = 0
        self._watch_stop = threading.Event()
        self._follow_knitd = watch_knitd
        self.set_reactive(KnitApp.context_name, context or current_context())
        self.set_reactive(KnitApp.knitd_pid, knitd.running_pid(self.home) if watch_knitd else None)

    # -- life ---------------------------------------------------------------------------------

    @cached_property
    def session(self) -> Session:
        """A read-only Session over the app's catalog, for the library calls (runs, plans) the detail
        screens make; built on first use (it brings the store module)."""
        from knitctl.session import Session
        from knitctl.store import Store

        return Session(self.home, self._catalog, Store(self.home))

    @cached_property
    def metadata_store(self):
        """The ML Metadata API over the catalog, read-only, for the Metadata mode; opened on first use."""
        from .metadata_view import open_catalog

        return open_catalog(self.home.root)

    def on_mount(self) -> None:
        self._watch_catalog()
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self._watch_stop.set()

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False)
    def _watch_catalog(self) -> None:
        from knitctl.catalog import Catalog

        worker = get_current_worker()
        cat = Catalog(self.home.catalog, readonly=True)
        try:
            last = cat.data_version()
            pid = self.knitd_pid
            n = 0
            while not worker.is_cancelled and not self._watch_stop.is_set():
                version = cat.data_version()
                if version != last:
                    last = version
                    self.post_message(CatalogChanged())
                n += 1
                if self._follow_knitd and n % 4 == 0:
                    now = knitd.running_pid(self.home)
                    if now != pid:
                        pid = now
                        self.post_message(KnitdChanged(now))
                self._watch_stop.wait(self.poll_interval)
        finally:
            cat.close()

    def on_catalog_changed(self, _: CatalogChanged) -> None:
        self.catalog_version += 1
        for screen in self.screen_stack:
            if isinstance(screen, KnitScreen):
                screen.catalog_changed()

    def on_knitd_changed(self, event: KnitdChanged) -> None:
        self.knitd_pid = event.pid

    def _tick(self) -> None:
        if not self.screen_stack:  # a timer can fire while the app starts or shuts down, with no screen
            return
        # Only a screen whose widgets are there (`ready`): a pushed screen is on the stack before it is
        # composed, and its tick would look for widgets it does not have yet.
        screen = self.screen
        if isinstance(screen, KnitScreen):
            if screen.ready:
                screen.tick()
        elif len(self.screen_stack) > 1 and isinstance(below := self.screen_stack[-2], KnitScreen) and below.ready:
            below.tick()

    # -- navigation -----------------------------------------------------------------------------

    def action_mode(self, mode: str) -> None:
        self.show_table(mode)

    def show_table(self, kind: str, filter_text: str | None = None) -> None:
        """Switch to the Runs, Data or Plans table (with a filter when given) or the Pipeline."""
        def apply() -> None:
            base = self.screen_stack[0]
            while len(self.screen_stack) > 1:
                self.pop_screen()
            if filter_text is not None and hasattr(base, "apply_filter"):
                base.apply_filter(filter_text)

        if self.current_mode != kind:
            self.switch_mode(kind)
        self.call_after_refresh(apply)

    def open_run(self, run_id: str) -> None:
        self.push_screen(RunDetailScreen(run_id))

    def open_datum(self, knit_id: str) -> None:
        self.push_screen(DatumDetailScreen(knit_id))

    def open_plan(self, plan_id: str) -> None:
        from knitctl.catalog.records import UPLOAD_PLAN

        if plan_id == UPLOAD_PLAN:
            self.notify("uploads have no plan", severity="warning")
            return
        self.push_screen(PlanDetailScreen(plan_id))

    def open_log(self, run_id: str) -> None:
        self.push_screen(LogScreen(run_id))

    def open_lineage(self, kind: str, node_id: str) -> None:
        self.push_screen(LineageScreen(kind, node_id))

    def open_compare(self, knit_ids: list[str]) -> None:
        from .screens.compare import CompareScreen

        self.push_screen(CompareScreen(knit_ids))

    def open_object(self, kind: str, obj_id: str) -> None:
        {"run": self.open_run, "data": self.open_datum, "plan": self.open_plan}[kind](obj_id)

    def action_help(self) -> None:
        if isinstance(self.screen, (HelpScreen, ConfirmScreen)):
            return
        self.push_screen(HelpScreen(self.screen))

    # -- the command line ------------------------------------------------------------------------

    def run_command_line(self, text: str) -> None:
        try:
            cmd = filters.parse_command(text)
        except filters.FilterError as e:
            self.notify(str(e), title="command", severity="error")
            return
        if cmd.name in ("runs", "data", "plans"):
            self.show_table(cmd.name, cmd.args)
        elif cmd.name == "help":
            self.action_help()
        elif cmd.name == "quit":
            self.exit()
        else:
            self._open_by_id(cmd.name, cmd.args)

    def _open_by_id(self, what: str, text: str) -> None:
        found = query.resolve(self.read_conn, text)
        if found is None:
            self.notify(f"no run, datum or plan has an id starting {text!r} (or more than one does)",
                        title=f":{what}", severity="error")
            return
        kind, obj_id = found
        if what == "run":
            self.open_object(kind, obj_id)
        elif what == "log":
            if kind == "data":
                producer = browse.producer_of(self.read_conn, obj_id)
                if producer is None:
                    self.notify(f"datum {obj_id} is gone (its run was retried or removed)", severity="error")
                    return
                obj_id = producer
            elif kind != "run":
                self.notify("logs belong to runs; give a run id", severity="error")
                return
            self.open_log(obj_id)
        elif what == "lineage":
            if kind == "plan":
                self.notify("lineage is of a datum or a run; give one of their ids", severity="error")
                return
            self.open_lineage(kind, obj_id)

    # -- the palette ----------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Runs", "The Runs table", partial(self.show_table, "runs"))
        yield SystemCommand("Runs: failed", "Runs that failed", partial(self.show_table, "runs", "failed"))
        yield SystemCommand("Runs: running", "Runs running now", partial(self.show_table, "runs", "running"))
        yield SystemCommand("Data", "The Data table", partial(self.show_table, "data"))
        yield SystemCommand("Plans", "The Plans table", partial(self.show_table, "plans"))
        yield SystemCommand("Pipeline", "Which plans feed which", partial(self.show_table, "pipeline"))
        yield SystemCommand("Metadata", "ML Metadata's types and nodes", partial(self.show_table, "metadata"))
        yield SystemCommand("Help", "The keys of this screen", self.action_help)
        if isinstance(screen, KnitScreen):
            for title, help_text, callback in screen.palette_commands():
                yield SystemCommand(title, help_text, callback)
        yield from super().get_system_commands(screen)

    # -- the two writes ------------------------------------------------------------------------------

    def _describe_run(self, run_id: str) -> tuple[str, str] | None:
        """(status, plan id) of the run; None when it is gone."""
        facts = run_rows.plan_and_status(self.read_conn, run_id)
        return (facts[1], facts[0]) if facts else None

    def confirm_abort(self, run_id: str) -> None:
        facts = self._describe_run(run_id)
        if facts is None:
            return
        if not runstate.can_abort(facts[0]):
            self.notify(f"run {run_id} is {facts[0]}; there is nothing to abort", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._write("abort", run_id)

        self.push_screen(ConfirmScreen(f"Abort run {run_id}?", f"It is {facts[0]} (plan {facts[1]}). "
                                       "Aborting fails it; its container is stopped.", yes="Abort"), done)

    def confirm_retry(self, run_id: str) -> None:
        facts = self._describe_run(run_id)
        if facts is None:
            return
        if not runstate.can_retry(facts[0]):
            self.notify(f"run {run_id} is {facts[0]}; only done or failed runs can be retried", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._write("retry", run_id)

        self.push_screen(ConfirmScreen(f"Retry run {run_id}?", f"It is {facts[0]} (plan {facts[1]}). "
                                       "Its outputs are discarded and it runs again.", yes="Retry"), done)

    @work(thread=True, group="write", exit_on_error=False)
    def _write(self, what: str, run_id: str) -> None:
        from knitctl import runs as runs_api
        from knitctl.errors import KnitError
        from knitctl.session import Session

        try:
            with Session.open(self.home, reclaim=False) as s:
                if what == "abort":
                    r = runs_api.stop(s, run_id, fail=True)
                else:
                    r = runs_api.retry(s, run_id)
        except KnitError as e:
            self.call_from_thread(self.notify, e.message, title=what, severity="error")
            return
        self.call_from_thread(self.notify, f"run {r.run_id} is {r.status}", title=what)


class MlmdApp(KnitApp):
    """The TUI over an ml-metadata SQLite file (`knitctl tui --mlmd FILE`): the Metadata mode alone, read-only.

    The file is opened READONLY through the metadata API when the app is made, so a missing or foreign
    file fails there (a `knitctl.metadata.errors.StatusError`, one line) before anything is drawn; no knit
    catalog is opened or created.
    """

    MODES = {"metadata": _metadata_screen}
    DEFAULT_MODE = "metadata"
    COMMANDS = App.COMMANDS
    has_catalog = False

    def __init__(self, path: str | os.PathLike, *, clock: Clock | None = None) -> None:
        from .metadata_view import open_file

        store = open_file(path)   # raises before the app exists: nothing to tear down
        App.__init__(self)
        self.mlmd_path = Path(path).expanduser()
        self.mlmd_label = f"ml-metadata {self.mlmd_path} (read-only)"
        self.__dict__["metadata_store"] = store
        self.now_ms = clock or system_clock
        self.catalog_version = 0
        self._watch_stop = threading.Event()
        self.set_reactive(KnitApp.context_name, "")
        self.set_reactive(KnitApp.knitd_pid, None)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self.metadata_store.close()

    def show_table(self, kind: str, filter_text: str | None = None) -> None:
        if kind != "metadata":
            self.notify("only the Metadata view here: runs, data and plans need a knit catalog (knitctl tui "
                        "without --mlmd)", severity="warning")
            return
        super().show_table(kind, filter_text)

    def run_command_line(self, text: str) -> None:
        try:
            name = filters.parse_command(text).name
        except filters.FilterError:
            name = None
        if name in (None, "help", "quit"):
            super().run_command_line(text)    # its own error for a bad line
        else:
            self.notify(f":{name} needs a knit catalog; this is {self.mlmd_label}", title="command",
                        severity="warning")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Help", "The keys of this screen", self.action_help)
        yield from App.get_system_commands(self, screen)


def run(home: Home | str | os.PathLike | None = None, *, context: str | None = None,
        mlmd: str | os.PathLike | None = None) -> None:
    """Run the TUI on the knit catalog in `home`, or (`mlmd`) read-only on an ml-metadata SQLite file."""
    if mlmd is not None:
        MlmdApp(mlmd).run()
        return
    KnitApp(home, context=context).run()
