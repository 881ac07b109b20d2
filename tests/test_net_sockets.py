"""Sockets per netns: real listeners and connections in a test netns, read through
sock_diag, owned by the processes whose fds hold them; our decoder checked
against pyroute2's on the same kernel bytes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from nsview.collect import CollectOptions, collect_snapshot
from nsview.kernel.netns import NetnsExecutor, NetnsTarget

from .conftest import run

pytestmark = pytest.mark.privileged

# Runs inside the test netns: listeners of every kind, one established TCP
# connection (both ends held by this process), then waits to be killed.
SERVER = r"""
import socket, sys, time
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", 18080)); tcp.listen()
tcp6 = socket.socket(socket.AF_INET6)
tcp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
tcp6.bind(("::", 18443)); tcp6.listen()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("0.0.0.0", 15353))
udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); udp6.bind(("::1", 15354))
udp6.connect(("::1", 15355))
dev = socket.socket(); dev.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
dev.bind(("127.0.0.1", 18081)); dev.listen()
ux = socket.socket(socket.AF_UNIX); ux.bind("\0nsvt-abstract\0x"); ux.listen()
client = socket.create_connection(("127.0.0.1", 18080))
served, _ = tcp.accept()
print("ready", client.getsockname()[1], flush=True)
time.sleep(600)
"""


@pytest.fixture
def server(netns_factory):
    ns = netns_factory("sk")
    run("ip", "-n", ns, "link", "set", "lo", "up")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline().split()
        assert line and line[0] == "ready", "the server did not start"
        # `ip netns exec` execs python: the pid is the server's.
        yield ns, proc.pid, int(line[1])
    finally:
        proc.kill()
        proc.wait()


def _sockets(pid: int):
    snap = collect_snapshot(CollectOptions(net_pids=(pid,)))
    proc = next(p for p in snap.processes if p.pid == pid)
    return snap.namespace("net", proc.ns["net"]).net.sockets


def test_listeners_connections_and_owners(server):
    _ns, pid, client_port = server
    socks = _sockets(pid)
    by_local = {(s.proto, s.local, s.state): s for s in socks}

    tcp = by_local[("tcp", "127.0.0.1:18080", "LISTEN")]
    assert (tcp.address, tcp.port, tcp.remote, tcp.family) == ("127.0.0.1", 18080, None, "inet")
    assert tcp.pids == [pid] and tcp.inode > 0 and tcp.uid == 0

    tcp6 = by_local[("tcp6", "[::]:18443", "LISTEN")]
    assert tcp6.address == "::" and tcp6.v6only is False and tcp6.pids == [pid]

    udp = by_local[("udp", "0.0.0.0:15353", "UNCONN")]
    assert udp.remote is None and udp.pids == [pid]
    udp6 = by_local[("udp6", "[::1]:15354", "ESTABLISHED")]
    assert (udp6.remote, udp6.remote_address, udp6.remote_port) == ("[::1]:15355", "::1", 15355)

    assert by_local[("tcp", "127.0.0.1:18081", "LISTEN")].interface == "lo"

    client = by_local[("tcp", f"127.0.0.1:{client_port}", "ESTABLISHED")]
    assert client.remote == "127.0.0.1:18080" and client.pids == [pid]
    served = [
        s for s in socks if s.local == "127.0.0.1:18080" and s.remote == f"127.0.0.1:{client_port}"
    ]
    assert len(served) == 1 and served[0].state == "ESTABLISHED" and served[0].pids == [pid]

    ux = by_local[("unix", "@nsvt-abstract@x", "LISTEN")]
    assert ux.type == "stream" and ux.pids == [pid] and ux.family == "unix"


def test_sockets_only_of_their_own_netns(server):
    _ns, pid, _port = server
    # The root netns's sockets are elsewhere: nothing from the server leaks there.
    snap = collect_snapshot(CollectOptions(net_pids=(os.getpid(),)))
    own = snap.namespace("net", os.stat("/proc/self/ns/net").st_ino).net
    assert not [s for s in own.sockets if pid in s.pids]


def test_lean_decoder_agrees_with_pyroute2_on_kernel_bytes(server):
    from pyroute2.netlink.diag import inet_diag_msg, unix_diag_msg

    from nsview.collect import sockdiag

    ns, _pid, _port = server

    def both(_entered):
        out = []
        with sockdiag.SockDiag() as diag:
            for family, protocol, proto in sockdiag.INET_DUMPS:
                for body in diag.inet(family, protocol):
                    raw = sockdiag.NLMSG_HDR.pack(16 + len(body), 20, 0, 0, 0) + body
                    theirs = inet_diag_msg(raw)
                    theirs.decode()
                    out.append((proto, sockdiag.decode_inet(body), theirs))
            for body in diag.tcp():  # the one-walk request for both families
                raw = sockdiag.NLMSG_HDR.pack(16 + len(body), 18, 0, 0, 0) + body
                theirs = inet_diag_msg(raw)
                theirs.decode()
                proto = "tcp6" if body[0] == 10 else "tcp"
                out.append((proto, sockdiag.decode_inet(body), theirs))
            for body in diag.unix():
                raw = sockdiag.NLMSG_HDR.pack(16 + len(body), 20, 0, 0, 0) + body
                theirs = unix_diag_msg(raw)
                theirs.decode()
                out.append(("unix", sockdiag.decode_unix(body), theirs))
        return out

    path = f"/run/netns/{ns}"
    with NetnsExecutor(1) as pool:
        messages = pool.submit(NetnsTarget(os.stat(path).st_ino, (path,)), both).result(30)
    names = {1: "lo"}
    protos = set()
    for proto, ours, theirs in messages:
        protos.add(proto)
        if proto == "unix":
            for key in ("udiag_family", "udiag_type", "udiag_state", "udiag_ino"):
                assert ours[key] == theirs[key]
        else:
            assert sockdiag.parse_inet(ours, proto, names) == sockdiag.parse_inet(
                theirs, proto, names
            )
    assert {"tcp", "tcp6", "udp", "udp6", "unix"} <= protos


def test_a_closed_socket_is_gone_on_the_next_read(server):
    ns, pid, _port = server
    probe = subprocess.Popen(
        [
            "ip", "netns", "exec", ns, sys.executable, "-c",
            "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 18099)); s.listen();"
            " print('up', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert probe.stdout.readline().strip() == "up"
        assert any(s.port == 18099 and s.pids == [probe.pid] for s in _sockets(pid))
    finally:
        probe.kill()
        probe.wait()
    for _ in range(100):  # the kernel frees the socket once the process is reaped
        if not any(s.port == 18099 for s in _sockets(pid)):
            break
        time.sleep(0.05)
    else:
        pytest.fail("a closed listener is still listed")


def test_cap_lists_every_listener_and_counts_the_rest(server):
    from nsview.collect.sockdiag import read_sockets

    ns, _pid, _port = server
    path = f"/run/netns/{ns}"

    def both(_entered):
        return read_sockets({}), read_sockets({}, cap=1)

    with NetnsExecutor(1) as pool:
        full, capped = pool.submit(NetnsTarget(os.stat(path).st_ino, (path,)), both).result(30)
    assert full.summary is None  # nothing left out: no summary
    listening = {s.local for s in full.sockets if s.state in ("LISTEN", "UNCONN")}
    assert {s.local for s in capped.sockets} >= listening
    assert not any(s.state == "ESTABLISHED" and s.proto == "tcp" for s in capped.sockets[1:])
    summary = capped.summary
    assert summary is not None and summary.total == len(full.sockets)
    assert summary.by_state["tcp ESTABLISHED"] == 2 and summary.by_state["unix LISTEN"] == 1


LISTEN_THEN_TIME_WAIT = r"""
import socket, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 18090)); srv.listen()
srv6 = socket.socket(socket.AF_INET6); srv6.bind(("::1", 18091)); srv6.listen()
print("listening", flush=True); sys.stdin.readline()
c = socket.create_connection(("127.0.0.1", 18090)); a, _ = srv.accept()
port = c.getsockname()[1]
c.close(); time.sleep(0.2); a.close()  # the client closed first: it holds TIME_WAIT
print("closed", port, flush=True); time.sleep(600)
"""


def test_only_listeners_then_a_time_wait(netns_factory):
    """A netns holding listeners alone is read from the listening hash only; once
    it has TIME_WAIT too, the established hash is walked and that socket shows."""
    from nsview.collect.sockdiag import read_sockets, sockstat

    ns = netns_factory("sl")
    run("ip", "-n", ns, "link", "set", "lo", "up")
    path = f"/run/netns/{ns}"
    target = NetnsTarget(os.stat(path).st_ino, (path,))
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", LISTEN_THEN_TIME_WAIT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout.readline().strip() == "listening"
        with NetnsExecutor(1) as pool:
            counts, first = pool.submit(target, lambda _e: (sockstat(), read_sockets({}))).result(
                30
            )
            assert counts is not None and (counts["TCP"], counts["TCP6"], counts["tw"]) == (1, 1, 0)
            assert sorted((s.proto, s.local, s.state) for s in first.sockets) == [
                ("tcp", "127.0.0.1:18090", "LISTEN"),
                ("tcp6", "[::1]:18091", "LISTEN"),
            ]
            proc.stdin.write("go\n")
            proc.stdin.flush()
            line = proc.stdout.readline().split()
            assert line[0] == "closed"
            second = pool.submit(target, lambda _e: read_sockets({})).result(30)
        (tw,) = [s for s in second.sockets if s.state == "TIME_WAIT"]
        assert (tw.local, tw.remote, tw.inode, tw.pids) == (
            f"127.0.0.1:{line[1]}",
            "127.0.0.1:18090",
            0,
            [],
        )
        assert {s.port for s in second.sockets if s.state == "LISTEN"} == {18090, 18091}
    finally:
        proc.kill()
        proc.wait()
