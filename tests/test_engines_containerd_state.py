"""The containerd and CNI readers on state copied from a real containerd 1.6 and the
CNI plugins (tests/fixtures/containerd-1.6, written by
tests/capture_engine_state.py): ``ctr run --cni`` containers. The copy's
``init.pid`` files are rewritten to real processes of this test, put in real
cgroups named the way ``ctr`` names them (``…/<namespace>/<id>``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nsview.collect import CollectOptions, collect_snapshot
from nsview.collect.engines.cni import read_cni
from tests.engines_util import cgroup_processes

FIXTURE = Path(__file__).parent / "fixtures" / "containerd-1.6"
IMAGE = "localhost/nsvtbusybox:latest"
NAMES = ("nsvtweb", "nsvtjoin", "nsvthost")
# ctr's network, and the pod's (both names are the capture run's unique ones)
[NETWORK] = [p.name.split("-nsvt-")[0] for p in (FIXTURE / "cni" / "results").glob("*-nsvt-*")]
SANDBOX = "d71bd709a34eaba8b3d27e3cf7a2a79e5030dd7b287195fc744e81a0caae23ac"
APP = "f70c54a2104ff2c0ceb1d4c30e16e0dda8ce0d23d43ef79fe8ab3465cec6cc69"
SIDE = "dbceb3c524bb04e259da56a0025cea8e2986a09f7f4488645e5c38bca52f31dd"
POD_UID = "5f1c2b6e-7a3d-4e0f-9b8a-2c4d6e8f0a1b"
[POD_NETWORK] = [p.name.split(f"-{SANDBOX}-")[0] for p in
                 (FIXTURE / "cni" / "results").glob(f"nsvt*-{SANDBOX}-eth0")]


def copy(tmp_path: Path) -> Path:
    base = tmp_path / "containerd"
    shutil.copytree(FIXTURE, base)
    return base


def collect(base: Path, pids: dict[str, int], cgroups: bool = True):
    tasks = base / "state" / "io.containerd.runtime.v2.task" / "nsvt"
    for name, pid in pids.items():
        (tasks / name / "init.pid").write_text(str(pid))
    roots = {"containerd": (str(base / "state"),), "cni": (str(base / "cni"),),
             "cni-conf": (str(base / "cni-conf"),)}
    snap = collect_snapshot(CollectOptions(net=False, engine_roots=roots))
    return snap, {c.id: c for c in snap.containers if c.namespace == "nsvt"}


@pytest.mark.privileged
def test_ctr_containers_from_bundles_metadata_and_cni(tmp_path):
    base = copy(tmp_path)
    with cgroup_processes([f"nsvt/{name}" for name in NAMES]) as (_top, procs):
        pids = {name: p.pid for name, p in zip(NAMES, procs, strict=True)}
        snap, found = collect(base, pids)
    web, join, host = (found[name] for name in NAMES)
    state = f"{base}/state/io.containerd.runtime.v2.task/nsvt"

    assert (web.engine, web.name, web.image, web.namespace) == (
        "containerd", "nsvtweb", IMAGE, "nsvt")
    assert web.main_pid == pids["nsvtweb"] and web.pids == [pids["nsvtweb"]]
    assert web.network_mode == NETWORK
    [attachment] = web.networks
    assert (attachment.name, attachment.interface, attachment.ip, attachment.gateway) == (
        NETWORK, "eth0", "198.18.220.2/24", "198.18.220.1")
    assert attachment.bridge.startswith("nsvtcb") and attachment.mac
    assert web.labels == {"io.containerd.image.config.stop-signal": "SIGTERM"}
    assert web.source["main_pid"] == f"{state}/nsvtweb/init.pid"
    assert web.source["image"].endswith("io.containerd.metadata.v1.bolt/meta.db")
    assert web.source["networks"].startswith(f"{base}/cni/results/")

    # nsvtjoin's spec joins /proc/<web's pid at capture time>/ns/net: a pid of
    # another run, so only the kernel can tell (net=False here: it cannot)
    assert join.sandbox_key.startswith("/proc/") and not join.networks
    assert host.network_mode == "host"

    [network] = [n for n in snap.networks if n.engine == "cni" and n.name == NETWORK]
    assert (network.name, network.driver, network.subnet, network.bridge) == (
        NETWORK, "bridge", "198.18.220.0/24", attachment.bridge)
    assert network.gateway == "198.18.220.1"  # host-local's default, from the result


@pytest.mark.privileged
def test_a_reused_pid_is_not_taken_for_the_container(tmp_path):
    base = copy(tmp_path)
    # Live processes, but in cgroups that are not the containers': init.pid is stale.
    with cgroup_processes(["elsewhere/a", "elsewhere/b", "elsewhere/c"]) as (_top, procs):
        _snap, found = collect(base, {n: p.pid for n, p in zip(NAMES, procs, strict=True)})
    assert found == {}


def test_cni_state_alone():
    state = read_cni(str(FIXTURE / "cni"), (str(FIXTURE / "cni-conf"),))
    assert not state.problems
    assert set(state.attachments) == {"nsvt-nsvtweb", SANDBOX}  # no cni-loopback
    [attachment] = state.attachments["nsvt-nsvtweb"]
    assert attachment["ip"] == "198.18.220.2" and attachment["prefixlen"] == 24
    assert attachment["sandbox"].startswith("/proc/")
    conf = json.loads((FIXTURE / "cni-conf" / f"10-{NETWORK}.conflist").read_text())
    assert state.networks[NETWORK]["bridge"] == conf["plugins"][0]["bridge"]


def test_cni_ipam_files_without_a_cache(tmp_path):
    base = copy(tmp_path)
    shutil.rmtree(base / "cni" / "results")
    state = read_cni(str(base / "cni"), ())
    [attachment] = state.attachments["nsvt-nsvtweb"]
    assert (attachment["network"], attachment["ip"], attachment["interface"]) == (
        NETWORK, "198.18.220.2", "eth0")
    assert attachment["mac"] is None  # only the cache has it


@pytest.mark.privileged
def test_a_kubernetes_pod_through_cri():
    """A pod made through the CRI plugin (RunPodSandbox, CreateContainer): found by
    its cgroups (cgroupfs driver: .../kubepods/besteffort/pod<uid>/<id>)."""
    pod = f"kubepods/besteffort/pod{POD_UID}"
    roots = {"containerd": (str(FIXTURE / "state"),), "cni": (str(FIXTURE / "cni"),),
             "cni-conf": (str(FIXTURE / "cni-conf"),)}
    with cgroup_processes([f"{pod}/{cid}" for cid in (SANDBOX, APP, SIDE)]) as (top, procs):
        snap = collect_snapshot(CollectOptions(net=False, engine_roots=roots))
    found = {c.id: c for c in snap.containers}
    sandbox, app, side = found[SANDBOX], found[APP], found[SIDE]
    assert sandbox.sandbox and not app.sandbox and not side.sandbox
    for container in (sandbox, app, side):
        assert container.engine == "containerd" and container.namespace == "k8s.io"
        assert (container.pod.name, container.pod.namespace, container.pod.uid,
                container.pod.id) == ("web-7f9c", "nsvtns", POD_UID, SANDBOX)
    assert (sandbox.name, app.name, side.name) == ("web-7f9c", "app", "side")
    # the pause image is only in that daemon's meta.db (not copied: one root per
    # state dir here, the ctr run's); tests/test_engines_containerd_real.py checks it
    assert app.image == side.image == IMAGE
    # a fact from the same file as the name is not listed again (docs/schema.md)
    assert app.source.get("pod", app.source["name"]).endswith(f"k8s.io/{APP}/config.json")
    assert app.network_mode == side.network_mode == "pod"
    assert sandbox.network_mode == POD_NETWORK
    assert [(n.name, n.interface, n.ip) for n in sandbox.networks] == [
        (POD_NETWORK, "eth0", "198.18.221.2/24")]
    assert sandbox.sandbox_key.endswith(tuple("0123456789abcdef")) and "/netns/cni-" in (
        sandbox.sandbox_key)
    assert app.main_pid == procs[1].pid and app.cgroup == f"{top}/{pod}/{APP}"
