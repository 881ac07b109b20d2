"""Screenshot (SVG) tests with pytest-textual-snapshot: one per theme, one per view.

Everything that varies is pinned: the snapshot is the fixture (fixed hostname
and collected_at), there is no clock, no refresh (interval 0), no blinking
cursor, a fixed terminal size. After an intended change of looks, review and
accept with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import pytest

from nsview.tui import factory
from nsview.tui.app import NsviewApp
from nsview.tui.factory import AppOptions, SnapshotSource
from nsview.tui.themes import builtin_theme_dir, load_themes
from tests.tui_data import HOST_NS, LAB_A_NET, fixture_snapshot
from tests.tui_drive import walk_to

HOST_NET = HOST_NS["net"]

THEMES = ("nsview-dark", "nsview-light", "nsview-contrast")


def make_app(theme: str = "nsview-dark") -> NsviewApp:
    options = AppOptions(
        SnapshotSource.given(fixture_snapshot()),
        themes=load_themes([builtin_theme_dir()]),
        theme=theme,
    )
    return factory.make_app(options)


async def settle(pilot) -> None:
    """Wait until the footer has drawn its keys (it does so a moment after start)."""
    for _ in range(500):
        if pilot.app.screen.query("FooterKey"):
            break
        await pilot.pause(0.01)
    await pilot.pause()


async def open_bridge_port(pilot) -> None:
    """Network view, host netns open, docker0 open, cursor on the veth port vethaaa."""
    await walk_to(pilot, (f"ns:net:{HOST_NET}", "if:3", "if:5"), view="network")  # vethaaa
    await settle(pilot)


@pytest.mark.parametrize("theme", THEMES)
def test_network_view_per_theme(snap_compare, theme):
    assert snap_compare(make_app(theme), run_before=open_bridge_port, terminal_size=(110, 32))


def test_namespaces_view(snap_compare):
    async def run_before(pilot):
        await walk_to(pilot, ("type:net", f"ns:net:{LAB_A_NET}", "h:1"))  # its bind mount
        await settle(pilot)

    assert snap_compare(make_app(), run_before=run_before, terminal_size=(110, 32))


def test_processes_view(snap_compare):
    async def run_before(pilot):
        # a container shim's namespaces, open
        await walk_to(pilot, ("p:1", "p:500", "p:600", "ns", "ns:ipc"), view="processes")
        await settle(pilot)

    assert snap_compare(make_app(), run_before=run_before, terminal_size=(110, 32))


def test_nat_rules(snap_compare):
    async def run_before(pilot):
        await pilot.press("2", "slash", *"172.17.0.2", "enter")
        await settle(pilot)

    assert snap_compare(make_app(), run_before=run_before, terminal_size=(110, 32))


def test_small_terminal(snap_compare):
    assert snap_compare(make_app(), run_before=open_bridge_port, terminal_size=(80, 24))


def test_help_screen(snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), run_before=run_before, terminal_size=(100, 36))
