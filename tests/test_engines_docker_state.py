"""The Docker reader and the attribution pipeline on a real Docker 20.10 data root
(tests/fixtures/docker-20.10), with real processes in real cgroups named by its ids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nsview.collect import CollectOptions, collect_snapshot
from nsview.collect.engines.boltdb import BoltDB, Bucket
from nsview.model import snapshot_from_json, snapshot_to_json
from tests.engines_util import cgroup_processes

FIXTURE = Path(__file__).parent / "fixtures" / "docker-20.10"
WEB = "4f78f02ede87054b556c46948a6bfbc338ea37c3545ca9a5746452dfacd31bd4"
USER = "5ab68d94e4170419d5324bf2c5623ccb3d199fdf8d4947f1b849053fe8112b3c"
HOST = "0dd75b5d0dd1ce6890ea31ac36b3cfc4731d11fdd869a22bdae1e4fe96e28f36"
NONE = "4124a40ec357bfa3b2302966ed3358f7aeabeccd1a09f7b9ea76c18a514eebf9"
JOIN = "32118beee863311fd12c324b62829ffe02415ca792d33d9d6657234c0512eeeb"
UNKNOWN = "ab" * 32

pytestmark = pytest.mark.privileged


def _collect(root: Path, leaves: list[str]):
    with cgroup_processes(leaves) as (top, procs):
        snap = collect_snapshot(
            CollectOptions(net=False, engine_roots={"docker": (str(root),)})
        )
        return top, [p.pid for p in procs], snap


def _by_id(snap):
    return {c.id: c for c in snap.containers}


def test_docker_containers_from_disk():
    leaves = [f"docker-{cid}.scope" for cid in (WEB, USER, HOST, NONE, JOIN)]
    top, pids, snap = _collect(FIXTURE, leaves)
    found = _by_id(snap)
    web, user = found[WEB], found[USER]

    assert web.engine == "docker" and web.name == "nsvtweb"
    assert web.image == "nsvt-busybox:1" and web.image_id.startswith("sha256:")
    assert web.network_mode == "bridge"
    assert [(n.name, n.ip, n.mac, n.gateway, n.bridge) for n in web.networks] == [
        ("bridge", "198.18.200.2/24", "02:42:c6:12:c8:02", "198.18.200.1", "docker0")
    ]
    assert [(p.host_ip, p.host_port, p.protocol, p.container_port) for p in web.ports] == [
        ("0.0.0.0", 18080, "tcp", 80)
    ]
    # The walk's process, not the stale State.Pid of the run that wrote the state.
    assert web.pids == [pids[0]] and web.main_pid == pids[0]
    assert web.cgroup == f"{top}/docker-{WEB}.scope"
    assert web.source["name"] == f"{FIXTURE}/containers/{WEB}/config.v2.json"
    assert web.source["network_mode"] == f"{FIXTURE}/containers/{WEB}/hostconfig.json"
    assert web.source["cgroup"] == f"/proc/{pids[0]}/cgroup"

    # A user-defined network's bridge is br-<12>, unless the network named its own.
    assert user.network_mode == "nsvtappnet"
    assert [(n.name, n.bridge, n.network_id[:12]) for n in user.networks] == [
        ("nsvtappnet", "br-7e98d5bc6bec", "7e98d5bc6bec"),
        ("nsvtnamed", "nsvtbr0", "882bf8a17d5b"),
    ]
    assert user.source["bridges"] == f"{FIXTURE}/network/files/local-kv.db"
    assert user.project == "demo"
    assert user.labels["com.docker.compose.service"] == "web"

    assert found[HOST].network_mode == "host"
    assert found[NONE].network_mode == "none"
    assert found[JOIN].network_mode == "container:nsvtweb"  # the id resolved to its name

    # The processes run in the test's netns (the host's): the kernel says so.
    assert web.kernel_network_mode == "host"

    # Back-pointers: process -> container, namespace -> containers.
    proc = snap.process(pids[0])
    assert proc.container == WEB
    netns = snap.namespace("net", web.ns["net"])
    assert WEB in netns.containers and HOST in netns.containers


def test_docker_networks_from_local_kv():
    _top, _pids, snap = _collect(FIXTURE, [f"docker-{WEB}.scope"])
    # Only the fixture's: other engines on this machine have networks too.
    nets = {n.name: n for n in snap.networks if (n.source or "").startswith(str(FIXTURE))}
    assert set(nets) == {"bridge", "host", "none", "nsvtappnet", "nsvtnamed"}
    bridge = nets["bridge"]
    assert (bridge.engine, bridge.driver, bridge.bridge) == ("docker", "bridge", "docker0")
    assert (bridge.subnet, bridge.gateway) == ("198.18.200.0/24", "198.18.200.1")
    assert nets["nsvtnamed"].bridge == "nsvtbr0"
    assert nets["nsvtappnet"].bridge == "br-7e98d5bc6bec"
    assert nets["nsvtappnet"].id.startswith("7e98d5bc6bec")
    assert nets["host"].bridge is None and nets["none"].driver == "null"
    assert bridge.source == f"{FIXTURE}/network/files/local-kv.db"


def test_snapshot_round_trips_containers():
    _top, _pids, snap = _collect(FIXTURE, [f"docker-{USER}.scope"])
    again = snapshot_from_json(snapshot_to_json(snap))
    assert again.containers == snap.containers and again.networks == snap.networks
    data = json.loads(snapshot_to_json(snap))
    (user,) = [c for c in data["containers"] if c["id"] == USER]
    assert user["pod"] is None and user["networks"][1]["bridge"] == "nsvtbr0"
    assert {p["container"] for p in data["processes"] if p["pid"] in user["pids"]} == {USER}


def test_unknown_and_broken_state_is_a_diagnostic(tmp_path):
    root = tmp_path / "docker"
    shutil.copytree(FIXTURE, root)
    (root / "containers" / WEB / "config.v2.json").write_text("{not json")
    (root / "network" / "files" / "local-kv.db").write_bytes(b"\0" * 8192)
    top, pids, snap = _collect(root, [f"docker-{WEB}.scope", f"docker-{UNKNOWN}.scope"])
    found = _by_id(snap)
    # Still listed from their cgroups, with what could be known.
    assert found[WEB].name is None and found[WEB].pids == [pids[0]]
    assert found[UNKNOWN].engine == "docker" and found[UNKNOWN].pids == [pids[1]]
    reasons = {(d.kind, d.what, d.path): d.reason for d in snap.diagnostics}
    assert reasons[("error", "engine state", f"{root}/containers/{WEB}/config.v2.json")].startswith(
        "not JSON"
    )
    assert ("missing", "engine state", f"{top}/docker-{UNKNOWN}.scope") in reasons
    assert [n for n in snap.networks if (n.source or "").startswith(str(root))] == []


def test_boltdb_reads_libnetwork_bucket():
    db = BoltDB.open(str(FIXTURE / "network" / "files" / "local-kv.db"))
    bucket = db.bucket(b"libnetwork")
    assert isinstance(bucket, Bucket)
    keys = [k for k, _v in bucket.items()]
    assert keys == sorted(keys)  # bbolt keeps keys in order
    names = [
        json.loads(v[v.index(b"{"):])["name"]
        for k, v in bucket.items()
        if k.startswith(b"docker/network/v1.0/network/")
    ]
    assert sorted(names) == ["bridge", "host", "none", "nsvtappnet", "nsvtnamed"]
    assert db.bucket(b"nope") is None
