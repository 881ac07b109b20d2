"""containerd for real (tests/real_engines.py): ``ctr run --cni`` containers on a
CNI bridge (one named freely, one with a 64-hex id that the cgroup matcher
sees), a container joining another's netns, one with none and one on the
host's; checked in ``nsview dump --json`` of the whole host, found by our
own containerd namespace among whatever else runs here."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import nsview_bin, unique
from tests.real_engines import IMAGE, PAUSE_IMAGE, containerd_daemon

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

HEX_ID = "c0ffee" + "0" * 58


def dump() -> dict:
    proc = subprocess.run([nsview_bin(), "dump", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def netns_of(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


@pytest.fixture(scope="module")
def containerd():
    with containerd_daemon() as engine:
        net, bridge, subnet = engine.cni_network()
        engine.run_cni("web", "httpd", "-f", "-p", "80")
        engine.run_cni(HEX_ID, "sleep", "600")
        engine.ctr("run", "-d", "--with-ns", f"network:/proc/{engine.task_pid('web')}/ns/net",
                   IMAGE, "join", "sleep", "600")
        engine.ctr("run", "-d", IMAGE, "alone", "sleep", "600")
        engine.ctr("run", "-d", "--net-host", IMAGE, "onhost", "sleep", "600")
        yield engine, net, bridge, subnet


def ours(snap: dict, engine) -> dict[str, dict]:
    return {c["id"]: c for c in snap["containers"]
            if c["engine"] == "containerd" and c["namespace"] == engine.namespace}


def test_cni_bridge_containers(containerd):
    engine, net, bridge, subnet = containerd
    snap = dump()
    found = ours(snap, engine)
    for cid in ("web", HEX_ID):
        pid = engine.task_pid(cid)
        entry = found[cid]
        assert entry["name"] == cid and entry["image"] == IMAGE
        assert entry["main_pid"] == pid and pid in entry["pids"]
        assert entry["ns"]["net"] == netns_of(pid)
        assert entry["network_mode"] == net
        [attachment] = entry["networks"]
        ipam = f"/var/lib/cni/networks/{net}/{attachment['ip'].split('/')[0]}"
        assert Path(ipam).read_text().split()[0] == f"{engine.namespace}-{cid}"
        assert attachment["ip"].endswith("/24") and attachment["name"] == net
        assert attachment["bridge"] == bridge and attachment["interface"] == "eth0"
        assert attachment["gateway"] == subnet.replace("0/24", "1")
        link = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "link",
                               "show", "eth0"], capture_output=True, text=True, check=True)
        assert attachment["mac"] == json.loads(link.stdout)[0]["address"]
        assert entry["source"]["networks"].startswith("/var/lib/cni/results/")
        assert entry["source"]["image"].endswith("meta.db")
    # the 64-hex one is named by its cgroup, the other one by its shim's bundle
    assert found[HEX_ID]["cgroup"] == f"/{engine.namespace}/{HEX_ID}"
    assert found["web"]["cgroup"] is None
    [network] = [n for n in snap["networks"] if n["engine"] == "cni" and n["name"] == net]
    assert network["bridge"] == bridge and network["subnet"] == subnet
    assert network["bridge_netns"] == os.stat(f"/run/netns/{engine.netns}").st_ino


def test_joined_none_and_host(containerd):
    engine, *_ = containerd
    found = ours(dump(), engine)
    join, alone, onhost, web = (found[k] for k in ("join", "alone", "onhost", "web"))
    assert join["network_mode"] == "container:web" and join["ns"]["net"] == web["ns"]["net"]
    assert join["kernel_network_mode"] == "container:web"
    assert alone["network_mode"] == "none" and not alone["networks"]
    assert onhost["network_mode"] == "host" and onhost["kernel_network_mode"] == "host"
    assert onhost["ns"]["net"] == os.stat(f"/run/netns/{engine.netns}").st_ino


def test_kubernetes_pod_through_the_cri_plugin():
    """A pod made the way a kubelet makes one (RunPodSandbox, CreateContainer,
    StartContainer over CRI v1), on a CNI bridge."""
    with containerd_daemon(cri=True) as engine:
        net, bridge, _subnet = engine.cni_network()
        uid = str(uuid.uuid4())
        pod_name, namespace = unique("web"), unique("kns")
        sandbox, ids = engine.cri_pod(pod_name, namespace, uid,
                                      {"app": ["httpd", "-f", "-p", "80"],
                                       "side": ["sleep", "600"]}, unique("cri"))
        snap = dump()
        found = {c["id"]: c for c in snap["containers"] if c["engine"] == "containerd"}
        pause, app, side = found[sandbox], found[ids["app"]], found[ids["side"]]
        expected_pod = {"name": pod_name, "namespace": namespace, "uid": uid, "id": sandbox}
        for container in (pause, app, side):
            assert container["pod"] == expected_pod and container["namespace"] == "k8s.io"
            assert f"/kubepods/besteffort/pod{uid}/{container['id']}" in container["cgroup"]
        assert pause["sandbox"] and not app["sandbox"] and not side["sandbox"]
        assert (pause["name"], app["name"], side["name"]) == (pod_name, "app", "side")
        assert pause["image"] == PAUSE_IMAGE and app["image"] == IMAGE
        # the pause container owns the pod's net, ipc and uts
        for ns_type in ("net", "ipc", "uts"):
            assert app["ns"][ns_type] == side["ns"][ns_type] == pause["ns"][ns_type]
        assert app["network_mode"] == "pod" and app["kernel_network_mode"] == "pod"
        assert pause["network_mode"] == net
        [attachment] = pause["networks"]  # CRI's cni-loopback (lo) is not an attachment
        assert attachment["name"] == net and attachment["bridge"] == bridge
        assert attachment["interface"] == "eth0" and attachment["ip"].startswith("198.18.")
        netns = next(n for n in snap["namespaces"]
                     if n["type"] == "net" and n["inode"] == pause["ns"]["net"])
        assert set(netns["containers"]) >= {sandbox, ids["app"], ids["side"]}
        assert "/io.containerd.grpc.v1.cri/netns/cni-" in pause["sandbox_key"]
