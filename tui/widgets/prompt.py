"""The one-line prompt at the bottom: `:` commands and `/` filters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Input

from ..filters import COMMANDS

if TYPE_CHECKING:
    from ..screens.base import KnitScreen

PLACEHOLDER = {
    ":": "command — runs [filter], data [filter], plans, run ID, log ID, lineage ID, help, q",
    "/": "filter — status:failed  plan:3fa9  key:value  re:regex  (empty clears)",
}


class Prompt(Input):
    if TYPE_CHECKING:  # composed only by KnitScreen (screens/base.py)
        @property
        def screen(self) -> KnitScreen: ...

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    class Done(Message):
        def __init__(self, mode: str, value: str) -> None:
            super().__init__()
            self.mode = mode
            self.value = value

    def __init__(self) -> None:
        words = [f"{c.name} " for c in COMMANDS] + [f"{a} " for c in COMMANDS for a in c.aliases]
        self._commands = SuggestFromList(words)
        super().__init__(classes="prompt")
        self.mode = ":"
        self.display = False

    def open(self, mode: str, value: str = "", placeholder: str | None = None) -> None:
        self.mode = mode
        self.suggester = self._commands if mode == ":" else None
        self.border_title = mode
        self.placeholder = placeholder or PLACEHOLDER.get(mode, "")
        self.value = value
        self.display = True
        self.focus()
        self.cursor_position = len(value)

    def close(self) -> None:
        self.display = False
        self.screen.focus_main()

    def action_cancel(self) -> None:
        self.close()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = self.value
        self.close()
        self.post_message(self.Done(self.mode, value))
