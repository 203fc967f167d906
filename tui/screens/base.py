"""What every knit screen has: the header, the prompt, the footer, the common keys,
and a hook the app calls when the catalog changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from ..widgets.header import KnitHeader
from ..widgets.prompt import Prompt

if TYPE_CHECKING:
    from textual import getters

    from ..app import KnitApp


class KnitScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("colon", "command", "Command", key_display=":"),
    ]
    TITLE = ""
    HELP = ""            # one paragraph for the help screen

    if TYPE_CHECKING:  # Textual types `app` as any App; this one always runs inside KnitApp
        app = getters.app(KnitApp)

    def __init__(self) -> None:
        super().__init__()
        self.seen_version = -1
        self.ready = False          # mounted, children and all

    def compose(self) -> ComposeResult:
        yield KnitHeader(self.header_title())
        yield from self.compose_body()
        yield Prompt()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def header_title(self) -> str:
        return self.TITLE

    def set_header(self, title: str) -> None:
        self.query_one(KnitHeader).set_title(title)

    def main_widget(self) -> Widget | None:
        return None

    def focus_main(self) -> None:
        w = self.main_widget()
        if w is not None:
            w.focus()

    def on_mount(self) -> None:
        # Textual calls every class's on_mount: subclasses put theirs in `mounted`.
        self.seen_version = self.app.catalog_version
        self.mounted()
        self.focus_main()
        self.ready = True

    def mounted(self) -> None:
        """The screen's widgets are there: fill them."""

    def on_screen_resume(self) -> None:
        if self.ready and self.seen_version != self.app.catalog_version:
            self.catalog_changed()

    # -- hooks -----------------------------------------------------------------------------

    def catalog_changed(self) -> None:
        """The catalog changed: refresh what is shown, in place."""
        if not self.ready:
            return          # mounting reads it fresh anyway
        self.seen_version = self.app.catalog_version
        self.refresh_live()

    def refresh_live(self) -> None:
        pass

    def tick(self) -> None:
        """Once a second: time-relative text."""

    def palette_commands(self):
        """(title, help, callback) this screen adds to the command palette."""
        return []

    # -- keys ----------------------------------------------------------------------------------

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_command(self) -> None:
        self.query_one(Prompt).open(":")

    def on_prompt_done(self, event: Prompt.Done) -> None:
        if event.mode == ":":
            self.app.run_command_line(event.value)
        else:
            self.prompt_done(event.mode, event.value)

    def prompt_done(self, mode: str, value: str) -> None:
        pass

    def open_prompt(self, mode: str, value: str = "", placeholder: str | None = None) -> None:
        self.query_one(Prompt).open(mode, value, placeholder)
