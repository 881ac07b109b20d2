"""The ``?`` help screen: every key, generated from the bindings so it never goes stale."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

TREE_KEYS = (
    ("↑ ↓  j k", "move"),
    ("enter  l  →", "expand (on an open row: go to its first child)"),
    ("h  ←", "collapse (on a closed row: go to its parent)"),
    ("space", "expand or collapse"),
    ("shift+↑ ↓", "previous / next sibling"),
    ("pgup pgdn home end", "page / top / bottom"),
    ("tab", "to the related list in the detail pane (enter jumps)"),
    ("mouse", "click a row, a ▶ to expand, a tab, a related row to jump"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", show=True),
    ]

    def __init__(self, keys: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.keys = keys  # (key, title, help) of the app's actions

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_row(Text("nsview keys", style="bold underline"), "")
        for key, title, help_text in self.keys:
            table.add_row(key, f"{title}" + (f": {help_text}" if help_text else ""))
        table.add_row("", "")
        table.add_row(Text("in a tree", style="bold underline"), "")
        for key, what in TREE_KEYS:
            table.add_row(key, what)
        table.add_row("", "")
        table.add_row("ctrl+p", "command palette: every action by name")
        table.add_row("", Text("escape, q or ? closes this screen", style="dim"))
        with VerticalScroll(id="help-box"):
            yield Static(table, id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)
