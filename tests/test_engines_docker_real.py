"""Attribution on a real Docker 20.10 daemon (tests/docker_daemon.py), every
network mode the issue lists, read from the daemon's own state on disk."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nsview.collect import CollectOptions, collect_snapshot
from tests.conftest import nsview_bin, unique
from tests.docker_daemon import IMAGE, docker_daemon_fixture

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def dockerd():
    yield from docker_daemon_fixture()


def _snapshot(daemon, *names: str, net: bool = True):
    """A snapshot reading the network of these containers and of the daemon only
    (a crowded host has hundreds of netns)."""
    pids = [daemon.inspect(n)["State"]["Pid"] for n in names]
    return collect_snapshot(CollectOptions(net=net, net_pids=(*pids, daemon.pid)))


def _networks(snap, daemon) -> dict:
    """This daemon's networks (the lab, or another engine, may have a "bridge" too)."""
    ours = (f"/proc/{daemon.pid}/root{daemon.data_root}/", f"socket:/proc/{daemon.pid}/root")
    return {n.name: n for n in snap.networks if (n.source or "").startswith(ours)}


def _container(snap, name: str):
    (found,) = [c for c in snap.containers if c.name == name]
    return found


def _ns_inode(pid: int, ns_type: str = "net") -> int:
    return os.stat(f"/proc/{pid}/ns/{ns_type}").st_ino


@pytest.fixture
def names(dockerd):
    """Unique container names for one test; removed afterwards."""
    made: list[str] = []

    def make(stem: str) -> str:
        made.append(unique(stem))
        return made[-1]

    try:
        yield make
    finally:
        if made:
            dockerd.docker("rm", "-f", *made, check=False)


def test_bridge_with_published_port(dockerd, names):
    web = names("web")
    dockerd.docker("run", "-d", "--name", web, "-p", "18080:80", IMAGE, "httpd", "-f", "-p", "80")
    info = dockerd.inspect(web)
    snap = _snapshot(dockerd, web)
    found = _container(snap, web)

    assert found.id == info["Id"] and found.engine == "docker" and found.image == IMAGE
    assert found.main_pid == info["State"]["Pid"]
    assert found.ns["net"] == _ns_inode(found.main_pid)
    assert found.network_mode == "bridge" and found.kernel_network_mode == "private"
    (attachment,) = found.networks
    settings = info["NetworkSettings"]["Networks"]["bridge"]
    assert attachment.name == "bridge" and attachment.bridge == "docker0"
    assert attachment.ip == f"{settings['IPAddress']}/{settings['IPPrefixLen']}"
    assert attachment.mac == settings["MacAddress"] and attachment.interface == "eth0"
    # Docker 20.10 publishes on IPv4 and, where the host has it, IPv6 ("::").
    published = {(p.host_port, p.container_port, p.protocol) for p in found.ports}
    assert published == {(18080, 80, "tcp")}
    assert "0.0.0.0" in {p.host_ip for p in found.ports}
    # The daemon runs in a mount namespace of its own: its root is read through it.
    root = f"/proc/{dockerd.pid}/root{dockerd.data_root}"
    assert found.source["name"] == f"{root}/containers/{found.id}/config.v2.json"

    # The network's bridge is docker0 in the daemon's netns, and it is there.
    bridge = _networks(snap, dockerd)["bridge"]
    assert bridge.bridge == "docker0" and bridge.bridge_netns == dockerd.netns_inode()
    assert bridge.source == f"{root}/network/files/local-kv.db"
    daemon_ns = snap.namespace("net", dockerd.netns_inode())
    assert "docker0" in {i.name for i in daemon_ns.net.interfaces if i.kind == "bridge"}

    # Back-pointers, for every process in its cgroup.
    assert found.pids and {snap.process(p).container for p in found.pids} == {found.id}
    assert found.id in snap.namespace("net", found.ns["net"]).containers


def test_host_none_and_container_modes(dockerd, names):
    web, host, none, join = names("web"), names("host"), names("none"), names("join")
    dockerd.docker("run", "-d", "--name", web, IMAGE, "sleep", "600")
    dockerd.docker("run", "-d", "--name", host, "--network", "host", IMAGE, "sleep", "600")
    dockerd.docker("run", "-d", "--name", none, "--network", "none", IMAGE, "sleep", "600")
    dockerd.docker("run", "-d", "--name", join, "--network", f"container:{web}", IMAGE,
                   "sleep", "600")
    snap = _snapshot(dockerd, web, host, none, join)

    found_host = _container(snap, host)
    assert found_host.network_mode == "host"
    # The daemon's netns is this engine's host.
    assert found_host.ns["net"] == dockerd.netns_inode()
    assert found_host.kernel_network_mode == "host"

    found_none = _container(snap, none)
    assert (found_none.network_mode, found_none.kernel_network_mode) == ("none", "none")

    found_join = _container(snap, join)
    assert found_join.network_mode == f"container:{web}"
    assert found_join.kernel_network_mode == f"container:{web}"
    assert found_join.ns["net"] == _container(snap, web).ns["net"]
    assert found_join.ns["pid"] != _container(snap, web).ns["pid"]


def test_user_defined_networks_and_two_networks(dockerd, names):
    appnet, named = unique("an"), unique("nn")
    bridge_name = unique("br")
    dockerd.docker("network", "create", appnet)
    dockerd.docker("network", "create", "-o", f"com.docker.network.bridge.name={bridge_name}",
                   named)
    try:
        both = names("both")
        dockerd.docker("run", "-d", "--name", both, "--network", appnet,
                       "-l", "com.docker.compose.project=nsvtdemo", IMAGE, "sleep", "600")
        dockerd.docker("network", "connect", named, both)
        info = dockerd.inspect(both)
        snap = _snapshot(dockerd, both)
        found = _container(snap, both)
        app_id = json.loads(dockerd.docker("network", "inspect", appnet))[0]["Id"]

        assert found.network_mode == appnet and found.project == "nsvtdemo"
        by_name = {n.name: n for n in found.networks}
        assert by_name[appnet].bridge == f"br-{app_id[:12]}"
        assert by_name[named].bridge == bridge_name
        assert {by_name[appnet].interface, by_name[named].interface} == {"eth0", "eth1"}
        for name, attachment in by_name.items():
            settings = info["NetworkSettings"]["Networks"][name]
            assert attachment.mac == settings["MacAddress"]
            assert attachment.network_id == settings["NetworkID"]

        networks = _networks(snap, dockerd)
        assert networks[appnet].id == app_id and networks[appnet].driver == "bridge"
        assert networks[appnet].subnet.startswith("198.18.")
        assert networks[named].bridge == bridge_name
        daemon_ns = snap.namespace("net", dockerd.netns_inode())
        bridges = {i.name for i in daemon_ns.net.interfaces if i.kind == "bridge"}
        assert {f"br-{app_id[:12]}", bridge_name} <= bridges
    finally:
        dockerd.docker("rm", "-f", *[n for n in (locals().get("both"),) if n], check=False)
        dockerd.docker("network", "rm", appnet, named, check=False)


def test_restarted_container_is_attributed_by_this_walk(dockerd, names):
    web = names("rst")
    dockerd.docker("run", "-d", "--name", web, IMAGE, "sleep", "600")
    first = dockerd.inspect(web)["State"]["Pid"]
    dockerd.docker("restart", "-t", "0", web)
    second = dockerd.inspect(web)["State"]["Pid"]
    assert second != first
    snap = _snapshot(dockerd, web, net=False)
    found = _container(snap, web)
    assert found.main_pid == second and first not in found.pids
    # A new netns (the kernel may give it the old inode again: compare with now).
    assert found.ns["net"] == _ns_inode(second)
    assert snap.process(second).container == found.id


def test_networks_from_the_socket_when_local_kv_is_unreadable(dockerd, names):
    web = names("sock")
    dockerd.docker("run", "-d", "--name", web, IMAGE, "sleep", "600")
    kv = Path(dockerd.data_root, "network", "files", "local-kv.db")
    hidden = kv.with_name("local-kv.db.nsvt-hidden")
    kv.rename(hidden)  # the daemon keeps its open fd; we only hide the name
    try:
        snap = _snapshot(dockerd, web, net=False)
    finally:
        hidden.rename(kv)
    bridge = _networks(snap, dockerd)["bridge"]
    assert bridge.source == f"socket:/proc/{dockerd.pid}/root{dockerd.socket}"
    assert bridge.bridge == "docker0" and bridge.subnet == "198.18.200.0/24"
    assert _container(snap, web).networks[0].bridge == "docker0"


def test_dump_json_lists_the_containers(dockerd, names):
    web = names("dump")
    dockerd.docker("run", "-d", "--name", web, IMAGE, "sleep", "600")
    cid = dockerd.inspect(web)["Id"]
    out = subprocess.run(
        [nsview_bin(), "dump", "--json", "--no-net"], capture_output=True, text=True, check=True,
        timeout=120,
    ).stdout
    data = json.loads(out)
    (found,) = [c for c in data["containers"] if c["id"] == cid]
    assert found["name"] == web and found["engine"] == "docker"
    assert {p["container"] for p in data["processes"] if p["pid"] in found["pids"]} == {cid}


def test_targets_name_id_prefix_and_close_matches(dockerd, names):
    web = names("tgt")
    dockerd.docker("run", "-d", "--name", web, IMAGE, "sleep", "600")
    info = dockerd.inspect(web)
    env = {**os.environ}

    def nsview(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([nsview_bin(), *args], capture_output=True, text=True, env=env,
                              timeout=120)

    # nsview net NAME: the container's netns.
    shown = nsview("net", web, "--json")
    assert shown.returncode == 0, shown.stderr
    netns = json.loads(shown.stdout)
    assert netns["inode"] == _ns_inode(info["State"]["Pid"])
    assert "eth0" in {i["name"] for i in netns["net"]["interfaces"]}
    # exec accepts the same names: a name and a unique id prefix.
    for spec in (web, info["Id"][:10]):
        ran = nsview("exec", "--target", spec, "--", "/bin/cat", "/etc/hostname")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == info["Config"]["Hostname"]
    # An unknown name: what was tried, and the close ones.
    wrong = nsview("net", web + "x")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert f"nothing named '{web}x'" in wrong.stderr and f"close: {web}" in wrong.stderr
    wrong = nsview("exec", "--target", web[:-1] + "q", "--", "/bin/true")
    assert wrong.returncode == 1 and web in wrong.stderr.split("close:")[1]


def test_labels_name_containers_networks_and_the_host(dockerd, names):
    from nsview.analyze.labels import interface_label, namespace_label, plain, process_label
    from nsview.analyze.lookup import Lookup

    appnet = unique("an")
    dockerd.docker("network", "create", appnet)
    attached = unique("nh")
    # The host's netns under an ip netns name: still "host".
    subprocess.run(["ip", "netns", "attach", attached, str(os.getpid())], check=True)
    try:
        web = names("lbl")
        dockerd.docker("run", "-d", "--name", web, "--network", appnet, IMAGE, "sleep", "600")
        snap = _snapshot(dockerd, web)
        lk = Lookup(snap)
        found = _container(snap, web)
        netns = lk.namespace("net", found.ns["net"])
        assert lk.label(netns) == web
        assert plain(namespace_label(netns, lk)).split("  ")[1] == web
        assert f"[{web}]" in plain(process_label(lk.process(found.main_pid), lk))
        daemon_ns = lk.namespace("net", dockerd.netns_inode())
        bridge = _networks(snap, dockerd)[appnet].bridge
        (iface,) = [i for i in daemon_ns.net.interfaces if i.name == bridge]
        assert f"network {appnet}" in plain(interface_label(daemon_ns.inode, iface, lk))
        host = lk.namespace("net", os.stat("/proc/self/ns/net").st_ino)
        if lk.is_initial(host):
            assert attached in host.names and lk.label(host) == "host"
    finally:
        subprocess.run(["ip", "netns", "del", attached], capture_output=True)
        dockerd.docker("rm", "-f", *[n for n in (locals().get("web"),) if n], check=False)
        dockerd.docker("network", "rm", appnet, check=False)
