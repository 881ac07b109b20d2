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


def _walk(view, item=None):
    for child in view.roots() if item is None else view.children(item):
        yield child
        if child.expandable:
            yield from _walk(view, child)


def test_lab_containers_view_rows_details_relations_and_filter(fresh_lab):
    from nsview.analyze.details import details
    from nsview.analyze.labels import plain
    from nsview.analyze.lookup import Lookup
    from nsview.analyze.refs import ContainerRef, ProcessRef
    from nsview.analyze.relations import relations
    from nsview.analyze.search import filter_view, matches, parse_query
    from nsview.analyze.views import build_views

    state = _state()
    if not state.get("cgroup_root"):
        pytest.skip("no writable cgroup v2 here: lab processes are in no container cgroup")
    lab = state["containers"]
    snap = collect_snapshot(CollectOptions(net_pids=(lab["web"]["pid"], lab["pause"]["pid"])))
    lk = Lookup(snap)
    views = build_views(lk)
    view = views["containers"]
    texts = {}
    for item in _walk(view):
        detail = details(lk, item.ref)
        assert detail.title and "gone" not in detail.title, item.ref
        for rel in relations(lk, item.ref, "containers"):
            assert views[rel.view].locate(rel.ref) is not None, (item.ref, rel)
        texts[item.key] = plain(item.label)
    web_key = f"c:{lab['web']['id']}"
    assert texts[web_key].startswith("web  nginx:1.25  bridge  172.17.0.2/16  8080→80/tcp")
    pod_keys = [k for k, t in texts.items() if t.startswith(f"pod {topo.POD_NAMESPACE}/")]
    assert pod_keys and texts[f"c:{lab['pause']['id']}"].startswith(f"pod {topo.POD_NAMESPACE}/")
    # web: its netns and eth0 under it; its netns is named "web" everywhere.
    web = lk.container(lab["web"]["id"])
    under = [plain(i.label) for i in view.children(
        next(i for i in _walk(view) if i.key == web_key))]
    assert any(t.startswith(f"net:[{web.ns['net']}]  web") for t in under)
    assert any(t.startswith("eth0  veth") for t in under)
    assert lk.label(lk.namespace("net", web.ns["net"])) == "web"
    # The filter: a container's name, id prefix and image; the processes in its cgroup.
    for text in ("web", lab["web"]["id"][:8], "nginx:1.25"):
        assert matches(lk, ContainerRef(web.id, web.main_pid), parse_query(text)), text
    assert matches(lk, ProcessRef(web.main_pid), parse_query(lab["web"]["id"][:10]))
    hits = filter_view(views["processes"], parse_query(lab["web"]["id"][:10]))
    assert hits.matches


def test_tui_key_5_shows_the_containers(fresh_lab):
    from tests.test_tui_app import drive, make_app, until

    state = _state()
    if not state.get("cgroup_root"):
        pytest.skip("no writable cgroup v2 here: lab processes are in no container cgroup")
    snap = collect_snapshot(CollectOptions(net=False))
    app = make_app(snapshot=snap)

    async def script(pilot):
        await pilot.press("4")
        await until(pilot, lambda: app.current_view == "containers", "the Containers view")
        tree = app.tree()
        await until(pilot, lambda: tree.root.children, "rows in the Containers tree")
        engines = {str(node.label).split("  ")[0] for node in tree.root.children}
        assert {"docker", "containerd"} <= engines

    drive(app, script)
