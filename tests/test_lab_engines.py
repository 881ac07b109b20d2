"""The lab's containers carry engine state: nsview names them from it, by the
same readers and discovery as on a real host (nsview/lab/engine_state.py)."""

from __future__ import annotations

import json
import os

import pytest

from nsview.collect import CollectOptions, collect_snapshot
from nsview.lab import topology as topo

from .conftest import lab_turn

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def fresh_lab():
    """A lab built by this checkout (one already up may be older code): taken
    down first, brought up, and down again afterwards, even on failure."""
    from nsview.lab import lab_down, lab_up

    with lab_turn():
        lab_down()
        try:
            yield lab_up()
        finally:
            lab_down()


def _state() -> dict:
    with open(topo.STATE_FILE) as handle:
        return json.load(handle)


def test_lab_docker_containers_are_named(fresh_lab):
    state = _state()
    if not state.get("cgroup_root"):
        pytest.skip("no writable cgroup v2 here: lab processes are in no container cgroup")
    lab = state["containers"]
    snap = collect_snapshot(CollectOptions(net_pids=(lab["web"]["pid"], lab["api"]["pid"],
                                                     lab["dockerd"]["pid"])))
    found = {c.name: c for c in snap.containers if c.engine == "docker"}
    assert set(found) >= {"web", "cache", "web-logs", "metrics", "batch", "api", "db",
                          "frontend", "backend", "sensor"}
    web = found["web"]
    assert web.id == lab["web"]["id"] and web.main_pid == lab["web"]["pid"]
    assert web.image == "nginx:1.25" and web.network_mode == "bridge"
    assert [(n.name, n.bridge, n.ip, n.interface) for n in web.networks] == [
        ("bridge", topo.DOCKER0, f"{topo.container('web').ip}/16", "eth0")
    ]
    assert [(p.host_port, p.container_port) for p in web.ports] == [(topo.PUBLISHED_PORT, 80)]
    assert web.source["name"] == f"{topo.DOCKER_ROOT}/containers/{web.id}/config.v2.json"
    api = found["api"]
    assert api.project == "shop" and api.network_mode == "appnet"
    assert api.networks[0].bridge == topo.USER_BRIDGE and api.networks[0].interface == "eth0"
    assert found["web-logs"].network_mode == "container:web"
    assert found["web-logs"].kernel_network_mode == "container:web"
    assert found["metrics"].kernel_network_mode == "host"
    nets = {n.name: n for n in snap.networks}
    host1 = os.stat(f"/run/netns/{topo.HOST1.netns}").st_ino
    assert nets["appnet"].bridge == topo.USER_BRIDGE and nets["appnet"].bridge_netns == host1
    assert nets["bridge"].subnet == topo.DOCKER0_SUBNET


def test_lab_pod_has_a_cri_bundle(fresh_lab):
    state = _state()
    pause = state["containers"]["pause"]
    bundle = f"{topo.CONTAINERD_STATE}/io.containerd.runtime.v2.task/k8s.io/{pause['id']}"
    with open(f"{bundle}/config.json") as handle:
        spec = json.load(handle)
    annotations = spec["annotations"]
    assert annotations["io.kubernetes.cri.container-type"] == "sandbox"
    assert annotations["io.kubernetes.cri.sandbox-name"] == topo.POD_NAME
    assert annotations["io.kubernetes.cri.sandbox-uid"] == topo.POD_UID
    with open(f"{topo.CNI_DATA_DIR}/nsvlab-pod-net/{topo.POD_IP}") as handle:
        assert handle.read().split() == [pause["id"], "eth0"]
    # The containerd stand-in says where its state is, as containerd does.
    containerd = state["containers"]["containerd"]
    with open(f"/proc/{containerd['pid']}/cmdline") as handle:
        argv = handle.read().split("\0")
    assert argv[argv.index("--state") + 1] == topo.CONTAINERD_STATE


def test_lab_pod_is_named_by_the_containerd_reader(fresh_lab):
    state = _state()
    if not state.get("cgroup_root"):
        pytest.skip("no writable cgroup v2 here: lab processes are in no container cgroup")
    snap = collect_snapshot(CollectOptions(net=False))
    lab = state["containers"]
    found = {c.id: c for c in snap.containers}
    pause = found[lab["pause"]["id"]]
    assert pause.engine == "containerd" and pause.sandbox
    assert (pause.pod.name, pause.pod.namespace, pause.pod.uid) == (
        topo.POD_NAME, topo.POD_NAMESPACE, topo.POD_UID)
    nginx = found[lab["pod-nginx"]["id"]]
    assert nginx.name == "nginx" and nginx.pod.name == topo.POD_NAME and not nginx.sandbox
    assert nginx.kernel_network_mode == "pod"
    assert nginx.ns["net"] == pause.ns["net"]
