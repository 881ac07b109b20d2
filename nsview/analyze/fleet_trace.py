"""Traffic paths across a fleet: a trace that leaves one host through a VXLAN
tunnel goes on at the far end, on the host that owns the other VTEP.

The single-host tracer (nsview.analyze.paths) already crosses a VXLAN when
both VTEPs are in its snapshot. Here the fleet's snapshots are merged into one
for it to walk: every host's namespace inodes and pids are shifted into a range
of their own (they repeat across hosts), every namespace is named
``HOST:its own label`` (so each hop says which host it is on), and the result's
namespaces, pids and refs are shifted back, each hop and listener naming its
host. Pure analysis over a Fleet: ``--load FLEET.json`` from anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nsview.analyze.index import SnapshotIndex
from nsview.model import Snapshot, from_dict, to_dict
from nsview.model.fleet import Fleet, FleetHost

INODE_SHIFT = 1 << 33  # nsfs inodes are 32-bit
PID_SHIFT = 1 << 23  # above pid_max (4,194,304)
_NS_MAP_KEYS = ("ns", "ns_for_children")  # type -> inode maps
_LOWER_NETNS = ("dev_netns", "lower_netns")


@dataclass(slots=True)
class Merged:
    snapshot: Snapshot
    hosts: list[FleetHost]  # index i: the host whose numbers were shifted by i + 1

    def host_of(self, number: int | None, shift: int) -> tuple[FleetHost | None, int | None]:
        if number is None or number < shift:
            return None, number
        i = number // shift - 1
        return (self.hosts[i], number - (i + 1) * shift) if i < len(self.hosts) else (None, number)

    def shift_inode(self, host: FleetHost, inode: int) -> int:
        return inode + (self.hosts.index(host) + 1) * INODE_SHIFT


def merge(fleet: Fleet) -> Merged:
    hosts = fleet.ok_hosts()
    merged: dict[str, Any] = {
        "schema_version": 1,
        "namespaces": [],
        "processes": [],
        "containers": [],
        "networks": [],
        "diagnostics": [],
    }
    for i, host in enumerate(hosts):
        di, dp = (i + 1) * INODE_SHIFT, (i + 1) * PID_SHIFT
        index = SnapshotIndex(host.snapshot)
        who = host.identity.hostname or host.snapshot.host.hostname or host.target
        labels = {(ns.type, ns.inode): index.label(ns) for ns in host.snapshot.namespaces}
        data = to_dict(host.snapshot)
        if i == 0:
            merged["collected_at"] = data.get("collected_at", "")
            merged["host"] = data.get("host")
        for ns in data["namespaces"]:
            ns["names"] = [f"{who}:{labels[(ns['type'], ns['inode'])]}"]
            ns["containers"] = []  # named above: a container label would drop the host
            ns["inode"] += di
            for key in ("parent", "owner"):
                if ns.get(key) is not None:
                    ns[key] += di
            ns["pids"] = [p + dp for p in ns.get("pids", [])]
            for holder in ns.get("holders", []):
                if holder.get("pid") is not None:
                    holder["pid"] += dp
            if ns.get("net"):
                _shift_net(ns["net"], di, dp)
            merged["namespaces"].append(ns)
        for proc in data["processes"]:
            proc["pid"] += dp
            if proc.get("ppid") is not None:
                proc["ppid"] += dp
            if proc.get("nspid"):
                proc["nspid"] = [proc["nspid"][0] + dp, *proc["nspid"][1:]]
            for key in _NS_MAP_KEYS:
                proc[key] = {t: v + di for t, v in (proc.get(key) or {}).items()}
            proc["kthread"] = False  # no host's namespaces are "the" initial ones here
            proc["container"] = None
            merged["processes"].append(proc)
        for diag in data.get("diagnostics", []):
            diag["pids"] = [p + dp for p in diag.get("pids", [])]
            merged["diagnostics"].append(diag)
    return Merged(from_dict(Snapshot, merged), hosts)


def _shift_net(net: dict, di: int, dp: int) -> None:
    for iface in net.get("interfaces", []):
        peer = iface.get("peer")
        if peer and peer.get("netns") is not None:
            peer["netns"] += di
        for kind in ("vxlan", "macvlan", "ipvlan", "vlan"):
            info = iface.get(kind)
            for key in _LOWER_NETNS:
                if info and info.get(key) is not None:
                    info[key] += di
    net["nsids"] = {k: v + di for k, v in (net.get("nsids") or {}).items()}
    for sock in net.get("sockets") or []:
        sock["pids"] = [p + dp for p in sock.get("pids", [])]


def trace_egress(
    fleet: Fleet,
    host: FleetHost,
    netns: int,
    to: str | None,
    proto: str = "tcp",
    port: int | None = None,
):
    """``trace egress`` from ``netns`` on ``host``, following tunnels to other hosts.
    The Trace's hops and listener carry ``host`` (a target) and their own inodes."""
    from nsview.analyze.paths import Tracer

    merged = merge(fleet)
    trace = Tracer(merged.snapshot).egress(merged.shift_inode(host, netns), to, proto, port)
    return _unshift(trace, merged)


def trace_port(
    fleet: Fleet,
    host: FleetHost,
    netns: int,
    port: int,
    proto: str = "tcp",
    host_ip: str | None = None,
):
    """``trace port`` arriving in ``netns`` on ``host``, across tunnels too."""
    from nsview.analyze.paths import Tracer

    merged = merge(fleet)
    trace = Tracer(merged.snapshot).port(port, proto, host_ip, merged.shift_inode(host, netns))
    return _unshift(trace, merged)


def _unshift_text(text: str, merged: Merged) -> str:
    """Shifted inodes in words ("net:[21206401790]") back to their host's own."""

    def back(match: re.Match) -> str:
        found, inode = merged.host_of(int(match.group(2)), INODE_SHIFT)
        if found is None:
            return match.group(0)
        return f"{match.group(1) or ''}[{inode}]@{found.identity.hostname or found.target}"

    return _INODE_WORD.sub(back, text) if text else text


_INODE_WORD = re.compile(r"(\b[a-z]+:)?\[(\d{10,})\]")


def _unshift(trace, merged: Merged):
    for path in trace.paths:
        path.summary = _unshift_text(path.summary, merged)
        for hop in path.hops:
            hop.description = _unshift_text(hop.description, merged)
            hop.evidence = _unshift_text(hop.evidence, merged)
            found, hop.netns = merged.host_of(hop.netns, INODE_SHIFT)
            hop.host = found.target if found is not None else None
            if hop.ref and len(hop.ref) > 1 and isinstance(hop.ref[1], int):
                hop.ref = [hop.ref[0], merged.host_of(hop.ref[1], INODE_SHIFT)[1], *hop.ref[2:]]
        listener = path.listener
        if listener is not None:
            found, listener.netns = merged.host_of(listener.netns, INODE_SHIFT)
            listener.host = found.target if found is not None else None
            listener.pids = [merged.host_of(p, PID_SHIFT)[1] for p in listener.pids]
    return trace
