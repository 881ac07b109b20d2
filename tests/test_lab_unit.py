"""Lab pieces that need no root: layout rules, the state file, check verdicts, CLI."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

import pytest

from nsview.lab import check as labcheck
from nsview.lab import topology as topo
from nsview.lab.state import StateFile

ALLOWED = [ipaddress.ip_network(n) for n in (
    "172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16",  # Docker's own, only inside lab hosts
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",  # TEST-NET-1/2/3
    "100.64.0.0/10",  # CGNAT
    "127.0.0.0/8",
)]


def _addresses() -> list[str]:
    addrs = [h.underlay_ip for h in topo.HOSTS]
    addrs += [topo.DOCKER0_GW, topo.USER_GW, topo.POD_GW, topo.POD_IP, topo.MACVLAN_IP,
              topo.BIND_ONLY_ADDR, topo.FD_ONLY_ADDR]
    addrs += [c.ip for c in topo.CONTAINERS if c.ip]
    addrs += [topo.GWBRIDGE_GW] + [c.gw_ip for c in topo.CONTAINERS if c.gw_ip]
    addrs += [p.request["host"] for p in labcheck.CHECKS]
    return addrs


def test_every_lab_address_is_lab_internal():
    for addr in _addresses():
        ip = ipaddress.ip_address(addr)
        assert any(ip in net for net in ALLOWED), addr
    for subnet in (topo.DOCKER0_SUBNET, topo.USER_SUBNET, topo.OVERLAY_SUBNET, topo.POD_SUBNET,
                   topo.GWBRIDGE_SUBNET):
        net = ipaddress.ip_network(subnet)
        assert any(net.subnet_of(a) for a in ALLOWED), subnet


def test_names_fit_kernel_limits_and_prefix():
    for c in topo.CONTAINERS:
        assert len(c.comm) <= 15, c.comm  # TASK_COMM_LEN - 1
    for h in topo.HOSTS:
        assert h.netns.startswith(topo.PREFIX)
        assert h.hostname.startswith(topo.PREFIX)
    for name in topo.OVERLAY_NETNS.values():
        assert name.startswith(topo.PREFIX)
    assert topo.BIND_ONLY_NETNS.startswith(topo.PREFIX)
    for link in (topo.DOCKER0, topo.USER_BRIDGE, topo.CNI_BRIDGE, topo.GWBRIDGE):
        assert len(link) <= 15
    assert len({c.name for c in topo.CONTAINERS}) == len(topo.CONTAINERS)


def test_joins_refer_to_earlier_containers():
    seen: set[str] = set()
    for c in topo.CONTAINERS:
        if c.mode == "daemon":
            seen.add(c.name)
    for c in topo.CONTAINERS:
        if c.mode == "daemon":
            continue
        for ref in (c.join_net, c.join_ipc_uts):
            if ref and ref != "host":
                assert ref in seen, f"{c.name} joins {ref} before it exists"
        seen.add(c.name)


def test_state_is_written_before_and_after_each_object(tmp_path):
    path = tmp_path / "state.json"
    st = StateFile({"objects": []}, str(path))
    entry = st.record("process", name="web")
    on_disk = json.loads(path.read_text())
    assert on_disk["objects"] == [{"kind": "process", "done": False, "name": "web"}]
    st.done(entry, pid=42)
    on_disk = json.loads(path.read_text())
    assert on_disk["objects"][0] == {"kind": "process", "done": True, "name": "web", "pid": 42}


def test_state_load_missing_and_corrupt(tmp_path):
    assert StateFile.load(str(tmp_path / "absent.json")) is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"objects": [')  # torn write
    st = StateFile.load(str(bad))
    assert st is not None and st.data["corrupt"] and st.objects == []


def _fake_probe(monkeypatch, answered: bool, detail: str):
    class Done:
        returncode = 0
        stdout = json.dumps({"ok": answered, "detail": detail}) + "\n"
        stderr = ""

    monkeypatch.setattr(labcheck.sysx, "run", lambda *a, **k: Done())
    st = StateFile({"objects": [], "containers": {}})
    return st


@pytest.mark.parametrize(
    ("answered", "detail", "expect_ok"),
    [(False, "timed out", True),  # a DROP: isolation holds
     (True, "connected, banner 'redis'", False),  # isolation broken
     (False, "Connection refused", False)],  # failed for the wrong reason
)
def test_blocked_check_needs_the_right_failure(monkeypatch, answered, detail, expect_ok):
    st = _fake_probe(monkeypatch, answered, detail)
    probe = labcheck._Probe("iso", "a ↛ b", "ns:host1", {"kind": "tcp", "host": "x", "port": 1},
                            "blocked", "timed out")
    result = labcheck._run(st, probe)
    assert result.ok is expect_ok
    assert result.answered is answered


def test_reach_check_fails_when_probe_cannot_run(monkeypatch):
    st = _fake_probe(monkeypatch, True, "ok")
    probe = labcheck._Probe("x", "a → b", "no-such-container", {"kind": "tcp"})
    result = labcheck._run(st, probe)
    assert not result.ok and "could not run" in result.detail


def test_cli_lab_without_action_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "nsview", "lab"], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert "up, down, status, check" in proc.stderr
