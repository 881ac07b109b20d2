"""The TUI on a fleet file: one host at a time, H picks, filter counts and tunnel
jumps across hosts."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess

from nsview.model import Address, FdbEntry, Interface, VxlanInfo
from nsview.model.fleet import Fleet, FleetHost, HostIdentity, fleet_to_json
from nsview.tui import factory
from nsview.tui.factory import AppOptions, SnapshotSource
from nsview.tui.hosts import HostsScreen
from nsview.tui.themes import load_themes
from tests.conftest import nsview_bin
from tests.tui_data import HOST_NS, fixture_snapshot
from tests.tui_drive import walk_to

HOST_NET = HOST_NS["net"]
VXLAN = (f"ns:net:{HOST_NET}", "if:40")


def _host(target: str, local: str, remote: str, extra: str | None = None) -> FleetHost:
    snap = copy.deepcopy(fixture_snapshot())
    snap.host.hostname = target
    host_net = next(ns for ns in snap.namespaces if ns.type == "net" and ns.inode == HOST_NET)
    host_net.net.interfaces.append(
        Interface(
            name="vxlan0",
            ifindex=40,
            kind="vxlan",
            operstate="UNKNOWN",
            flags=["UP"],
            mtu=1450,
            vxlan=VxlanInfo(
                vni=4242,
                port=4789,
                local=local,
                dev="eth0",
                fdb=[FdbEntry("00:00:00:00:00:00", dst=remote)],
            ),
        )
    )
    host_net.net.interfaces.append(
        Interface(
            name="underlay0", ifindex=41, kind="device", addresses=[Address("inet", f"{local}/24")]
        )
    )
    if extra:
        host_net.net.interfaces.append(Interface(name=extra, ifindex=42, kind="device"))
    return FleetHost(
        target=target, status="ok", identity=HostIdentity(hostname=target), snapshot=snap
    )


def _fleet() -> Fleet:
    return Fleet(
        collected_at="2026-12-02T00:00:00Z",
        hosts=[
            _host("node-a", "198.18.9.1", "198.18.9.2"),
            FleetHost(target="ssh://root@node-x", error="unreachable: No route to host"),
            _host("node-b", "198.18.9.2", "198.18.9.1", extra="onlyonb0"),
        ],
    )


def _app(tmp_path):
    path = tmp_path / "fleet.json"
    fleet = _fleet()
    path.write_text(fleet_to_json(fleet))
    return factory.make_app(
        AppOptions(SnapshotSource.fleet_file(str(path), fleet), themes=load_themes())
    )


def _drive(app, script):
    async def main():
        async with app.run_test(size=(110, 32)) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(main())


def _status(app) -> str:
    return str(app.query_one("#status").render())


def test_hosts_one_at_a_time_and_a_tunnel_jump_switches_host(tmp_path):
    app = _app(tmp_path)

    async def script(pilot):
        assert app.host_target == "node-a"
        assert "host 1/3" in _status(app) and "node-a" in _status(app)
        # The vxlan end on node-a leads to its far end on node-b.
        await walk_to(pilot, VXLAN, view="network")
        rels = app.selected_relations()
        tunnel = [r for r in rels if r.host == "node-b"]
        assert tunnel and "tunnel VNI 4242 to node-b" in tunnel[0].text
        assert app.jump_to(tunnel[0])
        await pilot.pause()
        assert app.host_target == "node-b"
        assert "host 3/3" in _status(app)
        assert app.tree().cursor_path() == VXLAN
        assert app.snapshot.host.hostname == "node-b"

    _drive(app, script)


def test_the_host_picker_counts_filter_matches_and_switches(tmp_path):
    app = _app(tmp_path)

    async def script(pilot):
        app.set_filter("onlyonb0")
        await pilot.pause(0.3)
        await pilot.press("H")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HostsScreen)
        listing = screen.query_one("#hosts-list")
        texts = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
        assert "0 matches" in texts[0]
        assert "failed: unreachable" in texts[1] and listing.get_option_at_index(1).disabled
        assert "1 match" in texts[2]
        overlays = str(screen.query_one("#hosts-overlays").render())
        assert "overlay VNI 4242 on 2 hosts" in overlays
        listing.highlighted = 2
        await pilot.press("enter")
        await pilot.pause()
        assert app.host_target == "node-b"
        assert not isinstance(app.screen, HostsScreen)

    _drive(app, script)


def test_cli_opens_a_fleet_file_and_rejects_it_where_one_snapshot_is_needed(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text(fleet_to_json(_fleet()))
    done = subprocess.run(
        [nsview_bin(), "diff", str(path), str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "fleet file" in done.stderr
    shown = subprocess.run(
        [nsview_bin(), "fleet", "show", str(path), "--json"], capture_output=True, text=True
    )
    assert json.loads(shown.stdout)["tunnels"][0]["a"]["vni"] == 4242
