"""doctor's findings in the TUI (the Problems view, the header's count) and in nsview net."""

from __future__ import annotations

import asyncio

from nsview.analyze.details import details
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import FindingRef, InterfaceRef, NamespaceRef, ProcessRef
from nsview.analyze.relations import relations
from nsview.analyze.views import build_views
from nsview.tui.factory import AppOptions, SnapshotSource, make_app
from nsview.tui.themes import load_themes

from . import doctor_data as d


def broken():
    s = d.host()
    d.link(s, d.WEB, "eth0").mtu = 1400  # veth-mtu-mismatch (warning)
    return s


def test_problems_view_rows_details_and_jumps():
    lk = Lookup(broken())
    views = build_views(lk)
    view = views["problems"]
    (root,) = view.roots()
    assert isinstance(root.ref, FindingRef) and "veth-mtu-mismatch" in root.text
    assert root.ref.subject == NamespaceRef("net", d.HOST)
    kids = view.children(root)
    assert [k.ref for k in kids[:2]] == [InterfaceRef(d.HOST, 10), InterfaceRef(d.WEB, 2)]
    assert any(k.text.startswith("seen: ") for k in kids)
    assert kids[-1].text == "fix (not run): ip link set vethweb mtu 1400"
    rows = dict(details(lk, root.ref).rows)
    assert rows["fix (not run)"] == "ip link set vethweb mtu 1400" and "problem" in rows
    rels = relations(lk, root.ref, "problems")
    assert [r.ref for r in rels] == [InterfaceRef(d.HOST, 10), InterfaceRef(d.WEB, 2)]
    for rel in rels:
        assert views[rel.view].locate(rel.ref) is not None
    assert view.locate(root.ref) == (root.key,)
    for kid in kids:  # every row has a detail
        assert details(lk, kid.ref).title


def test_healthy_snapshot_says_no_problems():
    lk = Lookup(d.host())
    (row,) = build_views(lk)["problems"].roots()
    assert "no problems" in row.text and lk.problems == 0


def test_app_header_counts_problems_and_4_opens_them_g_jumps():
    app = make_app(AppOptions(SnapshotSource.given(broken()), themes=load_themes()))

    async def main():
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause()
            status = str(app.query_one("#status").render())
            assert "1 problem (5)" in status
            await pilot.press("5")
            assert app.current_view == "problems"
            item = app.tree().cursor_item()
            assert item is not None and "veth-mtu-mismatch" in item.text
            await pilot.press("g")
            assert app.current_view == "network"
            assert app.tree().cursor_item().ref == InterfaceRef(d.HOST, 10)

    asyncio.run(main())


def test_nsview_net_lists_the_findings_about_its_netns(capsys):
    from nsview.cli.net_render import namespace_view
    from nsview.cli.output import rich_console

    s = broken()
    ns = s.namespace("net", d.WEB)
    rich_console().print(namespace_view(ns, Lookup(s)))
    out = capsys.readouterr().out
    assert "veth-mtu-mismatch" in out and "ip link set vethweb mtu 1400" in out


def test_a_zombie_finding_jumps_to_its_pid_namespace_and_process():
    from .test_doctor_checks import _zombie_pidns

    lk = Lookup(_zombie_pidns(d.host()))
    views = build_views(lk)
    (root,) = [r for r in views["problems"].roots() if "zombie" in r.text]
    rels = relations(lk, root.ref, "problems")
    assert [(r.ref, r.view) for r in rels] == [(NamespaceRef("pid", 900), "namespaces"),
                                                (ProcessRef(70), "processes")]
    for rel in rels:
        assert views[rel.view].locate(rel.ref) is not None
    kids = views["problems"].children(root)
    assert [k.ref for k in kids[:2]] == [NamespaceRef("pid", 900), ProcessRef(70)]
