"""Sockets of the calling thread's netns, through sock_diag netlink (what ``ss`` reads).

A lean decoder, like :mod:`nsview.kernel.rtnl`, on the floor's netlink loop
(:mod:`nsview.kernel.netlink`): only the header fields and
the one attribute nsview shows are decoded, with ``struct``, into the shape
pyroute2's ``inet_diag_msg``/``unix_diag_msg`` produce (their field names,
``attrs`` as (name, value) pairs), so :func:`parse_inet` and
:func:`parse_unix` accept either and the tests check both agree on the same
kernel bytes.

The netlink socket is created by the caller's thread, after ``setns``: it
sees that thread's netns. Nothing is spawned.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from nsview.kernel.netlink import NLMSG_HDR, NetlinkSocket, attr_blocks
from nsview.model import Socket, SocketSummary

__all__ = ["NLMSG_HDR", "SockDiag", "read_sockets"]

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20

IPPROTO_TCP = 6
IPPROTO_UDP = 17
ALL_STATES = 0xFFFFFFFF
UDIAG_SHOW_NAME = 0x1
INET_DIAG_SKV6ONLY = 11
UNIX_DIAG_NAME = 0

# inet_diag_req_v2: family, protocol, ext, pad, states, then an all-zero sockid (48 bytes).
_INET_REQ = struct.Struct("=BBBxI48x")
# inet_diag_req (the first version, TCPDIAG_GETSOCK): family, src_len, dst_len, ext,
# sockid, states, dbs. The kernel dumps it with family AF_UNSPEC: IPv4 and IPv6
# TCP sockets in one walk of the (host-wide) hash tables instead of two.
TCPDIAG_GETSOCK = 18
_TCP_COMPAT_REQ = struct.Struct("=BBBB48xII")
TCPF_LISTEN = 1 << 10
# unix_diag_req: family, protocol, pad, states, ino, show, cookie[2].
_UNIX_REQ = struct.Struct("=BBxxIII8x")
# inet_diag_msg: family, state, timer, retrans, sport, dport (big endian), src, dst,
# if, cookie, expires, rqueue, wqueue, uid, inode.
_INET_MSG = struct.Struct("=BBBB2s2s16s16sI8xIIIII")
_UNIX_MSG = struct.Struct("=BBBxI8x")  # family, type, state, ino, cookie

# The kernel's TCP_* state numbers, named as ss names them. 7 (TCP_CLOSE) is a
# bound, unconnected socket: an unconnected UDP socket, or TCP before listen().
STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "UNCONN",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "SYN_RECV",  # TCP_NEW_SYN_RECV: a request socket, no inode yet
    13: "UNCONN",  # TCP_BOUND_INACTIVE (Linux 6.5+): bound, neither listening nor connected
}
UNIX_TYPES = {1: "stream", 2: "dgram", 5: "seqpacket"}

# (family, protocol, proto name) of each inet dump, in the order they are listed.
INET_DUMPS = (
    (socket.AF_INET, IPPROTO_TCP, "tcp"),
    (socket.AF_INET6, IPPROTO_TCP, "tcp6"),
    (socket.AF_INET, IPPROTO_UDP, "udp"),
    (socket.AF_INET6, IPPROTO_UDP, "udp6"),
)


class SockDiag(NetlinkSocket):
    """One NETLINK_SOCK_DIAG socket in the calling thread's netns."""

    def __init__(self) -> None:
        super().__init__(NETLINK_SOCK_DIAG, rcvbuf=1 << 20)

    def __enter__(self) -> SockDiag:
        return self

    def inet(self, family: int, protocol: int) -> list[bytes]:
        """The inet_diag_msg body of every socket of ``family``/``protocol``."""
        return self.dump(SOCK_DIAG_BY_FAMILY, _INET_REQ.pack(family, protocol, 0, ALL_STATES))

    def tcp(self, states: int = ALL_STATES) -> list[bytes]:
        """Every TCP socket of both families in ``states`` (a TCPF_* mask), in one walk.

        Asking for listeners only walks the listening hash alone, not the
        established one — sized for the whole host, it is what a dump costs."""
        request = _TCP_COMPAT_REQ.pack(0, 0, 0, 0, states, 0)
        return self.dump(TCPDIAG_GETSOCK, request)

    def unix(self) -> list[bytes]:
        """The unix_diag_msg body of every unix socket, with its name."""
        request = _UNIX_REQ.pack(socket.AF_UNIX, 0, ALL_STATES, 0, UDIAG_SHOW_NAME)
        return self.dump(SOCK_DIAG_BY_FAMILY, request)


def _attrs(body: bytes, start: int) -> dict[int, bytes]:
    return dict(attr_blocks(body, start, len(body)))


def decode_inet(body: bytes) -> dict[str, Any]:
    """inet_diag_msg -> pyroute2's shape (addresses as text, ports as ints)."""
    family, state, _timer, _retrans, sport, dport, src, dst, ifindex, *_, uid, inode = (
        _INET_MSG.unpack_from(body)
    )
    if family == socket.AF_INET:
        src_text = socket.inet_ntop(socket.AF_INET, src[:4])
        dst_text = socket.inet_ntop(socket.AF_INET, dst[:4])
    else:
        src_text = socket.inet_ntop(socket.AF_INET6, src)
        dst_text = socket.inet_ntop(socket.AF_INET6, dst)
    attrs = []
    v6only = _attrs(body, _INET_MSG.size).get(INET_DIAG_SKV6ONLY)
    if v6only:
        attrs.append(("INET_DIAG_SKV6ONLY", v6only[0]))
    return {
        "idiag_family": family,
        "idiag_state": state,
        "idiag_sport": int.from_bytes(sport, "big"),
        "idiag_dport": int.from_bytes(dport, "big"),
        "idiag_src": src_text,
        "idiag_dst": dst_text,
        "idiag_if": ifindex,
        "idiag_uid": uid,
        "idiag_inode": inode,
        "attrs": attrs,
    }


def decode_unix(body: bytes) -> dict[str, Any]:
    """unix_diag_msg -> pyroute2's shape; the name as raw bytes (abstract: leading NUL)."""
    family, utype, state, ino = _UNIX_MSG.unpack_from(body)
    attrs = []
    name = _attrs(body, _UNIX_MSG.size).get(UNIX_DIAG_NAME)
    if name is not None:
        attrs.append(("UNIX_DIAG_NAME", name))
    return {
        "udiag_family": family,
        "udiag_type": utype,
        "udiag_state": state,
        "udiag_ino": ino,
        "attrs": attrs,
    }


def _join(address: str, port: int, family: str) -> str:
    return f"[{address}]:{port}" if family == "inet6" else f"{address}:{port}"


_ANY = frozenset({"0.0.0.0", "::"})


def parse_inet(msg: Any, proto: str, names: dict[int, str]) -> Socket:
    """One inet socket; ``names``: ifindex -> interface name in this netns."""
    family = "inet6" if msg["idiag_family"] == socket.AF_INET6 else "inet"
    attrs = dict(msg["attrs"])
    address, port = msg["idiag_src"], msg["idiag_sport"]
    remote_address, remote_port = msg["idiag_dst"], msg["idiag_dport"]
    connected = remote_port != 0 or remote_address not in _ANY
    ifindex = msg["idiag_if"]
    v6only = attrs.get("INET_DIAG_SKV6ONLY")
    return Socket(
        proto=proto,
        family=family,
        state=STATES.get(msg["idiag_state"], str(msg["idiag_state"])),
        local=_join(address, port, family),
        remote=_join(remote_address, remote_port, family) if connected else None,
        address=address,
        port=port,
        remote_address=remote_address if connected else None,
        remote_port=remote_port if connected else None,
        inode=msg["idiag_inode"],
        uid=msg["idiag_uid"],
        interface=(names.get(ifindex) or str(ifindex)) if ifindex else None,
        v6only=bool(v6only) if family == "inet6" else None,
    )


def unix_name(raw: bytes | str | None) -> str | None:
    """An abstract name as ss shows it ("@name", inner NULs as "@"); None for the rest."""
    if isinstance(raw, str):  # pyroute2 decodes asciiz: the leading NUL is gone
        return None
    if not raw or raw[:1] != b"\0":
        return None
    return "@" + raw[1:].replace(b"\0", b"@").decode("utf-8", "backslashreplace")


def parse_unix(msg: Any) -> Socket | None:
    """An abstract unix socket, or None for path-bound and unnamed ones."""
    name = unix_name(dict(msg["attrs"]).get("UNIX_DIAG_NAME"))
    if name is None:
        return None
    return Socket(
        proto="unix",
        family="unix",
        state=STATES.get(msg["udiag_state"], str(msg["udiag_state"])),
        local=name,
        inode=msg["udiag_ino"],
        type=UNIX_TYPES.get(msg["udiag_type"], str(msg["udiag_type"])),
    )


CAP = 20_000  # sockets listed per netns; listeners always, connections up to the cap
_LISTENING = frozenset({10, 7})  # TCP_LISTEN, TCP_CLOSE (an unconnected UDP socket)


@dataclass(slots=True)
class SocketReading:
    sockets: list[Socket] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    summary: SocketSummary | None = None  # set when the cap left connections out


def sockstat() -> dict[str, int] | None:
    """This netns's socket counts from /proc/thread-self/net/sockstat(6): "TCP",
    "TCP6", "UDP", "UDP6" (hashed sockets in use) and "tw" (TIME_WAIT); None when
    the files cannot be read."""
    counts: dict[str, int] = {}
    try:
        for name in ("sockstat", "sockstat6"):
            with open(f"/proc/thread-self/net/{name}", encoding="ascii") as f:
                for line in f:
                    label, _, rest = line.partition(":")
                    words = rest.split()
                    pairs = dict(zip(words[::2], words[1::2], strict=False))
                    if label in ("TCP", "TCP6", "UDP", "UDP6") and "inuse" in pairs:
                        counts[label] = int(pairs["inuse"])
                    if label == "TCP" and "tw" in pairs:
                        counts["tw"] = int(pairs["tw"])
    except (OSError, ValueError):
        return None
    return counts if {"TCP", "UDP", "tw"} <= set(counts) else None


def _tcp_bodies(diag: SockDiag, counts: dict[str, int] | None) -> list[bytes]:
    """Every TCP socket's message, walking the host-wide established hash only
    when this netns has a TCP socket that is not a listener (``counts``: sockstat)."""
    if counts is None:
        return diag.tcp()
    v4, v6 = counts.get("TCP", 0), counts.get("TCP6", 0)
    if v4 + v6 + counts["tw"] == 0:
        return []
    listeners = diag.tcp(TCPF_LISTEN)
    listening_v6 = sum(1 for b in listeners if b[0] == socket.AF_INET6)
    if counts["tw"] == 0 and (len(listeners) - listening_v6, listening_v6) == (v4, v6):
        return listeners  # nothing but listeners here
    return listeners + diag.tcp(ALL_STATES & ~TCPF_LISTEN)


def _inet_bodies(
    diag: SockDiag, counts: dict[str, int] | None, errors: list[str]
) -> list[tuple[str, list[bytes]]]:
    """(proto, message bodies) for tcp (both families) and udp, udp6 where present."""
    out: list[tuple[str, list[bytes]]] = []
    try:
        out.append(("tcp", _tcp_bodies(diag, counts)))
    except OSError as exc:
        if exc.errno not in (2, 97, 93, 22):  # ENOENT, EAFNOSUPPORT, EPROTONOSUPPORT, EINVAL
            errors.append(f"sockets (tcp): {exc.strerror or exc}")
        # No first-version request (a kernel without it): one dump per family.
        for family, protocol, proto in INET_DUMPS[:2]:
            try:
                out.append((proto, diag.inet(family, protocol)))
            except OSError as exc2:
                if exc2.errno not in (2, 97, 93):
                    errors.append(f"sockets ({proto}): {exc2.strerror or exc2}")
    for family, protocol, proto in INET_DUMPS[2:]:
        if counts is not None and counts.get(proto.upper(), 0) == 0:
            continue  # sockstat: no bound UDP socket of this family here
        try:
            out.append((proto, diag.inet(family, protocol)))
        except OSError as exc:
            if exc.errno not in (2, 97, 93):  # ENOENT, EAFNOSUPPORT, EPROTONOSUPPORT
                errors.append(f"sockets ({proto}): {exc.strerror or exc}")
    return out


def read_sockets(names: dict[int, str], unix: bool = True, cap: int = CAP) -> SocketReading:
    """Every TCP/UDP socket (v4, v6) and abstract unix socket of this thread's netns.

    The kernel walks host-wide hash tables for each dump, so the netns's own
    counts (sockstat) decide which dumps are needed: none for TCP in a netns
    without TCP sockets, the listening hash alone where all are listeners.
    A family the kernel lacks (no IPv6) is skipped silently. Past ``cap``
    sockets (a busy proxy's TIME_WAIT), connections are only counted — by the
    state byte of each message, without decoding it — while listeners are
    still all listed: they are what traffic paths end at.
    """
    out = SocketReading()
    counts: dict[str, int] = {}
    total = 0
    with SockDiag() as diag:
        for proto, bodies in _inet_bodies(diag, sockstat(), out.errors):
            total += len(bodies)
            for body in bodies:
                state = body[1]
                name = proto + "6" if proto == "tcp" and body[0] == socket.AF_INET6 else proto
                key = f"{name} {STATES.get(state, state)}"
                counts[key] = counts.get(key, 0) + 1
                if len(out.sockets) < cap or state in _LISTENING:
                    out.sockets.append(parse_inet(decode_inet(body), name, names))
        if unix:
            try:
                bodies = diag.unix()
            except OSError as exc:
                if exc.errno not in (2, 97, 93):
                    out.errors.append(f"sockets (unix): {exc.strerror or exc}")
            else:
                for body in bodies:
                    sock = parse_unix(decode_unix(body))
                    if sock is None:
                        continue
                    total += 1
                    key = f"unix {sock.state}"
                    counts[key] = counts.get(key, 0) + 1
                    if len(out.sockets) < cap or sock.state == "LISTEN":
                        out.sockets.append(sock)
    if total > len(out.sockets):
        out.summary = SocketSummary(total=total, by_state=counts)
    return out
