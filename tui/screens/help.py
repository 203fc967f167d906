"""`?`: the keys of the screen underneath, with what they do, and the command line."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ..filters import COMMANDS

GLOBAL = [("↑↓ j k", "move"), ("pgup pgdn", "page"), ("enter", "open"), ("1 2 3 4 5", "Runs, Data, Plans, Pipeline, Metadata"),
          ("?", "this help"), (":", "command line"), ("ctrl+p", "command palette"), ("q", "quit")]


def _key(b) -> str:
    return b.key_display or b.key.replace("colon", ":").replace("slash", "/")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, target: Screen) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(self._content())

    def _content(self):
        title = getattr(self.target, "TITLE", "") or type(self.target).__name__
        out = Table.grid(padding=(0, 2))
        out.add_column(style="bold cyan", no_wrap=True, min_width=10)
        out.add_column()
        seen = set()
        rows = []
        for active in self.target.active_bindings.values():
            b = active.binding
            k = _key(b)
            if not isinstance(active.node, (Screen, App)) or not b.description or k in seen:
                continue
            seen.add(k)
            rows.append((k, b.description))
        for k, d in GLOBAL:
            if k not in {r[0] for r in rows}:
                rows.append((k, d))
        for k, d in rows:
            out.add_row(k, d)
        cmds = Table.grid(padding=(0, 2))
        cmds.add_column(style="bold cyan", no_wrap=True, min_width=18)
        cmds.add_column()
        for c in COMMANDS:
            cmds.add_row(c.usage, c.help + (f"  (also :{', :'.join(c.aliases)})" if c.aliases else ""))
        from rich.console import Group

        help_text = getattr(self.target, "HELP", "")
        return Group(
            Text(f"{title} — keys", style="bold underline"), Text(help_text, style="italic") if help_text else Text(""),
            Text(""), out, Text(""), Text("Command line", style="bold underline"), cmds, Text(""),
            Text("Filters (/): status:failed or a bare status, plan:ID, image:NAME, key:value tags, "
                 "re:REGEX or any other word as a regular expression.", style="dim"),
            Text("esc closes this help", style="dim"),
        )

    async def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
