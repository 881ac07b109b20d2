"""Connection tracking entries of the calling thread's netns (what ``conntrack -L`` lists).

Read only when asked (``dump --conntrack``): a busy host tracks hundreds of
thousands of flows. One ctnetlink dump (nfnetlink subsystem 1, both address
families at once) on a :class:`~nsview.kernel.netlink.NetlinkSocket` created
after ``setns``; every entry is counted and summarised by protocol and state,
the first :data:`CAP` are kept whole. Where the netlink read is refused and
``/proc/net/nf_conntrack`` exists (CONFIG_NF_CONNTRACK_PROCFS), that file is
read instead. Nothing is spawned.
"""

from __future__ import annotations

import socket
import struct

from nsview.kernel.netlink import NETLINK_NETFILTER, NetlinkError, NetlinkSocket, attr_blocks
from nsview.model import ConntrackEntry, ConntrackTable, ConntrackTuple

CAP = 10_000  # entries kept whole per netns; the rest are only counted

NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_GET = 1
_NFGENMSG = struct.Struct("=BBH")  # family, version, res_id (big endian)

CTA_TUPLE_ORIG = 1
CTA_TUPLE_REPLY = 2
CTA_STATUS = 3
CTA_PROTOINFO = 4
CTA_TIMEOUT = 7
CTA_MARK = 8
CTA_ZONE = 18
CTA_TUPLE_IP = 1
CTA_TUPLE_PROTO = 2
CTA_PROTOINFO_TCP = 1
CTA_PROTOINFO_TCP_STATE = 1

PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 33: "dccp", 47: "gre", 58: "icmpv6", 132: "sctp"}
FAMILIES = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}
# enum tcp_conntrack
TCP_STATES = {
    0: "NONE",
    1: "SYN_SENT",
    2: "SYN_RECV",
    3: "ESTABLISHED",
    4: "FIN_WAIT",
    5: "CLOSE_WAIT",
    6: "LAST_ACK",
    7: "TIME_WAIT",
    8: "CLOSE",
    9: "SYN_SENT2",
}
# enum ip_conntrack_status, bit -> name (as conntrack -L and /proc show the useful ones)
STATUS_BITS = {
    0: "EXPECTED",
    1: "SEEN_REPLY",
    2: "ASSURED",
    3: "CONFIRMED",
    4: "SRC_NAT",
    5: "DST_NAT",
    6: "SEQ_ADJUST",
    7: "SRC_NAT_DONE",
    8: "DST_NAT_DONE",
    9: "DYING",
    10: "FIXED_TIMEOUT",
    11: "TEMPLATE",
    12: "UNTRACKED",
    13: "HELPER",
    14: "OFFLOAD",
    15: "HW_OFFLOAD",
}


class Ctnetlink(NetlinkSocket):
    """One NETLINK_NETFILTER socket for ctnetlink, in the calling thread's netns."""

    def __init__(self) -> None:
        super().__init__(NETLINK_NETFILTER, rcvbuf=4 << 20)

    def __enter__(self) -> Ctnetlink:
        return self

    def entries(self) -> list[bytes]:
        """The body (nfgenmsg + attributes) of every conntrack entry, both families."""
        msg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET
        return self.dump(msg_type, _NFGENMSG.pack(socket.AF_UNSPEC, 0, 0))


def _ip(b: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(b) == 4 else socket.AF_INET6, b)


def decode_tuple(blob: bytes) -> tuple[int | None, ConntrackTuple]:
    """A CTA_TUPLE_* block -> (protocol number, tuple)."""
    src = dst = ""
    proto: int | None = None
    t = ConntrackTuple(src="", dst="")
    for atype, value in attr_blocks(blob, 0, len(blob)):
        if atype == CTA_TUPLE_IP:
            for ip_type, ip in attr_blocks(value, 0, len(value)):
                if ip_type in (1, 3):  # CTA_IP_V4_SRC, CTA_IP_V6_SRC
                    src = _ip(ip)
                elif ip_type in (2, 4):
                    dst = _ip(ip)
        elif atype == CTA_TUPLE_PROTO:
            for p_type, p in attr_blocks(value, 0, len(value)):
                if p_type == 1:  # CTA_PROTO_NUM
                    proto = p[0]
                elif p_type == 2:
                    t.sport = int.from_bytes(p[:2], "big")
                elif p_type == 3:
                    t.dport = int.from_bytes(p[:2], "big")
                elif p_type in (4, 7):  # ICMP(V6)_ID
                    t.icmp_id = int.from_bytes(p[:2], "big")
                elif p_type in (5, 8):
                    t.icmp_type = p[0]
                elif p_type in (6, 9):
                    t.icmp_code = p[0]
    t.src, t.dst = src, dst
    return proto, t


def _tcp_state(blob: bytes) -> str | None:
    for atype, value in attr_blocks(blob, 0, len(blob)):
        if atype == CTA_PROTOINFO_TCP:
            for t_type, t in attr_blocks(value, 0, len(value)):
                if t_type == CTA_PROTOINFO_TCP_STATE and t:
                    return TCP_STATES.get(t[0], str(t[0]))
    return None


def decode_entry(body: bytes) -> ConntrackEntry:
    family = FAMILIES.get(body[0], str(body[0]))
    attrs = dict(attr_blocks(body, _NFGENMSG.size, len(body)))
    proto, original = decode_tuple(attrs.get(CTA_TUPLE_ORIG, b""))
    _, reply = decode_tuple(attrs.get(CTA_TUPLE_REPLY, b""))
    entry = ConntrackEntry(
        family=family,
        proto=PROTOCOLS.get(proto, str(proto)) if proto is not None else "?",
        original=original,
        reply=reply,
        zone=0,  # the kernel leaves CTA_ZONE out for the default zone
    )
    status = attrs.get(CTA_STATUS)
    if status is not None and len(status) >= 4:
        bits = int.from_bytes(status[:4], "big")
        entry.status = [name for bit, name in STATUS_BITS.items() if bits & (1 << bit)]
    if CTA_PROTOINFO in attrs:
        entry.state = _tcp_state(attrs[CTA_PROTOINFO])
    for key, field, size in (
        (CTA_MARK, "mark", 4),
        (CTA_TIMEOUT, "timeout", 4),
        (CTA_ZONE, "zone", 2),
    ):
        value = attrs.get(key)
        if value is not None and len(value) >= size:
            setattr(entry, field, int.from_bytes(value[:size], "big"))
    return entry


def summary_key(entry: ConntrackEntry) -> str:
    return f"{entry.proto} {entry.state}" if entry.state else entry.proto


def read_conntrack(cap: int = CAP) -> tuple[ConntrackTable | None, list[str]]:
    """This thread's netns's conntrack table (None when it cannot be read), and errors."""
    try:
        with Ctnetlink() as ct:
            bodies = ct.entries()
    except (NetlinkError, OSError) as exc:
        proc = read_proc_conntrack(cap)
        if proc is not None:
            return proc, []
        return None, [f"conntrack: {exc.strerror or exc}"]
    table = ConntrackTable(count=len(bodies), source="netlink")
    for i, body in enumerate(bodies):
        try:
            entry = decode_entry(body)
        except (struct.error, ValueError, IndexError):
            continue  # a malformed entry costs that entry only (still counted)
        key = summary_key(entry)
        table.by_state[key] = table.by_state.get(key, 0) + 1
        if i < cap:
            table.entries.append(entry)
    table.truncated = table.count > len(table.entries)
    return table, []


def read_proc_conntrack(cap: int = CAP, path: str = "/proc/thread-self/net/nf_conntrack"):
    """The same from the procfs file, where the kernel has it; None where it does not."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    table = ConntrackTable(count=len(lines), source="proc")
    for i, line in enumerate(lines):
        entry = parse_proc_line(line)
        if entry is None:
            continue
        key = summary_key(entry)
        table.by_state[key] = table.by_state.get(key, 0) + 1
        if i < cap:
            table.entries.append(entry)
    table.truncated = table.count > len(table.entries)
    return table


def parse_proc_line(line: str) -> ConntrackEntry | None:
    """``ipv4 2 tcp 6 431999 ESTABLISHED src=… dst=… sport=… dport=… src=… … [ASSURED] mark=0``."""
    parts = line.split()
    if len(parts) < 6:
        return None
    family, proto = parts[0], parts[2]
    rest = parts[5:]
    state = None
    if rest and "=" not in rest[0] and not rest[0].startswith("["):
        state, rest = rest[0], rest[1:]
    tuples = [ConntrackTuple("", ""), ConntrackTuple("", "")]
    side = -1
    entry = ConntrackEntry(family=family, proto=proto, original=tuples[0], reply=tuples[1])
    entry.state = state
    if parts[4].isdigit():
        entry.timeout = int(parts[4])
    flags = []
    for token in rest:
        if token.startswith("["):
            flags.append(token.strip("[]"))
            continue
        key, _, value = token.partition("=")
        if key == "src":
            side = min(side + 1, 1)
            tuples[side].src = value
        elif side < 0:
            continue
        elif key == "dst":
            tuples[side].dst = value
        elif key in ("sport", "dport", "id", "type", "code") and value.isdigit():
            attr = {"id": "icmp_id", "type": "icmp_type", "code": "icmp_code"}.get(key, key)
            setattr(tuples[side], attr, int(value))
        elif key in ("mark", "zone") and value.isdigit():
            setattr(entry, key, int(value))
    # The same names as ctnetlink's status bits: the file says [UNREPLIED] instead.
    entry.status = ["CONFIRMED"] + ([] if "UNREPLIED" in flags else ["SEEN_REPLY"])
    entry.status += [f for f in flags if f != "UNREPLIED"]
    return entry


def read_netns_conntrack(
    snapshot, inode: int, proc: str = "/proc", cap: int = CAP
) -> tuple[ConntrackTable | None, list[str]]:
    """One network namespace's table, entered as the network collector enters it
    (a :class:`~nsview.kernel.netns.NetnsExecutor` worker, through the paths the
    snapshot's holders give): the TUI's lazy read. Never raises for a namespace
    that is gone or denied: (None, [why])."""
    from nsview.collect.namespaces import NamespaceTable
    from nsview.kernel.netns import NetnsExecutor, NetnsGone, NetnsTarget

    ns = next((n for n in snapshot.namespaces if n.type == "net" and n.inode == inode), None)
    if ns is None:
        return None, [f"net:[{inode}]: not in this snapshot"]
    paths = tuple(NamespaceTable.from_snapshot(snapshot, proc).opener_paths(ns))
    if not paths:
        return None, [f"net:[{inode}]: no path opens it"]
    with NetnsExecutor(1) as pool:
        future = pool.submit(NetnsTarget(inode, paths), lambda _entered: read_conntrack(cap))
        try:
            return future.result()
        except NetnsGone as exc:  # NetnsDenied too
            return None, [str(exc)]
