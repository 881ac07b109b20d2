"""A fleet in the TUI: the hosts of a fleet file, one shown at a time.

``H`` opens :class:`HostsScreen`: every host with its status (and why a failed
one failed), and — while a filter is set — how many rows match it on each
host, so a filter finds things across the fleet. Choosing a host shows its
snapshot in every view; a jump to a tunnel's far end switches host too.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from nsview.analyze.lookup import Lookup
from nsview.analyze.search import Query, filter_view
from nsview.analyze.views import build_views
from nsview.model.fleet import Fleet, FleetHost


def matches_on(host: FleetHost, query: Query) -> int:
    """Rows of every view of ``host`` that ``query`` matches."""
    views = build_views(Lookup(host.snapshot))
    return sum(len(filter_view(view, query).matches) for view in views.values())


def host_label(host: FleetHost) -> str:
    return host.identity.hostname or host.target


class HostsScreen(ModalScreen[str | None]):
    """Pick the host to show; dismissed with its target (None: keep the current one)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", show=True),
    ]

    def __init__(self, fleet: Fleet, current: str, query: Query | None) -> None:
        super().__init__()
        self.fleet = fleet
        self.current = current
        self.query_ = query

    def compose(self) -> ComposeResult:
        title = f"{len(self.fleet.hosts)} hosts"
        if self.query_ is not None:
            title += f" · rows matching “{self.query_.text}”"
        options = []
        for host in self.fleet.hosts:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append("● " if host.target == self.current else "  ", style="bold")
            if host.status == "ok" and host.snapshot is not None:
                snap = host.snapshot
                nets = sum(1 for ns in snap.namespaces if ns.type == "net")
                line.append(host_label(host), style="bold")
                line.append(f"  {host.target}" if host.target != host_label(host) else "")
                line.append(f"  {len(snap.processes)} procs · {nets} netns", style="dim")
                if self.query_ is not None:
                    count = matches_on(host, self.query_)
                    line.append(f"  {count} match{'es' if count != 1 else ''}",
                                style="bold" if count else "dim")
                options.append(Option(line, id=host.target))
            else:
                line.append(host.target, style="bold")
                line.append(f"  failed: {host.error}", style="italic")
                options.append(Option(line, id=host.target, disabled=True))
        with Vertical(id="hosts-box"):
            yield Static(Text(title, style="bold underline"), id="hosts-title")
            yield OptionList(*options, id="hosts-list")
            yield Static(self._overlays_text(), id="hosts-overlays")
            yield Static(Text("enter shows a host · escape keeps this one", style="dim"))

    def _overlays_text(self) -> Text:
        """The overlay networks across the hosts: one VNI, its members."""
        from nsview.analyze.overlay import match_overlays

        found = match_overlays(self.fleet)
        text = Text()
        for overlay in found.overlays:
            members = ", ".join(end.label for end in overlay.ends)
            text.append(f"overlay VNI {overlay.vni}", style="bold")
            text.append(f" on {len(overlay.hosts)} hosts: {members}\n")
        if not found.overlays:
            text.append("no overlay network spans two hosts", style="dim")
        return text

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        for i, host in enumerate(self.fleet.hosts):
            if host.target == self.current:
                listing.highlighted = i
        listing.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)
