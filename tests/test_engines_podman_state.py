"""The podman reader on state copied from a real podman 4.3 (tests/fixtures/podman-4.3,
written by tests/capture_engine_state.py), with real processes in real cgroups
named after its ids; and the bbolt reader on that real bolt_state.db."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nsview.collect import CollectOptions, collect_snapshot
from nsview.collect.engines import EngineContext
from nsview.collect.engines.boltdb import BoltDB, Bucket
from nsview.collect.engines.podman import PodmanRoot, read_root, root_from_conmon
from nsview.model import Snapshot
from tests.engines_util import cgroup_processes

FIXTURE = Path(__file__).parent / "fixtures" / "podman-4.3"
ROOTFUL, ROOTLESS = FIXTURE / "rootful", FIXTURE / "rootless"
IMAGE = "localhost/nsvtbusybox:latest"


def ids(root: Path) -> dict[str, str]:
    [listing] = root.glob("*-containers/containers.json")
    return {e["names"][0]: e["id"] for e in json.loads(listing.read_text())}


IDS = ids(ROOTFUL)
INFRA = next(cid for name, cid in IDS.items() if name.endswith("-infra"))
POD = "d0dccdfcca69d7074cdc954d968ae076ccac1d93c83929a588539c039a7feca6"


def leaves() -> list[str]:
    out = []
    for name, cid in IDS.items():
        in_pod = name in ("nsvtapp",) or cid == INFRA
        out.append(f"libpod_parent/{POD}/libpod-{cid}" if in_pod else f"libpod_parent/libpod-{cid}")
    return out


def collect(root: Path):
    names = list(IDS)
    with cgroup_processes(leaves()) as (top, procs):
        snap = collect_snapshot(CollectOptions(net=False, engine_roots={"podman": (str(root),)}))
        pids = {name: p.pid for name, p in zip(names, procs, strict=True)}
        return top, pids, {c.name: c for c in snap.containers if c.engine == "podman"}, snap


@pytest.mark.privileged
def test_containers_pods_and_networks_from_bolt_state():
    top, pids, found, snap = collect(ROOTFUL)
    web, app, infra = found["nsvtweb"], found["nsvtapp"], found[f"{POD[:12]}-infra"]
    bolt = f"{ROOTFUL}/libpod/bolt_state.db"

    assert web.id == IDS["nsvtweb"] and web.image == IMAGE and web.network_mode == "bridge"
    assert [(n.name, n.interface, n.ip, n.mac, n.gateway, n.bridge) for n in web.networks] == [
        ("nsvtappnet", "eth0", "198.18.210.2/24", "d2:37:8b:cb:ed:f5", "198.18.210.1", "podman1")
    ]
    assert web.networks[0].network_id.startswith("4b3bc076bb51")
    assert [(p.host_ip, p.host_port, p.protocol, p.container_port) for p in web.ports] == [
        (None, 18080, "tcp", 80)
    ]
    assert web.pids == [pids["nsvtweb"]] and web.main_pid == pids["nsvtweb"]  # not the stale one
    assert web.source["name"] == bolt and web.source["bridges"].endswith("nsvtappnet.json")
    assert web.cgroup == f"{top}/libpod_parent/libpod-{IDS['nsvtweb']}"

    assert infra.sandbox and not app.sandbox
    assert infra.pod == app.pod
    pod = app.pod
    assert (pod.name, pod.id, pod.namespace, pod.uid) == ("nsvtpod", POD, None, None)
    assert app.network_mode == "pod" and infra.network_mode == "bridge"
    assert infra.networks[0].ip == "198.18.210.3/24"

    assert found["nsvtjoin"].network_mode == "container:nsvtweb"
    assert found["nsvthost"].network_mode == "host"
    assert found["nsvtnone"].network_mode == "none" and not found["nsvtnone"].networks
    default = found["nsvtdefault"]
    assert [(n.name, n.bridge) for n in default.networks] == [("podman", "podman0")]

    networks = {n.name: n for n in snap.networks if n.engine == "podman"}
    assert set(networks) == {"nsvtappnet", "podman"}  # the built-in one: nsvtdefault is on it
    appnet = networks["nsvtappnet"]
    assert (appnet.driver, appnet.subnet, appnet.gateway, appnet.bridge) == (
        "bridge", "198.18.210.0/24", "198.18.210.1", "podman1")
    assert all(c.rootless is False for c in found.values())


@pytest.mark.privileged
def test_without_bolt_state_the_storage_and_bundles_still_name_them(tmp_path):
    root = tmp_path / "storage"
    shutil.copytree(ROOTFUL, root)
    (root / "libpod" / "bolt_state.db").unlink()
    _top, _pids, found, snap = collect(root)
    web, app, infra = found["nsvtweb"], found["nsvtapp"], found[f"{POD[:12]}-infra"]
    assert web.image == IMAGE and web.source["name"].endswith("overlay-containers/containers.json")
    assert app.network_mode == "pod" and app.pod.id == INFRA  # the infra's id: no pod name here
    assert infra.sandbox
    assert found["nsvthost"].network_mode == "host"
    assert found["nsvtjoin"].network_mode is None  # /proc/<stale pid>: not a pid of this walk
    assert any(d.kind == "missing" and d.what == "podman state" for d in snap.diagnostics)


@pytest.mark.privileged
def test_a_broken_bolt_state_is_a_diagnostic_and_the_fallback_is_used(tmp_path):
    root = tmp_path / "storage"
    shutil.copytree(ROOTFUL, root)
    db = root / "libpod" / "bolt_state.db"
    db.write_bytes(db.read_bytes()[:4096 * 3])  # the meta pages and little else
    _top, _pids, found, snap = collect(root)
    assert found["nsvtweb"].image == IMAGE
    errors = [d for d in snap.diagnostics if d.what == "podman state" and d.kind == "error"]
    assert errors and errors[0].path == str(db)


def _context() -> tuple[EngineContext, list]:
    diags: list = []
    return EngineContext(Snapshot(), {}, {}, lambda *a, **k: diags.append((a, k))), diags


def test_rootless_state():
    ctx, diags = _context()
    containers, networks = read_root(ctx, PodmanRoot(str(ROOTLESS), uid=1001))
    [rl] = containers
    assert (rl.name, rl.image, rl.rootless, rl.network_mode) == ("nsvtrl", IMAGE, True,
                                                                   "slirp4netns")
    assert rl.sandbox_key.startswith("/run/user/1001/netns/netns-")
    assert [(p.host_port, p.container_port) for p in rl.ports] == [(18081, 80)]
    assert rl.main_pid  # the pid of the run that wrote it: the pipeline checks it is alive
    assert not diags and set(networks) == {"podman"}


def test_roots_from_conmon_argv():
    argv = ["/usr/bin/conmon", "--api-version", "1", "-c", "abc", "--exit-command",
            "/usr/bin/podman", "--exit-command-arg", "--root", "--exit-command-arg",
            "/tmp/x/root", "--exit-command-arg", "--runroot", "--exit-command-arg",
            "/tmp/x/runroot", "--exit-command-arg", "--network-config-dir",
            "--exit-command-arg", "", "--exit-command-arg", "--log-level",
            "--exit-command-arg", "warning"]
    root = root_from_conmon(argv)
    assert (root.graphroot, root.runroot) == ("/tmp/x/root", "/tmp/x/runroot")
    assert root.network_dir.endswith("networks")  # the empty one means podman's default
    assert root_from_conmon(["/usr/bin/conmon", "-c", "abc"]) is None


def test_bolt_reader_on_a_real_bolt_state_db():
    db = BoltDB.open(str(ROOTFUL / "libpod" / "bolt_state.db"))
    top = [k for k, _v in db.root.items()]
    assert {b"ctr", b"pod", b"all-ctrs", b"id-registry", b"name-registry",
            b"runtime-config"} <= set(top)
    registry = dict(db.bucket(b"name-registry").items())
    assert registry[b"nsvtweb"].decode() == IDS["nsvtweb"]
    ctr = db.bucket(b"ctr", IDS["nsvtweb"].encode())
    assert isinstance(ctr, Bucket)
    config = json.loads(ctr.get(b"config"))
    assert config["name"] == "nsvtweb" and config["rootfsImageName"] == IMAGE
    assert ctr.bucket(b"networks").get(b"nsvtappnet")
    members = dict(db.bucket(b"pod", POD.encode(), b"containers").items())
    assert {v.decode() for v in members.values()} == {"nsvtapp", f"{POD[:12]}-infra"}
    assert db.bucket(b"runtime-config").get(b"graph-driver-name") == b"overlay"


@pytest.mark.privileged
def test_crio_reader_on_the_bundle_shape_it_shares_with_podman():
    """CRI-O is not packaged here; podman writes the same io.kubernetes.cri-o.*
    ContainerType/SandboxID annotations into the same containers/storage
    bundles, so a process in a ``crio-<id>.scope`` cgroup is described from them."""
    app = IDS["nsvtapp"]
    roots = {"cri-o": (str(ROOTFUL),)}
    with cgroup_processes([f"crio-{app}.scope"]) as (top, procs):
        snap = collect_snapshot(CollectOptions(net=False, engine_roots=roots))
    [entry] = [c for c in snap.containers if c.id == app]
    assert entry.engine == "cri-o" and entry.cgroup == f"{top}/crio-{app}.scope"
    assert entry.pod.id == INFRA and not entry.sandbox and entry.network_mode == "pod"
    assert entry.pids == [procs[0].pid]
    # a fact from the same file as the name is not listed again (docs/schema.md)
    where = entry.source.get("pod", entry.source["name"])
    assert where.endswith(f"overlay-containers/{app}/userdata/config.json")
