"""Conntrack per netns: real flows over loopback inside a test netns (one of them
DNATed), read with ctnetlink, checked against the kernel's own /proc rendering,
capped and counted; and only read when asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nsview.collect.conntrack import parse_proc_line, read_conntrack, read_proc_conntrack
from nsview.kernel.netns import NetnsExecutor, NetnsTarget

from .conftest import nsview_bin, run

pytestmark = pytest.mark.privileged

# Inside the test netns: a TCP server, a client through a DNAT (18081 -> 18080),
# a UDP exchange, then wait. The connections stay open (ESTABLISHED).
TRAFFIC = r"""
import socket, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 18080)); srv.listen()
direct = socket.create_connection(("127.0.0.1", 18080)); a, _ = srv.accept()
nat = socket.create_connection(("127.0.0.1", 18081)); b, _ = srv.accept()
for c, s in ((direct, a), (nat, b)):
    c.sendall(b"x"); s.recv(1); s.sendall(b"y"); c.recv(1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 15353))
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.sendto(b"q", ("127.0.0.1", 15353)); _, peer = u.recvfrom(10); u.sendto(b"r", peer); v.recv(10)
print("ready", direct.getsockname()[1], nat.getsockname()[1], flush=True)
time.sleep(600)
"""


@pytest.fixture
def traffic(netns_factory):
    ns = netns_factory("ct")
    run("ip", "-n", ns, "link", "set", "lo", "up")
    # A nat rule makes the netns track connections (hooks register on first use).
    run(
        "ip", "netns", "exec", ns, "iptables-nft", "-t", "nat", "-A", "OUTPUT", "-p", "tcp",
        "-d", "127.0.0.1", "--dport", "18081", "-j", "DNAT", "--to-destination", "127.0.0.1:18080",
    )  # fmt: skip
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", TRAFFIC],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline().split()
        assert line and line[0] == "ready", "the traffic did not start"
        yield ns, proc.pid, int(line[1]), int(line[2])
    finally:
        proc.kill()
        proc.wait()


def _inside(ns: str, fn):
    path = f"/run/netns/{ns}"
    with NetnsExecutor(1) as pool:
        return pool.submit(NetnsTarget(os.stat(path).st_ino, (path,)), lambda _e: fn()).result(30)


def _flows(table):
    return {
        (
            e.proto,
            e.original.src,
            e.original.dst,
            e.original.sport,
            e.original.dport,
            e.reply.src,
            e.reply.sport,
        ): e
        for e in table.entries
    }


def test_flows_with_their_tuples_state_and_nat(traffic):
    ns, _pid, direct_port, nat_port = traffic
    table, errors = _inside(ns, read_conntrack)
    assert errors == [] and table.source == "netlink"
    flows = _flows(table)
    direct = flows[("tcp", "127.0.0.1", "127.0.0.1", direct_port, 18080, "127.0.0.1", 18080)]
    assert direct.state == "ESTABLISHED" and direct.family == "ipv4"
    assert {"SEEN_REPLY", "ASSURED", "CONFIRMED"} <= set(direct.status)
    assert "DST_NAT" not in direct.status
    # Through the DNAT: the reply comes from the real destination's port.
    nat = flows[("tcp", "127.0.0.1", "127.0.0.1", nat_port, 18081, "127.0.0.1", 18080)]
    assert "DST_NAT" in nat.status and nat.reply.dport == nat_port
    (udp,) = [e for e in table.entries if e.proto == "udp" and e.original.dport == 15353]
    assert udp.state is None and "SEEN_REPLY" in udp.status and udp.timeout is not None
    assert table.count == len(table.entries) and not table.truncated
    assert table.by_state["tcp ESTABLISHED"] >= 2 and table.by_state["udp"] >= 1


def test_netlink_and_proc_renderings_of_the_kernel_agree(traffic):
    ns, *_ = traffic
    netlink, proc = _inside(ns, lambda: (read_conntrack()[0], read_proc_conntrack()))
    assert proc is not None and proc.source == "proc"

    def key(e):
        return repr((e.family, e.proto, e.original, e.reply, e.state, e.mark, e.zone))

    ours = {key(e) for e in netlink.entries if e.proto in ("tcp", "udp")}
    theirs = {key(e) for e in proc.entries if e.proto in ("tcp", "udp")}
    assert ours == theirs and len(ours) >= 3
    for e in proc.entries:
        if e.proto == "tcp" and e.state == "ESTABLISHED":
            assert "SEEN_REPLY" in e.status and "ASSURED" in e.status


def test_cap_keeps_the_first_entries_and_counts_them_all(traffic):
    ns, *_ = traffic
    table, _ = _inside(ns, lambda: read_conntrack(cap=1))
    assert len(table.entries) == 1 and table.truncated
    assert table.count >= 3 and sum(table.by_state.values()) == table.count


def test_dump_reads_conntrack_only_when_asked(traffic):
    _ns, pid, *_ = traffic

    def net_of(extra):
        out = subprocess.run(
            [nsview_bin(), "dump", "--json", "--pid", str(pid), *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        inode = next(p for p in data["processes"] if p["pid"] == pid)["ns"]["net"]
        return next(n for n in data["namespaces"] if n["type"] == "net" and n["inode"] == inode)[
            "net"
        ]

    assert net_of([])["conntrack"] is None
    table = net_of(["--conntrack"])["conntrack"]
    assert table["source"] == "netlink" and table["count"] >= 3
    assert any(e["original"]["dport"] == 18081 for e in table["entries"])
    # The listener and both connections are in the same snapshot, owned by the process.
    socks = net_of(["--conntrack"])["sockets"]
    assert any(s["state"] == "LISTEN" and s["port"] == 18080 and s["pids"] == [pid] for s in socks)


def test_proc_lines_as_the_kernel_writes_them():
    line = (
        "ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=40000 "
        "dport=18081 src=127.0.0.1 dst=127.0.0.1 sport=18080 dport=40000 [ASSURED] mark=0 "
        "zone=0 use=2"
    )
    e = parse_proc_line(line)
    assert (e.family, e.proto, e.state, e.timeout, e.mark, e.zone) == (
        "ipv4",
        "tcp",
        "ESTABLISHED",
        431999,
        0,
        0,
    )
    assert (e.original.dport, e.reply.sport, e.reply.dport) == (18081, 18080, 40000)
    assert e.status == ["CONFIRMED", "SEEN_REPLY", "ASSURED"]
    icmp = parse_proc_line(
        "ipv4     2 icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7 [UNREPLIED] "
        "src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=7 mark=0 use=1"
    )
    assert icmp.state is None and icmp.status == ["CONFIRMED"]
    assert (icmp.original.icmp_type, icmp.reply.icmp_type, icmp.original.icmp_id) == (8, 0, 7)
    assert parse_proc_line("garbage") is None
