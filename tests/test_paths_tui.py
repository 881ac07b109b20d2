"""``p`` in the TUI: the paths of a DNAT rule (or a process) as a list whose hops
jump to their rows."""

from __future__ import annotations

import asyncio

from textual.widgets import OptionList

from nsview.analyze.paths.jumps import hop_relation, questions_for, traces_for
from nsview.analyze.refs import InterfaceRef, NatRuleRef, ProcessRef
from nsview.analyze.relations import Relation
from nsview.model import Socket
from nsview.tui import factory
from nsview.tui.factory import AppOptions, SnapshotSource
from nsview.tui.paths import PathScreen
from nsview.tui.themes import load_themes
from tests.tui_data import HOST_NS, WEB_NET, fixture_snapshot

HOST_NET = HOST_NS["net"]
DNAT_RULE = NatRuleRef(HOST_NET, 0, 2, 0)  # -A DOCKER … --dport 8080 -j DNAT …172.17.0.2:80


def _snapshot():
    snap = fixture_snapshot()
    web = snap.namespace("net", WEB_NET)
    web.net.sockets = [
        Socket("tcp", "inet", "LISTEN", "0.0.0.0:80", address="0.0.0.0", port=80, pids=[601],
               inode=9),
    ]
    return snap


def _app():
    feed = SnapshotSource.given(_snapshot())
    return factory.make_app(AppOptions(feed, themes=load_themes()))


def test_a_dnat_rule_asks_for_its_port_and_every_hop_has_a_jump():
    from nsview.analyze.lookup import Lookup

    lk = Lookup(_snapshot())
    (question,) = questions_for(lk, DNAT_RULE)
    assert (question.kind, question.netns, question.port) == ("port", HOST_NET, 8080)
    traces = traces_for(lk, DNAT_RULE)
    external = next(p for p in traces[0].paths if p.arrival == "external")
    assert external.verdict == "reaches" and external.listener.pids == [601]
    for hop in external.hops:
        assert hop_relation(lk, hop) is not None, hop
    nat = next(h for h in external.hops if h.kind == "nat")
    assert hop_relation(lk, nat).ref == DNAT_RULE
    # A process: the DNAT that leads to its socket, and its way out.
    kinds = [q.kind for q in questions_for(lk, ProcessRef(601))]
    assert kinds == ["port", "egress"]


def test_p_opens_the_paths_and_enter_jumps_to_the_hop():
    app = _app()

    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert app.jump_to(Relation("dnat", DNAT_RULE, "network"))
            await pilot.press("p")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, PathScreen)
            options = screen.query_one(OptionList)
            # Pick the veth crossing: its row is an interface in the network view.
            wanted = next(k for k, rel in screen.jumps.items()
                          if isinstance(rel.ref, InterfaceRef) and rel.ref.netns == HOST_NET
                          and "veth" in rel.text)
            options.highlighted = options.get_option_index(wanted)
            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, PathScreen)
            target = screen.jumps[wanted].ref
            assert app.current_view == "network"
            assert app.selected_ref() == target

    asyncio.run(main())


def test_p_where_there_is_nothing_to_trace_says_so():
    app = _app()

    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.show_view("namespaces")
            await pilot.pause()
            app.tree().cursor_line = 0  # the "cgroup" type group: no network in it
            await pilot.press("p")
            await pilot.pause()
            assert not isinstance(app.screen, PathScreen)

    asyncio.run(main())


def test_every_hop_of_real_rules_jumps_to_a_row_the_network_view_shows():
    """Filter rules, sockets, routes, veths: each hop's row is resolved and located."""
    from nsview.analyze.lookup import Lookup
    from nsview.analyze.refs import SocketRef, resolve
    from nsview.analyze.views.network import NetworkView
    from tests.test_paths_unit import CLIENT, WEB
    from tests.test_paths_unit import _snapshot as docker_snapshot

    lk = Lookup(docker_snapshot())
    view = NetworkView(lk)
    traces = traces_for(lk, SocketRef(WEB, 0)) + traces_for(lk, ProcessRef(200))
    traces += traces_for(lk, NatRuleRef(lk.snapshot.namespaces[0].inode, 0, 4, 1))
    from nsview.analyze.paths import Tracer

    traces.append(Tracer(lk.snapshot).egress(CLIENT))
    seen = set()
    for trace in traces:
        for path in trace.paths:
            for hop in path.hops:
                rel = hop_relation(lk, hop)
                assert rel is not None, hop
                if rel.view == "network":
                    assert resolve(lk, rel.ref) is not None, hop
                    assert view.locate(rel.ref) is not None, hop
                seen.add(type(rel.ref).__name__ + getattr(rel.ref, "where", ""))
    assert {"NatRuleRefnat", "NatRuleReffilter", "SocketRef", "RouteRef",
            "InterfaceRef"} <= seen
