"""podman for real (tests/real_engines.py): rootful containers on a bridge network
with a published port, host/none/container: modes, a pod, a restart, and a
rootless container; checked in ``nsview dump --json`` of the whole host, where
they are found by their own (unique) names among whatever else runs here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nsview.collect.engines.podman import sandbox_inode
from tests.conftest import nsview_bin, unique
from tests.real_engines import IMAGE, rootful_podman, rootless_podman

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


def dump() -> dict:
    proc = subprocess.run([nsview_bin(), "dump", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def by_name(snap: dict, engine: str = "podman") -> dict[str, dict]:
    return {c["name"]: c for c in snap["containers"] if c["engine"] == engine and c["name"]}


def netns_of(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


@pytest.fixture(scope="module")
def rootful():
    """One podman with: web (bridge, -p), a pod (infra + app), join
    (container:web), host, none. Names are unique to this run."""
    with rootful_podman() as podman:
        net = podman.network()
        names = {k: unique(k) for k in ("web", "pod", "app", "join", "host", "none")}
        podman("run", "-d", "--name", names["web"], "--network", net, "-p", "18080:80",
               IMAGE, "httpd", "-f", "-p", "80")
        podman("pod", "create", "--name", names["pod"], "--network", net,
               "--infra-image", IMAGE, "--infra-command", "sleep infinity")
        podman("run", "-d", "--pod", names["pod"], "--name", names["app"], IMAGE, "sleep", "600")
        podman("run", "-d", "--name", names["join"], "--network", f"container:{names['web']}",
               IMAGE, "sleep", "600")
        podman("run", "-d", "--name", names["host"], "--network", "host", IMAGE, "sleep", "600")
        podman("run", "-d", "--name", names["none"], "--network", "none", IMAGE, "sleep", "600")
        names["second_net"] = podman.network()
        podman("run", "-d", "--name", names.setdefault("multi", unique("multi")), "--network",
               net, "--network", names["second_net"], IMAGE, "sleep", "600")
        yield podman, net, names


def test_bridge_container_with_published_port(rootful):
    podman, net, names = rootful
    inspect = podman.inspect(names["web"])
    attached = inspect["NetworkSettings"]["Networks"][net]
    pid = inspect["State"]["Pid"]
    snap = dump()
    web = by_name(snap)[names["web"]]

    assert web["id"] == inspect["Id"] and web["image"] == IMAGE
    assert web["network_mode"] == "bridge" and web["rootless"] is False
    assert web["main_pid"] == pid and pid in web["pids"]
    assert web["ns"]["net"] == netns_of(pid)
    assert web["cgroup"].endswith(f"libpod-{inspect['Id']}")
    [network] = web["networks"]
    definition = json.loads((podman.base / "networks" / f"{net}.json").read_text())
    assert network["name"] == net
    assert network["ip"] == f"{attached['IPAddress']}/{attached['IPPrefixLen']}"
    assert network["mac"] == attached["MacAddress"]
    assert network["gateway"] == attached["Gateway"]
    assert network["bridge"] == definition["network_interface"]
    assert network["interface"] == "eth0"
    assert {"host_ip": None, "host_port": 18080, "protocol": "tcp", "container_port": 80} in (
        web["ports"])
    assert web["source"]["name"].endswith("libpod/bolt_state.db")
    # back-pointers
    inode = netns_of(pid)
    netns = next(n for n in snap["namespaces"] if n["type"] == "net" and n["inode"] == inode)
    assert web["id"] in netns["containers"]
    process = next(p for p in snap["processes"] if p["pid"] == pid)
    assert process["container"] == web["id"]


def test_network_definition_and_its_bridge_netns(rootful):
    podman, net, _names = rootful
    snap = dump()
    [network] = [n for n in snap["networks"] if n["engine"] == "podman" and n["name"] == net]
    definition = json.loads((podman.base / "networks" / f"{net}.json").read_text())
    assert network["id"] == definition["id"]
    assert network["subnet"] == definition["subnets"][0]["subnet"]
    assert network["bridge"] == definition["network_interface"]
    # podman ran inside the test's netns, so its bridge is there
    assert network["bridge_netns"] == os.stat(f"/run/netns/{podman.netns}").st_ino


def test_pod_infra_container_and_member(rootful):
    podman, _net, names = rootful
    pod = json.loads(podman("pod", "inspect", names["pod"]).stdout)
    pod = pod[0] if isinstance(pod, list) else pod
    found = by_name(dump())
    app = found[names["app"]]
    [infra] = [c for c in found.values() if c["id"] == pod["InfraContainerID"]]

    assert infra["sandbox"] is True and app["sandbox"] is False
    for container in (infra, app):
        assert container["pod"] == {"name": names["pod"], "namespace": None, "uid": None,
                                    "id": pod["Id"]}
    assert app["network_mode"] == "pod" and app["kernel_network_mode"] == "pod"
    assert app["ns"]["net"] == infra["ns"]["net"] and app["ns"]["uts"] == infra["ns"]["uts"]
    assert infra["networks"] and not app["networks"]


def test_host_none_and_joined_modes(rootful):
    podman, _net, names = rootful
    found = by_name(dump())
    host, none, join, web = (found[names[k]] for k in ("host", "none", "join", "web"))
    assert host["network_mode"] == "host" and host["kernel_network_mode"] == "host"
    assert host["ns"]["net"] == os.stat(f"/run/netns/{podman.netns}").st_ino
    assert none["network_mode"] == "none" and not none["networks"]
    assert none["ns"]["net"] not in (host["ns"]["net"], web["ns"]["net"])
    assert join["network_mode"] == f"container:{names['web']}"
    assert join["kernel_network_mode"] == f"container:{names['web']}"
    assert join["ns"]["net"] == web["ns"]["net"]


def test_restarted_container_has_its_new_process_and_netns(rootful):
    podman, net, _names = rootful
    name = unique("rst")
    podman("run", "-d", "--name", name, "--network", net, IMAGE, "sleep", "600")
    old_pid = podman.pid(name)
    podman("restart", "-t", "0", name)
    new_pid = podman.pid(name)
    assert new_pid != old_pid
    snap = dump()
    [entry] = [c for c in snap["containers"] if c["name"] == name]
    assert entry["main_pid"] == new_pid and old_pid not in entry["pids"]
    assert entry["ns"]["net"] == netns_of(new_pid)  # may equal old_ns: inodes are reused
    holders = [n for n in snap["namespaces"] if entry["id"] in n["containers"]]
    assert {n["inode"] for n in holders if n["type"] == "net"} == {netns_of(new_pid)}
    assert entry["networks"][0]["ip"]


def test_rootless_container():
    with rootless_podman() as podman:
        name = unique("rl")
        podman("run", "-d", "--name", name, "-p", "18081:80", IMAGE, "httpd", "-f", "-p", "80")
        inspect = podman.inspect(name)
        pid = inspect["State"]["Pid"]
        snap = dump()
        found = by_name(snap)
        entry = found[name]
        assert entry["rootless"] is True and entry["image"] == IMAGE
        assert entry["main_pid"] == pid and pid in entry["pids"]
        assert entry["network_mode"] == "slirp4netns"
        assert {"host_ip": None, "host_port": 18081, "protocol": "tcp",
                "container_port": 80} in entry["ports"]
        assert entry["source"]["name"].endswith(
            f"{podman.home}/.local/share/containers/storage/libpod/bolt_state.db")
        # The SandboxKey is a bind mount only in the rootless pause process's
        # mount namespace: followed through conmon's /proc/PID/root.
        key = inspect["NetworkSettings"]["SandboxKey"]
        assert entry["sandbox_key"] == key
        assert entry["source"]["sandbox_key"].startswith("/proc/")
        assert entry["source"]["sandbox_key"].endswith(key)
        assert os.stat(entry["source"]["sandbox_key"]).st_ino == netns_of(pid)
        assert sandbox_inode(key, [inspect["State"]["ConmonPid"]]) == netns_of(pid)
        assert entry["ns"]["user"] != os.stat("/proc/self/ns/user").st_ino


def _as_user(podman, *args: str) -> subprocess.CompletedProcess:
    """nsview run as the rootless container's owner: a copy of the package in the
    user's home (the work tree and the root venv may be closed to other users),
    run by Debian's python3 (stdlib only is enough for dump and net)."""
    copy = podman.home / "nsview-under-test"
    if not copy.exists():
        shutil.copytree(Path(__file__).resolve().parent.parent / "nsview", copy / "nsview")
        subprocess.run(["chown", "-R", f"{podman.user}:", str(copy)], check=True)
    return subprocess.run(["runuser", "-u", podman.user, "--", "env", f"PYTHONPATH={copy}",
                           SYSTEM_PYTHON, "-m", "nsview", *args],
                          capture_output=True, text=True, cwd="/")


SYSTEM_PYTHON = "/usr/bin/python3"


def _addresses(pid: int) -> set[tuple[str, str]]:
    """(ifname, cidr) in the netns of ``pid``, as iproute2 sees it (run as root)."""
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "addr"],
                         capture_output=True, text=True, check=True).stdout
    return {(link["ifname"], f"{a['local']}/{a['prefixlen']}")
            for link in json.loads(out) for a in link.get("addr_info", [])}


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason=f"needs {SYSTEM_PYTHON}")
def test_the_owner_reads_its_rootless_container_netns():
    """As the user who owns it (not root): the dump and ``nsview net PID`` read the
    rootless container's netns by joining its user namespace first, in a forked
    child, as ``nsenter -U -n`` would."""
    with rootless_podman() as podman:
        name = unique("rl")
        podman("run", "-d", "--name", name, IMAGE, "sleep", "600")
        pid = podman.pid(name)
        expected = _addresses(pid)
        assert any(ifname == "tap0" for ifname, _ in expected)  # slirp4netns's

        proc = _as_user(podman, "dump", "--json")
        assert proc.returncode == 0, proc.stderr
        snap = json.loads(proc.stdout)
        assert snap["host"]["collector_uid"] == podman.uid
        [netns] = [n for n in snap["namespaces"]
                   if n["type"] == "net" and n["inode"] == netns_of(pid)]
        assert netns["net"] is not None, proc.stderr
        got = {(i["name"], a["cidr"]) for i in netns["net"]["interfaces"] for a in i["addresses"]}
        assert got == expected
        assert by_name(snap)[name]["rootless"] is True

        proc = _as_user(podman, "net", "--json", str(pid))
        assert proc.returncode == 0, proc.stderr
        shown = json.loads(proc.stdout)
        names = {i["name"] for i in shown["net"]["interfaces"]}
        assert names == {ifname for ifname, _ in expected}


def test_a_container_on_two_networks(rootful):
    podman, net, names = rootful
    inspect = podman.inspect(names["multi"])["NetworkSettings"]["Networks"]
    entry = by_name(dump())[names["multi"]]
    got = {n["name"]: n for n in entry["networks"]}
    assert set(got) == {net, names["second_net"]} == set(inspect)
    for name, attached in inspect.items():
        definition = json.loads((podman.base / "networks" / f"{name}.json").read_text())
        assert got[name]["ip"] == f"{attached['IPAddress']}/{attached['IPPrefixLen']}"
        assert got[name]["mac"] == attached["MacAddress"]
        assert got[name]["bridge"] == definition["network_interface"]
    assert len({n["interface"] for n in entry["networks"]}) == 2  # eth0, eth1
    assert got[net]["bridge"] != got[names["second_net"]]["bridge"]
