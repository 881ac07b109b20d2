"""nsview fleet: real nodes (own pid/mnt/uts/net namespaces and /proc, a real sshd),
an overlay between them, failures that stay with their host, and kubectl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from nsview.errors import UsageError
from nsview.fleet import bundle
from nsview.fleet.collect import Job, explain_failure, run_job
from nsview.fleet.targets import KubeTarget, SshTarget, expand_targets, parse_target
from tests.conftest import REPO, nsview_bin, run, unique

UNDERLAY = "198.18.200"
VNI = 4242


# -- targets (pure) -----------------------------------------------------------------------


def test_targets_parse_as_ssh_and_kubectl_accept_them():
    assert parse_target("ssh://root@node-1:2222") == SshTarget(
        "ssh://root@node-1:2222", "node-1", "root", 2222
    )
    assert parse_target("node-1") == SshTarget("node-1", "node-1")
    assert parse_target("ssh://[2001:db8::1]:22").host == "2001:db8::1"
    assert parse_target("k8s://prod/n1,n2") == KubeTarget("k8s://prod/n1,n2", "prod", ("n1", "n2"))
    assert parse_target("k8s://") == KubeTarget("k8s://", None, ())
    for bad in ("", "ftp://x", "ssh://-oProxyCommand=x", "ssh://root@h:0", "ssh://bad user@h"):
        with pytest.raises(UsageError):
            parse_target(bad)


def test_target_files(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# the nodes\nnode-1\nssh://root@node-2  # second\n\n")
    assert [t.text for t in expand_targets([f"@{hosts}", "node-3"])] == [
        "node-1",
        "ssh://root@node-2",
        "node-3",
    ]
    with pytest.raises(UsageError, match="twice"):
        expand_targets(["node-1", "node-1"])
    with pytest.raises(UsageError, match="cannot read"):
        expand_targets([f"@{tmp_path / 'missing'}"])


def test_failures_are_explained_in_one_line():
    assert explain_failure("ssh", 255, "root@h: Permission denied (publickey).\n").startswith(
        "refused:"
    )
    assert explain_failure(
        "ssh", 255, "ssh: connect to host h port 22: No route to host\n"
    ).startswith("unreachable:")
    assert (
        explain_failure("ssh", 127, "bash: line 1: python3: command not found\n")
        == "no python3 on the node"
    )
    assert "sudo -n refused" in explain_failure("ssh", 1, "sudo: a password is required\n")


# -- the shipped collector, run for real ------------------------------------------------------


def _bootstrap_job(target="local", bootstrap=None, wrap=None):
    argv = ["python3", "-c", bootstrap or bundle.BOOTSTRAP]
    if wrap:
        argv = wrap(argv)
    return Job(target, argv, "ssh")


@pytest.mark.privileged
def test_the_shipped_collector_runs_from_stdin_alone(tmp_path):
    # From an empty directory with no nsview installed: everything comes over stdin.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    job = _bootstrap_job(
        wrap=lambda argv: [
            "env",
            "-i",
            *[f"{k}={v}" for k, v in env.items()],
            "/usr/bin/python3",
            *argv[1:],
        ]
    )
    host = run_job(job, timeout=120)
    assert host.status == "ok", host.error
    assert host.snapshot.processes and host.snapshot.namespaces
    assert host.identity.boot_id and host.identity.hostname == os.uname().nodename
    names = set(
        __import__("zipfile").ZipFile(__import__("io").BytesIO(bundle.collector_zip())).namelist()
    )
    assert "nsview/fleet/remote.py" in names and not any(n.startswith("nsview/tui/") for n in names)


def test_an_old_python_on_the_node_is_named():
    old = bundle.BOOTSTRAP.replace("(3, 11)", "(3, 99)").replace("3.11 or newer", "3.99 or newer")
    host = run_job(_bootstrap_job(bootstrap=old), timeout=30)
    assert host.status == "failed"
    assert host.error.startswith("python3 3.") and "needs 3.99 or newer" in host.error


def test_no_python3_on_the_node():
    job = Job("local", ["env", "PATH=/nonexistent", "/bin/sh", "-c", "python3 -c pass"], "ssh")
    assert run_job(job, timeout=30).error == "no python3 on the node"


def test_a_collector_killed_half_way_and_a_timeout_leave_nothing(tmp_path):
    # The real collector, killed while it collects: no snapshot, and a reason.
    # (the start alone, unpacking and importing, takes longer than 0.1 s)
    killed = Job(
        "local", ["timeout", "-s", "KILL", "0.1", "python3", "-c", bundle.BOOTSTRAP], "ssh"
    )
    assert "killed (signal 9)" in run_job(killed, timeout=60).error
    seconds = f"{600 + int(unique('')[-6:], 16) % 1000}.5"  # a sleep only this test runs
    slow = Job("local", ["/bin/sh", "-c", f"sleep {seconds}"], "ssh")
    begin = time.monotonic()
    host = run_job(slow, timeout=1)
    assert host.error == "timed out after 1 s"
    assert time.monotonic() - begin < 30
    time.sleep(0.2)
    left = subprocess.run(["pgrep", "-f", f"sleep {seconds}"], capture_output=True, text=True)
    assert left.stdout.strip() == ""


# -- real nodes over ssh ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def nodes():
    """Two nodes on an underlay bridge with a VXLAN overlay between them, and a client netns."""
    from nsview.lab.nodes import make_keys, ssh_config, start_node, stop_node

    stem = unique("f")
    names = {role: f"{stem}-{role}" for role in ("hub", "n1", "n2", "cl")}
    made_netns: list[str] = []
    started = []
    containers: list[subprocess.Popen] = []
    # Keys where a plain user's sshd child can read its authorized_keys (it reads
    # them as that user): traversable directories, only the public file readable.
    workdir = Path(tempfile.mkdtemp(prefix=f"{stem}-", dir="/tmp"))
    os.chmod(workdir, 0o711)
    try:
        for name in names.values():
            run("ip", "netns", "add", name)
            made_netns.append(name)
        hub = names["hub"]
        run("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", hub, "link", "set", "br0", "up")
        addresses = {"n1": f"{UNDERLAY}.1", "n2": f"{UNDERLAY}.2", "cl": f"{UNDERLAY}.10"}
        for role, address in addresses.items():
            ns = names[role]
            port = f"p{role}"
            run(
                "ip",
                "-n",
                hub,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            run("ip", "-n", hub, "link", "set", port, "master", "br0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
        for role, peer in (("n1", "n2"), ("n2", "n1")):
            ns = names[role]
            run(
                "ip",
                "-n",
                ns,
                "link",
                "add",
                "vxlan0",
                "type",
                "vxlan",
                "id",
                str(VNI),
                "local",
                addresses[role],
                "dstport",
                "4789",
                "dev",
                "eth0",
            )
            run("ip", "-n", ns, "link", "set", "vxlan0", "up")
            run(
                "ip",
                "netns",
                "exec",
                ns,
                "bridge",
                "fdb",
                "append",
                "00:00:00:00:00:00",
                "dev",
                "vxlan0",
                "dst",
                addresses[peer],
            )
        keys = make_keys(str(workdir / "keys"))
        os.chmod(keys.directory, 0o711)
        os.chmod(keys.authorized_keys, 0o644)
        for role in ("n1", "n2"):
            started.append(
                start_node(names[role], f"/run/netns/{names[role]}", addresses[role], keys)
            )
        # A "container" inside each node (its pid and mount namespaces, a netns of
        # its own) on br0 with vxlan0: the overlay that crosses the two nodes.
        for role, node in zip(("n1", "n2"), started, strict=True):
            ns = names[role]
            container = _start_in_node(node)
            containers.append(container)
            pid = _child_of(container.pid)
            run("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
            run("ip", "-n", ns, "link", "set", "vxlan0", "master", "br0")
            run(
                "ip",
                "-n",
                ns,
                "link",
                "add",
                "cv0",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                str(pid),
            )
            run("ip", "-n", ns, "link", "set", "cv0", "master", "br0", "up")
            run("ip", "-n", ns, "link", "set", "br0", "up")
            inside = ["nsenter", "-t", str(pid), "-n", "--", "ip"]
            run(*inside, "link", "set", "lo", "up")
            run(*inside, "addr", "add", f"{OVERLAY[role]}/24", "dev", "eth0")
            run(*inside, "link", "set", "eth0", "up")
        config = ssh_config(keys, {names["n1"]: addresses["n1"]}, str(workdir / "ssh_config"))
        yield {
            "names": names,
            "addresses": addresses,
            "config": config,
            "keys": keys,
            "nodes": started,
            "workdir": workdir,
        }
    finally:
        for node in started:
            stop_node(node)  # its pid namespace goes, and the "container" with it
        for container in containers:
            container.kill()
            container.wait()
        for name in made_netns:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


OVERLAY = {"n1": "100.64.20.1", "n2": "100.64.20.2"}


def _start_in_node(node) -> subprocess.Popen:
    """A sleeper in the node's pid and mount namespaces, in a netns of its own."""
    from nsview.lab.nodes import node_init_pid

    init = node_init_pid(node)
    return subprocess.Popen(
        ["nsenter", "-t", str(init), "-p", "-m", "--", "unshare", "-n", "--", "sleep", "3600"],
        start_new_session=True,
    )


def _child_of(pid: int) -> int:
    for _ in range(200):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = f.read().split()
        except OSError:
            children = []
        if children:
            child = int(children[0])
            if os.readlink(f"/proc/{child}/exe").endswith("sleep"):
                return child
        time.sleep(0.02)
    raise AssertionError(f"no sleeper under {pid}")


def _fleet_in_client(nodes, *args, env=None):
    client = nodes["names"]["cl"]
    return subprocess.run(
        ["ip", "netns", "exec", client, nsview_bin(), "fleet", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.privileged
def test_fleet_collect_over_ssh(nodes):
    names, addresses = nodes["names"], nodes["addresses"]
    out = nodes["workdir"] / "fleet.json"
    unreachable = f"ssh://root@{UNDERLAY}.99"
    done = _fleet_in_client(
        nodes,
        "collect",
        names["n1"],
        f"ssh://root@{addresses['n2']}",
        unreachable,
        "--ssh-config",
        nodes["config"],
        "--timeout",
        "60",
        "-o",
        str(out),
    )
    # One host failed: status 1, and the two others are in the file all the same.
    assert done.returncode == 1, done.stderr
    assert f"{unreachable}: unreachable:" in done.stderr
    fleet = json.loads(out.read_text())
    assert fleet["fleet_version"] == 1
    hosts = {h["target"]: h for h in fleet["hosts"]}
    assert list(hosts) == [names["n1"], f"ssh://root@{addresses['n2']}", unreachable]
    assert hosts[unreachable]["status"] == "failed" and hosts[unreachable]["snapshot"] is None
    for target, role in ((names["n1"], "n1"), (f"ssh://root@{addresses['n2']}", "n2")):
        host = hosts[target]
        assert host["status"] == "ok", host["error"]
        assert host["identity"]["hostname"] == names[role]
        snap = host["snapshot"]
        # Only the node's own processes: its sshd is PID 1 there, and nothing of
        # the machine's (no pytest, no other node) is in it.
        procs = {p["pid"]: p for p in snap["processes"]}
        assert procs[1]["comm"] == "sshd"
        assert len(procs) < 15, sorted(p["comm"] for p in procs.values())
        assert not any(p["comm"].startswith("pytest") for p in procs.values())
        nets = [ns for ns in snap["namespaces"] if ns["type"] == "net" and ns.get("net")]
        (node_net,) = [
            ns for ns in nets if "vxlan0" in {i["name"] for i in ns["net"]["interfaces"]}
        ]
        ifaces = {i["name"]: i for i in node_net["net"]["interfaces"]}
        assert ifaces["vxlan0"]["vxlan"]["vni"] == VNI
        cidrs = {a["cidr"] for a in ifaces["eth0"]["addresses"]}
        assert f"{addresses[role]}/24" in cidrs
        # The other node's netns name is not visible here (a private /run).
        assert not any(
            names["n2" if role == "n1" else "n1"] in "".join(ns["names"])
            for ns in snap["namespaces"]
        )

    shown = subprocess.run(
        [nsview_bin(), "fleet", "show", str(out), "--json"], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    result = json.loads(shown.stdout)
    assert len(result["tunnels"]) == 1
    tunnel = result["tunnels"][0]
    assert {tunnel["a"]["hostname"], tunnel["b"]["hostname"]} == {names["n1"], names["n2"]}
    assert tunnel["a"]["vni"] == VNI and tunnel["how"] == "unicast"
    assert [o["vni"] for o in result["overlays"]] == [VNI]
    text = subprocess.run([nsview_bin(), "fleet", "show", str(out)], capture_output=True, text=True)
    assert f"VNI {VNI}" in text.stdout and "failed" in text.stdout


@pytest.mark.privileged
def test_a_refused_key_fails_alone(nodes, tmp_path):
    from nsview.lab.nodes import make_keys, ssh_config

    stranger = make_keys(str(tmp_path / "other"))  # a key no node knows
    config = ssh_config(stranger, {}, str(tmp_path / "ssh_config"))
    done = _fleet_in_client(
        nodes,
        "collect",
        f"ssh://root@{nodes['addresses']['n1']}",
        "--ssh-config",
        config,
        "--timeout",
        "30",
    )
    assert done.returncode == 1
    fleet = json.loads(done.stdout)
    assert fleet["hosts"][0]["error"].startswith("refused:")


@pytest.mark.privileged
def test_stopping_nodes_leaves_nothing(tmp_path):
    from nsview.lab.nodes import make_keys, start_node, stop_node

    name = unique("fs")
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        run("ip", "-n", name, "addr", "add", "127.0.0.2/8", "dev", "lo")
        keys = make_keys(str(tmp_path / "keys"))
        node = start_node(name, f"/run/netns/{name}", "127.0.0.2", keys)
        config = f"sshd_config.{name}"
        assert subprocess.run(["pgrep", "-f", config], capture_output=True).returncode == 0
        stop_node(node)
        time.sleep(0.3)
        assert subprocess.run(["pgrep", "-f", config], capture_output=True).returncode == 1
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


# -- kubectl (a stand-in: no cluster runs here) ------------------------------------------------


def _collect_with_kubectl(*args: str) -> subprocess.CompletedProcess:
    """`nsview fleet collect ARGS` with the stand-in kubectl first on PATH; its nodes are
    this machine (node-a) and one whose pod never starts (broken-b)."""
    env = dict(os.environ)
    env["PATH"] = f"{REPO / 'tests' / 'fixtures' / 'kubectl'}:{env['PATH']}"
    env["NSVIEW_TEST_KUBE_NODES"] = "node-a broken-b"
    return subprocess.run(
        [nsview_bin(), "fleet", "collect", *args, "--no-net", "--timeout", "280"],
        capture_output=True, text=True, env=env, timeout=300,
    )


@pytest.mark.privileged
def test_kubernetes_targets_through_kubectl(tmp_path):
    out = tmp_path / "k8s.json"
    done = _collect_with_kubectl("k8s://lab", "k8s://missing", "-o", str(out))
    assert done.returncode == 1, done.stderr
    hosts = {h["target"]: h for h in json.loads(out.read_text())["hosts"]}
    assert hosts["k8s://lab/node-a"]["status"] == "ok", hosts["k8s://lab/node-a"]["error"]
    node = hosts["k8s://lab/node-a"]["snapshot"]
    assert node["processes"]
    # --no-net reached the node: no netns was entered there.
    assert not any(ns.get("net") for ns in node["namespaces"])
    assert "did not start" in hosts["k8s://lab/broken-b"]["error"]
    assert 'context "missing" does not exist' in hosts["k8s://missing"]["error"]


def test_fleet_file_errors_are_one_line(tmp_path):
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({"schema_version": 1}))
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"fleet_version": 99, "hosts": []}))
    for path, words in ((snap, "not a fleet file"), (future, "fleet_version 99")):
        done = subprocess.run(
            [nsview_bin(), "fleet", "show", str(path)], capture_output=True, text=True
        )
        assert done.returncode in (1, 2)
        assert words in done.stderr and done.stderr.count("\n") == 1
    bad = subprocess.run(
        [nsview_bin(), "fleet", "collect", "ftp://x"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown target scheme" in bad.stderr


def test_deploy_manifest_is_valid_yaml_shape():
    manifest = Path(REPO / "deploy" / "nsview-node.yaml").read_text()
    for needed in (
        "hostPID: true",
        "hostNetwork: true",
        "privileged: true",
        "/proc",
        "/run",
        "/var/lib",
    ):
        assert needed in manifest


@pytest.mark.privileged
def test_kubernetes_through_the_daemonset():
    done = _collect_with_kubectl("--k8s-daemonset", "k8s://lab")
    assert done.returncode == 1, done.stderr
    hosts = {h["target"]: h for h in json.loads(done.stdout)["hosts"]}
    assert hosts["k8s://lab/node-a"]["status"] == "ok", hosts["k8s://lab/node-a"]["error"]
    assert "no running nsview-node pod on broken-b" in hosts["k8s://lab/broken-b"]["error"]


# -- across hosts: tunnels and the fleet doctor (pure, on hand-built fleets) ------------------


def _vxlan_host(target, local, remotes, *, vni=VNI, port=4789, mtu=1450):
    from nsview.model import (
        Address,
        FdbEntry,
        Host,
        Interface,
        Namespace,
        NetState,
        Snapshot,
        VxlanInfo,
    )
    from nsview.model.fleet import FleetHost, HostIdentity

    vxlan = Interface(
        name="vxlan0",
        ifindex=5,
        kind="vxlan",
        mtu=mtu,
        vxlan=VxlanInfo(
            vni=vni,
            port=port,
            local=local,
            dev="eth0",
            fdb=[FdbEntry("00:00:00:00:00:00", dst=r) for r in remotes],
        ),
    )
    eth0 = Interface(
        name="eth0", ifindex=2, kind="veth", addresses=[Address("inet", f"{local}/24")]
    )
    ns = Namespace(
        type="net", inode=4026531840, id=1, names=[], net=NetState(interfaces=[eth0, vxlan])
    )
    snap = Snapshot(host=Host(hostname=target), namespaces=[ns])
    return FleetHost(
        target=target, status="ok", identity=HostIdentity(hostname=target), snapshot=snap
    )


def _fleet(*hosts):
    from nsview.model.fleet import Fleet

    return Fleet(collected_at="2026-12-02T00:00:00Z", hosts=list(hosts))


def _cross(fleet):
    from nsview.analyze.doctor.fleet import run_fleet_doctor

    return sorted(f.check for f in run_fleet_doctor(fleet).cross_host)


def test_a_healthy_overlay_is_one_tunnel_and_quiet():
    from nsview.analyze.overlay import match_overlays

    fleet = _fleet(
        _vxlan_host("a", "198.18.1.1", ["198.18.1.2"]),
        _vxlan_host("b", "198.18.1.2", ["198.18.1.1"]),
    )
    result = match_overlays(fleet)
    assert len(result.tunnels) == 1 and result.tunnels[0].how == "unicast"
    assert [o.hosts for o in result.overlays] == [["a", "b"]]
    assert _cross(fleet) == []


def test_cross_host_faults_are_found():
    def pair(**b_kw):
        return _fleet(
            _vxlan_host("a", "198.18.1.1", ["198.18.1.2"]),
            _vxlan_host("b", "198.18.1.2", ["198.18.1.1"], **b_kw),
        )

    assert _cross(pair(vni=VNI + 1)) == ["overlay-vni-mismatch"]  # one finding per pair
    assert _cross(pair(port=8472)) == ["overlay-port-mismatch"]
    assert _cross(pair(mtu=1400)) == ["overlay-mtu-mismatch"]
    gone = _fleet(
        _vxlan_host("a", "198.18.1.1", ["198.18.1.2", "198.18.1.9"]),
        _vxlan_host("b", "198.18.1.2", ["198.18.1.1"]),
    )
    findings = (
        __import__("nsview.analyze.doctor.fleet", fromlist=["x"]).run_fleet_doctor(gone).cross_host
    )
    assert [f.check for f in findings] == ["overlay-remote-unknown"]
    assert findings[0].subjects[0].to_dict() == {
        "netns": 4026531840,
        "interface": "vxlan0",
        "host": "a",
    }


@pytest.mark.privileged
def test_doctor_loads_a_fleet_and_finds_an_overlay_mtu_mismatch(nodes):
    names, addresses = nodes["names"], nodes["addresses"]
    out = nodes["workdir"] / "doctor-fleet.json"
    targets = [names["n1"], f"ssh://root@{addresses['n2']}"]

    def collect():
        done = _fleet_in_client(
            nodes,
            "collect",
            *targets,
            "--ssh-config",
            nodes["config"],
            "--timeout",
            "60",
            "-o",
            str(out),
        )
        assert done.returncode == 0, done.stderr

    def overlay_findings():
        done = subprocess.run(
            [nsview_bin(), "doctor", "--load", str(out), "--json", "--severity", "info"],
            capture_output=True,
            text=True,
        )
        assert done.returncode in (0, 1), done.stderr
        report = json.loads(done.stdout)
        assert [h["status"] for h in report["hosts"]] == ["ok", "ok"]
        assert "overlay-mtu-mismatch" in report["checked"]
        return [f for f in report["findings"] if f["check"].startswith("overlay-")]

    collect()
    assert overlay_findings() == []
    run("ip", "-n", names["n2"], "link", "set", "vxlan0", "mtu", "1400")
    try:
        collect()
        found = overlay_findings()
        assert [f["check"] for f in found] == ["overlay-mtu-mismatch"]
        assert {s["host"] for s in found[0]["subjects"]} == set(targets)
        text = subprocess.run(
            [nsview_bin(), "doctor", "--load", str(out), "--only", "overlay-mtu-mismatch"],
            capture_output=True,
            text=True,
        )
        assert text.returncode == 1 and "== across hosts" in text.stdout
    finally:
        run("ip", "-n", names["n2"], "link", "set", "vxlan0", "mtu", "1450")  # vxlan default


@pytest.mark.privileged
def test_trace_follows_the_tunnel_to_the_other_node(nodes):
    names, addresses = nodes["names"], nodes["addresses"]
    out = nodes["workdir"] / "trace-fleet.json"
    targets = [names["n1"], f"ssh://root@{addresses['n2']}"]
    done = _fleet_in_client(
        nodes,
        "collect",
        *targets,
        "--ssh-config",
        nodes["config"],
        "--timeout",
        "120",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    fleet = json.loads(out.read_text())
    n1 = fleet["hosts"][0]["snapshot"]
    (sleeper,) = [p["pid"] for p in n1["processes"] if p["comm"] == "sleep"]  # node-local pid
    traced = subprocess.run(
        [
            nsview_bin(),
            "trace",
            "egress",
            str(sleeper),
            "--to",
            OVERLAY["n2"],
            "--load",
            str(out),
            "--host",
            names["n1"],
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert traced.returncode == 0, traced.stderr
    paths = json.loads(traced.stdout)["paths"]
    (path,) = paths
    hosts = [hop.get("host") for hop in path["hops"]]
    assert hosts[0] == names["n1"] and targets[1] in hosts
    assert any(
        "vxlan0" in hop["description"] and "VNI" in hop["description"] for hop in path["hops"]
    )
    # The far end is the node-2 "container" that owns the address.
    last = path["hops"][-1]
    assert last["host"] == targets[1]
    assert path["verdict"] in ("reaches", "no-listener")
    text = subprocess.run(
        [
            nsview_bin(),
            "trace",
            "egress",
            str(sleeper),
            "--to",
            OVERLAY["n2"],
            "--load",
            str(out),
            "--host",
            names["n1"],
        ],
        capture_output=True,
        text=True,
    )
    assert f"[{targets[1]}]" in text.stdout
    missing = subprocess.run(
        [nsview_bin(), "trace", "egress", "1", "--load", str(out)], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "--host" in missing.stderr


@pytest.fixture
def plain_user():
    """A user with no sudo rule (the nodes share this machine's /etc/passwd)."""
    name = unique("u")[:16]
    # "*": no password, not locked (sshd without PAM refuses a locked account).
    run("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", "-p", "*", name)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.mark.privileged
def test_sudo_as_root_collects_and_a_user_without_a_rule_is_refused(nodes, plain_user):
    address = nodes["addresses"]["n1"]
    done = _fleet_in_client(
        nodes,
        "collect",
        "--sudo",
        f"ssh://root@{address}",
        f"ssh://{plain_user}@{address}",
        "--ssh-config",
        nodes["config"],
        "--timeout",
        "120",
        "--no-net",
    )
    assert done.returncode == 1, done.stderr
    root, user = json.loads(done.stdout)["hosts"]
    assert root["status"] == "ok", root["error"]
    assert root["snapshot"]["host"]["collector_uid"] == 0
    assert user["status"] == "failed" and user["error"].startswith("sudo -n refused:")
    # Without --sudo the same user collects what it may see, and says so.
    done = _fleet_in_client(
        nodes,
        "collect",
        f"ssh://{plain_user}@{address}",
        "--ssh-config",
        nodes["config"],
        "--timeout",
        "120",
        "--no-net",
    )
    assert done.returncode == 0, done.stderr
    (host,) = json.loads(done.stdout)["hosts"]
    assert host["snapshot"]["host"]["collector_uid"] != 0
    assert host["snapshot"]["diagnostics"]
