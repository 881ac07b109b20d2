"""The lab end to end, as root: up → check → snapshot → down → nothing remains.

Other engineers run tests on this machine at the same time, so "nothing
remains" compares only what could be the lab's: the nsvlab prefix, lab paths,
the lab environment marker, and pids/mounts recorded while the lab was up.
The lab is a singleton: these tests take down any lab that is up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nsview.lab import topology as topo
from nsview.lab.up import _veth_name

from .conftest import lab_turn, nsview_bin

pytestmark = pytest.mark.privileged

LAB_LINK_NAMES = {topo.DOCKER0, topo.USER_BRIDGE, topo.CNI_BRIDGE, topo.GWBRIDGE, "br0",
                  "vxlan0", "mv0"}
LAB_LINK_NAMES |= {_veth_name(n) for c in topo.CONTAINERS for n in (c.name, f"{c.name}-gw")}
LAB_RULE_WORDS = ("DOCKER", "CNI-", "172.17.", "172.18.", "172.19.", "100.96.", "100.64.10.",
                  "198.51.100.", topo.PREFIX)


def nsview(*args: str, env: dict | None = None, check: bool = True,
           timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([nsview_bin(), *args], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"nsview {' '.join(args)} -> {proc.returncode}\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def _root_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _root_lab_rules() -> list[str]:
    """Lines of the root netns's ruleset that look like the lab's (must never exist)."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return sorted(line for line in out.splitlines()
                  if not line.startswith("#") and any(w in line for w in LAB_RULE_WORDS))


def _mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split(" ")[4] for line in f]


def _marked_pids() -> list[int]:
    from nsview.lab.system import marked_pids

    return marked_pids()


def footprint(extra_paths: set[str] = frozenset()) -> dict:
    """Everything of the machine that could belong to the lab."""
    from nsview.lab.system import cgroup2_root

    extra_paths = {*extra_paths, f"/run/netns/{topo.CNI_NETNS}"}

    cg = cgroup2_root()
    netns = sorted(n for n in os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    return {
        "netns": [n for n in netns if n.startswith(topo.PREFIX)
                  or f"/run/netns/{n}" in extra_paths],
        "links": sorted(n for n in _root_links() if n.startswith(topo.PREFIX)
                        or n in LAB_LINK_NAMES),
        "rules": _root_lab_rules(),
        "processes": _marked_pids(),
        "mounts": [m for m in _mounts() if m.startswith(topo.RUN_DIR)
                   or m.startswith(f"/run/netns/{topo.PREFIX}") or m in extra_paths],
        "cgroup": bool(cg) and os.path.exists(os.path.join(cg, topo.CGROUP_DIR_NAME)),
        "run_dir": os.path.exists(topo.RUN_DIR),
    }


def _state() -> dict:
    return json.loads(Path(topo.STATE_FILE).read_text())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except OSError:
        return False


def assert_gone(before: dict, state: dict | None) -> None:
    extra = set()
    if state and state.get("pod", {}).get("netns"):
        extra.add(state["pod"]["netns"])
    after = footprint(extra)
    assert after == before, after
    assert not after["processes"] and not after["mounts"]
    assert not after["cgroup"] and not after["run_dir"]
    if state:
        for info in state.get("containers", {}).values():
            assert not _alive(info["pid"]), f"{info['name']} (pid {info['pid']}) survived"
        for path in extra:
            assert not os.path.exists(path)


@pytest.fixture
def clean_lab():
    """Start from no lab; whatever happens, leave no lab behind.

    The lab is one per machine: test sessions running at the same time (other
    engineers run the whole suite) take turns (conftest.lab_turn) for the
    whole test.
    """
    with lab_turn():
        yield from _clean_lab()


def _clean_lab():
    nsview("lab", "down")
    before = footprint()
    assert not before["processes"] and not before["run_dir"], before
    try:
        yield before
    finally:
        subprocess.run([nsview_bin(), "lab", "down"], capture_output=True, timeout=120)


def test_lab_lifecycle(clean_lab):
    before = clean_lab
    up = nsview("lab", "up", "--json")
    lab = json.loads(up.stdout)
    assert lab["status"] == "up" and lab["changed"] is True
    state = _state()

    # The root namespace got nothing: no lab links, no lab iptables rules.
    during = footprint()
    assert during["links"] == before["links"]
    assert during["rules"] == before["rules"]
    assert {f"{topo.PREFIX}-host1", f"{topo.PREFIX}-host2"} <= set(during["netns"])

    # up again: nothing changes
    again = json.loads(nsview("lab", "up", "--json").stdout)
    assert again["changed"] is False and again["lab_id"] == lab["lab_id"]
    assert {c["name"]: c["pid"] for c in again["containers"]} == \
        {c["name"]: c["pid"] for c in lab["containers"]}
    assert _state()["objects"] == state["objects"]

    status = json.loads(nsview("lab", "status", "--json").stdout)
    assert status["status"] == "up" and not status["problems"]

    # real traffic over every path
    check = nsview("lab", "check", "--json", check=False)
    results = json.loads(check.stdout)
    failed = [r for r in results if not r["ok"]]
    assert not failed, failed
    assert check.returncode == 0
    names = {r["name"] for r in results}
    assert {"bridge-hairpin", "published-port-external", "isolation-user-to-docker0",
            "overlay-icmp-mtu", "macvlan-out", "pod-localhost", "container-mode",
            "none-mode"} <= names

    _assert_snapshot(state)
    _assert_check_detects_breakage()

    nsview("lab", "down")
    assert_gone(before, state)
    second = nsview("lab", "down")
    assert "nothing to remove" in second.stdout
    assert json.loads(nsview("lab", "status", "--json").stdout)["status"] == "down"


def _assert_check_detects_breakage() -> None:
    """Break the published port and the bridge isolation inside lab host1 (never the
    root netns): exactly the paths that depend on them must fail."""
    host1 = ["ip", "netns", "exec", topo.HOST1.netns]
    subprocess.run([*host1, "iptables", "-w", "-t", "nat", "-F", "DOCKER"], check=True)
    subprocess.run([*host1, "iptables", "-w", "-F", "DOCKER-ISOLATION-STAGE-2"], check=True)
    check = nsview("lab", "check", "--json", check=False)
    assert check.returncode == 1
    failed = {r["name"] for r in json.loads(check.stdout) if not r["ok"]}
    assert failed == {"bridge-hairpin", "host-mode-published", "published-port-external",
                      "isolation-user-to-docker0", "isolation-docker0-to-user"}, failed


def _assert_snapshot(state: dict) -> None:
    from nsview.collect import CollectOptions, collect_snapshot

    snap = collect_snapshot(CollectOptions(net=False))
    procs = {p.pid: p for p in snap.processes}
    by_key = {(ns.type, ns.inode): ns for ns in snap.namespaces}
    c = {name: procs[info["pid"]] for name, info in state["containers"].items()}
    host1_net = os.stat(f"/run/netns/{topo.HOST1.netns}").st_ino
    root = procs[os.getpid()]

    for name, p in c.items():
        assert p.comm == topo.container(name).comm
    # bridge mode: everything private
    for t in ("net", "uts", "ipc", "pid", "mnt"):
        assert c["web"].ns[t] != root.ns[t], t
        assert c["web"].ns[t] != c["cache"].ns[t], t
    assert c["web"].nspid[-1] == 1  # pid 1 in its own pid namespace
    # container mode: web's netns, own everything else
    assert c["web-logs"].ns["net"] == c["web"].ns["net"]
    for t in ("uts", "ipc", "pid", "mnt"):
        assert c["web-logs"].ns[t] != c["web"].ns[t], t
    # host mode: the lab host's netns, own uts/pid/mnt
    assert c["metrics"].ns["net"] == host1_net == c["dockerd"].ns["net"]
    for t in ("uts", "pid", "mnt"):
        assert c["metrics"].ns[t] != root.ns[t], t
    # the lab host's daemon carries its hostname (uts) but not its own mnt/pid
    assert c["dockerd"].ns["uts"] != root.ns["uts"]
    assert c["dockerd"].ns["mnt"] == root.ns["mnt"]
    # none mode: own netns; user bridge: own netns
    assert c["batch"].ns["net"] not in (root.ns["net"], host1_net)
    # pod: pause + apps share net/ipc/uts, not pid/mnt
    for app in ("pod-nginx", "pod-envoy"):
        for t in ("net", "ipc", "uts"):
            assert c[app].ns[t] == c["pause"].ns[t], (app, t)
        for t in ("pid", "mnt"):
            assert c[app].ns[t] != c["pause"].ns[t], (app, t)
    assert c["pod-nginx"].ns["pid"] != c["pod-envoy"].ns["pid"]
    # cgroups named like the kubelet's and Docker's, where cgroup v2 is writable
    if state.get("cgroup_root"):
        uid = state["pod"]["uid"].replace("-", "_")
        for name in ("pause", "pod-nginx", "pod-envoy"):
            cid = state["containers"][name]["id"]
            assert c[name].cgroup.endswith(
                f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice"
                f"/cri-containerd-{cid}.scope"), c[name].cgroup
        assert c["web"].cgroup.endswith(
            f"/system.slice/docker-{state['containers']['web']['id']}.scope")
    # the pod's netns is also a cni-<uuid> bind mount under /run/netns
    pod_ns = by_key[("net", c["pause"].ns["net"])]
    kinds = {h.kind for h in pod_ns.holders}
    assert {"process", "bind_mount"} <= kinds
    assert os.path.basename(state["pod"]["netns"]) in pod_ns.names
    assert os.path.basename(state["pod"]["netns"]) == topo.CNI_NETNS
    # hidden namespaces: bind mount only, fd only, overlay via bind mount outside /run/netns
    orphan = by_key[("net", state["bind_only_netns"]["inode"])]
    assert not orphan.pids
    assert [(h.kind, h.path) for h in orphan.holders] == \
        [("bind_mount", state["bind_only_netns"]["path"])]
    fd_only = by_key[("net", state["fd_only_netns"]["inode"])]
    assert not fd_only.pids
    assert [(h.kind, h.pid, h.fd) for h in fd_only.holders] == \
        [("fd", state["fd_only_netns"]["pid"], state["fd_only_netns"]["fd"])]
    for host in ("host1", "host2"):
        path = f"{topo.DOCKER_NETNS_DIR}/{topo.OVERLAY_NETNS[host]}"
        ovl = by_key[("net", os.stat(path).st_ino)]
        assert not ovl.pids
        assert ("bind_mount", path) in [(h.kind, h.path) for h in ovl.holders]
        assert not path.startswith("/run/netns/")
    # overlay containers: own netns on different lab hosts
    assert c["frontend"].ns["net"] != c["backend"].ns["net"]

    # network detail, if the collector provides it (the network engineer's work)
    _assert_interfaces(c)


def _assert_interfaces(c: dict) -> None:
    """Interfaces and NAT, where the network collector (another engineer's work) has them."""
    from nsview.collect import CollectOptions, collect_snapshot

    names = ("web", "frontend", "batch", "sensor", "dockerd", "pause")
    try:
        snap = collect_snapshot(CollectOptions(net=True, net_pids=tuple(c[n].pid
                                                                         for n in names)))
    except ImportError:  # no network collector yet: the namespace facts must suffice
        return
    nets = {ns.inode: ns.net for ns in snap.namespaces if ns.type == "net"}
    state = {n: nets.get(c[n].ns["net"]) for n in names}
    if not all(st is not None and st.interfaces for st in state.values()):
        return  # collector present but not filling interfaces yet
    ifs = {n: {i.name: i for i in st.interfaces} for n, st in state.items()}
    # bridge mode: eth0 is a veth whose peer is a docker0 port in lab host1
    web_eth0 = ifs["web"]["eth0"]
    assert web_eth0.kind == "veth" and [a.cidr for a in web_eth0.addresses
                                        if a.family == "inet"] == ["172.17.0.2/16"]
    host1 = ifs["dockerd"]
    if web_eth0.peer and web_eth0.peer.status == "resolved":
        assert web_eth0.peer.netns == c["dockerd"].ns["net"]
        assert host1[web_eth0.peer.name].master == topo.DOCKER0
    assert host1[topo.DOCKER0].kind == "bridge"
    assert "172.17.0.1/16" in [a.cidr for a in host1[topo.DOCKER0].addresses]
    # overlay: MTU 1450 on eth0, a second leg on docker_gwbridge
    assert ifs["frontend"]["eth0"].mtu == topo.OVERLAY_MTU
    assert "eth1" in ifs["frontend"]
    # none mode: only lo; macvlan on the "physical" eth0
    assert list(ifs["batch"]) == ["lo"]
    assert ifs["sensor"]["eth0"].kind == "macvlan"
    # pod: the pause netns holds eth0 with the pod IP
    assert f"{topo.POD_IP}/24" in [a.cidr for a in ifs["pause"]["eth0"].addresses]
    # lab host1 NAT: DOCKER reached from PREROUTING and OUTPUT, DNAT 8080, MASQUERADE
    nat = [t for t in state["dockerd"].nat if t.table == "nat" and t.family in ("ipv4", "ip")]
    if nat:
        chains = {ch.name: ch for t in nat for ch in t.chains}
        for base in ("PREROUTING", "OUTPUT"):
            assert any(r.target == "DOCKER" for r in chains[base].rules), base
        assert any(r.target == "DNAT" and r.to_destination == "172.17.0.2:80"
                   and r.dport == str(topo.PUBLISHED_PORT) for r in chains["DOCKER"].rules)
        assert any(r.target == "MASQUERADE" and r.source == topo.DOCKER0_SUBNET
                   for r in chains["POSTROUTING"].rules)


@pytest.mark.parametrize("stop_after", [20, 45, 70, 100])
def test_down_after_up_killed_half_way(clean_lab, stop_after):
    before = clean_lab
    env = {**os.environ, "NSVIEW_LAB_STOP_AFTER": str(stop_after)}
    proc = nsview("lab", "up", env=env, check=False)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
    state = _state()
    assert state["complete"] is False
    status = nsview("lab", "status", "--json", check=False)
    assert status.returncode == 1 and json.loads(status.stdout)["status"] == "partial"
    # a crash must not leave lab objects in the root netns either
    assert footprint()["links"] == before["links"]
    nsview("lab", "down")
    assert_gone(before, state)


@pytest.mark.parametrize("sig", ["TERM", "INT"])
def test_signal_during_up_rolls_back(clean_lab, sig):
    before = clean_lab
    env = {**os.environ, "NSVIEW_LAB_STOP_AFTER": f"60:{sig}"}
    proc = nsview("lab", "up", env=env, check=False)
    assert proc.returncode == (143 if sig == "TERM" else 130), (proc.returncode, proc.stderr)
    assert footprint() == before


def test_up_rebuilds_a_partial_lab(clean_lab):
    before = clean_lab
    env = {**os.environ, "NSVIEW_LAB_STOP_AFTER": "40"}
    assert nsview("lab", "up", env=env, check=False).returncode == -signal.SIGKILL
    crashed = _state()
    lab = json.loads(nsview("lab", "up", "--json").stdout)
    assert lab["status"] == "up" and lab["changed"] and lab["lab_id"] != crashed["lab_id"]
    for info in crashed["containers"].values():
        assert not _alive(info["pid"])
    # a damaged lab (one container killed) is reported and rebuilt, not left half-working
    web = _state()["containers"]["web"]["pid"]
    os.kill(web, signal.SIGKILL)
    status = nsview("lab", "status", "--json", check=False)
    assert status.returncode == 1
    problems = json.loads(status.stdout)["problems"]
    assert any("'web'" in p for p in problems), problems
    rebuilt = json.loads(nsview("lab", "up", "--json").stdout)
    assert rebuilt["changed"] and rebuilt["status"] == "up"
    assert rebuilt["lab_id"] != lab["lab_id"]
    state = _state()
    nsview("lab", "down")
    assert_gone(before, state)


def _tool_dir(tmp_path: Path, without: str = "", fake: dict[str, str] | None = None) -> str:
    """A PATH directory with the lab's tools, minus one, or with a fake in its place."""
    import shutil

    d = tmp_path / "bin"
    d.mkdir()
    for tool in (*topo.TOOLS, "iptables-save"):
        if tool == without:
            continue
        real = shutil.which(tool)
        if fake and tool in fake:
            script = d / tool
            script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(fake[tool]).replace(
                "REAL", repr(real)))
            script.chmod(0o755)
        elif real:
            (d / tool).symlink_to(real)
    return str(d)


def test_missing_tool_is_named(clean_lab, tmp_path):
    env = {**os.environ, "PATH": _tool_dir(tmp_path, without="iptables")}
    proc = nsview("lab", "up", env=env, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0, proc.stderr  # one line
    assert "'iptables'" in proc.stderr and "Traceback" not in proc.stderr
    assert footprint() == clean_lab


def test_missing_link_type_is_named(clean_lab, tmp_path):
    fake_ip = """
        import os, sys
        if "vxlan" in sys.argv:
            sys.stderr.write('Error: Unknown device type.\\n')
            sys.exit(2)
        os.execv(REAL, [REAL, *sys.argv[1:]])
    """
    env = {**os.environ, "PATH": _tool_dir(tmp_path, fake={"ip": fake_ip})}
    proc = nsview("lab", "up", env=env, check=False)
    assert proc.returncode == 1
    assert "'vxlan' link type" in proc.stderr and "Traceback" not in proc.stderr
    assert footprint() == clean_lab


def test_missing_nat_support_is_named(clean_lab, tmp_path):
    fake_iptables = """
        import os, sys
        if "DNAT" in sys.argv:
            sys.stderr.write("iptables: No chain/target/match by that name.\\n")
            sys.exit(1)
        os.execv(REAL, [REAL, *sys.argv[1:]])
    """
    env = {**os.environ, "PATH": _tool_dir(tmp_path, fake={"iptables": fake_iptables})}
    proc = nsview("lab", "up", env=env, check=False)
    assert proc.returncode == 1
    assert "iptables nat" in proc.stderr and "No chain/target/match" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert footprint() == clean_lab


def test_failure_half_way_rolls_back(clean_lab, tmp_path):
    fake = """
        import sys
        sys.stderr.write('iptables-restore: line 3 failed\\n')
        sys.exit(1)
    """
    env = {**os.environ, "PATH": _tool_dir(tmp_path, fake={"iptables-restore": fake})}
    proc = nsview("lab", "up", env=env, check=False)
    assert proc.returncode == 1, proc.stdout
    assert "rolled back" in proc.stderr and "iptables-restore" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert footprint() == clean_lab


def test_not_root_is_refused(monkeypatch, capsys):
    from nsview.cli import main
    from nsview.lab import system as sysx

    monkeypatch.setattr(sysx.os, "geteuid", lambda: 1000)
    for action in ("up", "down", "check"):
        assert main(["lab", action]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "needs root" in err, err


DEMO = """
import sys
from nsview.lab import demo_session
with demo_session() as lab:
    print(lab.status, lab.container("web").pid, flush=True)
    sys.stdin.read()  # until killed
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_session_takes_lab_down_on_signal(clean_lab, sig):
    before = clean_lab
    proc = subprocess.Popen([sys.executable, "-c", DEMO], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        assert line and line[0] == "up", line or proc.stderr.read()
        state = _state()
        assert _alive(int(line[1]))
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0  # interrupted, not a normal exit
    assert_gone(before, state)


def test_demo_session_takes_lab_down_on_exception(clean_lab):
    from nsview.lab import demo_session, lab_status

    class Boom(Exception):
        pass

    with pytest.raises(Boom), demo_session() as lab:
        assert lab.status == "up" and lab_status().status == "up"
        state = _state()
        raise Boom
    assert lab_status().status == "down"
    assert_gone(clean_lab, state)


def test_lab_check_refuses_when_down(clean_lab):
    proc = nsview("lab", "check", check=False)
    assert proc.returncode == 1 and "run 'nsview lab up' first" in proc.stderr


def test_lab_stays_up_after_up_exits(clean_lab):
    """Lab processes are daemonized: own session, not children of `nsview lab up`."""
    nsview("lab", "up")  # has exited when this returns
    state = _state()
    for info in state["containers"].values():
        assert _alive(info["pid"]), info["name"]
        assert os.getsid(info["pid"]) == info["pid"]
        assert os.readlink(f"/proc/{info['pid']}/fd/0") == "/dev/null"
        assert os.readlink(f"/proc/{info['pid']}/cwd") == "/"
        with open(f"/proc/{info['pid']}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        assert ppid != os.getpid()


def test_lab_without_writable_cgroup2(clean_lab, monkeypatch):
    """Where no cgroup v2 hierarchy is writable, the lab still works and says so."""
    from nsview.lab import lab_down, lab_up
    from nsview.lab import system as sysx

    monkeypatch.setattr(sysx, "cgroup2_root", lambda: None)
    try:
        lab = lab_up()
        assert lab.status == "up" and lab.cgroup_root is None
        assert any("cgroup v2" in w for w in lab.warnings), lab.warnings
        for c in lab.containers:
            with open(f"/proc/{c.pid}/cgroup") as f:
                assert f"/{topo.CGROUP_DIR_NAME}/" not in f.read(), c.name
    finally:
        lab_down()
        monkeypatch.undo()
    assert footprint() == clean_lab
