"""`nsview lab up --nodes`: the lab's two hosts as real nodes, collected by
`nsview fleet collect` from the operator's netns on the underlay."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from nsview.lab import topology as topo
from tests.conftest import lab_turn, nsview_bin

pytestmark = pytest.mark.privileged


def _sshd_of_lab() -> list[str]:
    done = subprocess.run(
        ["pgrep", "-af", f"{topo.SSH_DIR}/sshd_config"], capture_output=True, text=True
    )
    return done.stdout.splitlines()


def test_lab_nodes_are_collected_over_ssh(tmp_path):
    from nsview.lab import lab_down, lab_status, lab_up

    with lab_turn():
        was_up = lab_status().status == "up"
        try:
            lab = lab_up(nodes=True)
            assert set(lab.nodes) == {"host1", "host2"}
            assert all(n["alive"] for n in lab.nodes.values())
            out = tmp_path / "fleet.json"
            unreachable = "ssh://root@198.51.100.99"
            done = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    topo.OPS_NETNS,
                    nsview_bin(),
                    "fleet",
                    "collect",
                    "--ssh-config",
                    topo.SSH_CONFIG,
                    "--timeout",
                    "240",
                    "-o",
                    str(out),
                    topo.HOST1.hostname,
                    topo.HOST2.hostname,
                    unreachable,
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 1, done.stderr
            hosts = {h["target"]: h for h in json.loads(out.read_text())["hosts"]}
            assert hosts[unreachable]["error"].startswith("unreachable:")
            lab_pids = {c.pid for c in lab.containers}
            for host in topo.HOSTS:
                entry = hosts[host.hostname]
                assert entry["status"] == "ok", entry["error"]
                assert entry["identity"]["hostname"] == host.hostname
                snap = entry["snapshot"]
                comms = sorted(p["comm"] for p in snap["processes"])
                # The node's own processes only: sshd is its PID 1, the collector
                # runs in its session; no lab container and nothing of the machine.
                assert {p["pid"]: p["comm"] for p in snap["processes"]}[1] == "sshd"
                assert len(comms) < 15, comms
                assert not lab_pids & {
                    p["pid"]
                    for p in snap["processes"]
                    if p["pid"] > 1 and p["comm"] not in ("sshd", "python3", "sh", "bash")
                }
                names = [n for ns in snap["namespaces"] for n in ns["names"]]
                other = topo.HOST2 if host is topo.HOST1 else topo.HOST1
                assert not any(
                    other.netns in n or topo.OVERLAY_NETNS[other.key] in n for n in names
                ), names
            shown = subprocess.run(
                [nsview_bin(), "fleet", "show", str(out), "--json"], capture_output=True, text=True
            )
            tunnels = json.loads(shown.stdout)["tunnels"]
            assert [t["a"]["vni"] for t in tunnels] == [topo.OVERLAY_VNI]
            assert {tunnels[0]["a"]["hostname"], tunnels[0]["b"]["hostname"]} == {
                topo.HOST1.hostname,
                topo.HOST2.hostname,
            }
        finally:
            lab_down()
            # Nothing left: no sshd of the lab, no lab netns, no run dir.
            assert _sshd_of_lab() == []
            assert not os.path.exists(topo.RUN_DIR)
            assert not [n for n in os.listdir(topo.NAMED_NETNS_DIR) if n.startswith(topo.PREFIX)]
            if was_up:
                lab_up()
