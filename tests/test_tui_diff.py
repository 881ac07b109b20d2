"""`nsview --load A.json --diff B.json`: B with what changed since A marked; c lists all."""

from __future__ import annotations

import asyncio
import copy
import subprocess

from nsview.analyze.diff import diff_snapshots
from nsview.analyze.diff_marks import marks
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import InterfaceRef, NamespaceRef, NatRuleRef
from nsview.model import Namespace, NatRule, NetState, snapshot_to_json
from nsview.tui import factory
from nsview.tui.changes import ChangesScreen
from nsview.tui.factory import AppOptions, SnapshotSource
from nsview.tui.themes import load_themes
from tests.conftest import nsview_bin
from tests.tui_data import HOST_NS, WEB_NET, fixture_snapshot
from tests.tui_drive import walk_to

HOST_NET = HOST_NS["net"]
NEW_NET = 4026539999
DNAT = "-A DOCKER -p tcp --dport 9090 -j DNAT --to-destination 172.17.0.9:90"


def _before_after():
    a = fixture_snapshot()
    b = copy.deepcopy(a)
    web = next(ns for ns in b.namespaces if ns.type == "net" and ns.inode == WEB_NET)
    web.net.interfaces[1].mtu = 1400  # eth0
    del web.net.routes[0]  # the default route went
    host = next(ns for ns in b.namespaces if ns.type == "net" and ns.inode == HOST_NET)
    docker = next(c for c in host.net.nat[0].chains if c.name == "DOCKER")
    docker.rules.append(NatRule(text=DNAT, target="DNAT"))
    b.namespaces.append(Namespace(type="net", inode=NEW_NET, names=["nsvt-leaked"], net=NetState()))
    return a, b


def test_marks_point_at_the_changed_rows_of_b():
    a, b = _before_after()
    lookup = Lookup(b)
    found = marks(diff_snapshots(a, b), lookup)
    assert found[NamespaceRef("net", NEW_NET)] == "added"
    assert found[InterfaceRef(WEB_NET, 2)] == "changed"
    assert found[NamespaceRef("net", WEB_NET)] == "changed"  # something inside changed
    host = lookup.namespace("net", HOST_NET)
    chain = next(i for i, c in enumerate(host.net.nat[0].chains) if c.name == "DOCKER")
    rule = len(host.net.nat[0].chains[chain].rules) - 1
    assert found[NatRuleRef(HOST_NET, 0, chain, rule, "nat")] == "added"
    assert InterfaceRef(WEB_NET, 1) not in found  # lo did not change


def _app(tmp_path):
    a, b = _before_after()
    a_file, b_file = tmp_path / "a.json", tmp_path / "b.json"
    a_file.write_text(snapshot_to_json(a))
    b_file.write_text(snapshot_to_json(b))
    from nsview.cli.tui_options import load_snapshot_file

    source = SnapshotSource.file(str(b_file), load_snapshot_file).with_diff_base(a, str(a_file))
    return factory.make_app(AppOptions(source, themes=load_themes()))


def _drive(app, script):
    async def main():
        async with app.run_test(size=(120, 34)) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(main())


def test_the_tui_marks_changes_and_c_lists_them_and_jumps(tmp_path):
    app = _app(tmp_path)

    async def script(pilot):
        status = str(app.query_one("#status").render())
        assert "changes since" in status
        await walk_to(pilot, (f"ns:net:{WEB_NET}", "if:2"), view="network")
        line = app.tree().render_label(
            app.tree().cursor_node, app.tree().rich_style, app.tree().rich_style
        )
        assert line.plain.lstrip().startswith("~ ")
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChangesScreen)
        listing = screen.query_one("#changes-list")
        texts = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
        removed = [i for i, t in enumerate(texts) if t.startswith("- ") and "default" in t]
        assert removed and listing.get_option_at_index(removed[0]).disabled
        added_ns = next(i for i, t in enumerate(texts) if t.startswith("+ ") and "nsvt-leaked" in t)
        listing.highlighted = added_ns
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ChangesScreen)
        assert app.selected_ref() == NamespaceRef("net", NEW_NET)

    _drive(app, script)


def test_diff_needs_load():
    done = subprocess.run([nsview_bin(), "--diff", "b.json"], capture_output=True, text=True)
    assert done.returncode == 2 and "--diff B.json needs --load A.json" in done.stderr
