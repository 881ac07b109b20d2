"""Namespace checks: network namespaces that outlived what they were for."""

from __future__ import annotations

import re
from collections.abc import Iterator

from nsview.analyze.doctor.base import Context, Finding, Subject, check, ipv4_interfaces
from nsview.model import Namespace

# `ip netns` names that container engines give a sandbox's netns: a name like
# this with no process left means its container is gone.
ENGINE_NETNS_NAME = re.compile(
    r"^(cni-[0-9a-f]{8}-[0-9a-f-]{27}|netns-[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{12})$")


def _serves_processes(ctx: Context, ns: Namespace) -> bool:
    """A hub netns (Docker's overlay, a CNI bridge netns) carries no process itself but
    bridges or lends devices to namespaces that do."""
    for iface in ns.net.interfaces:
        if not iface.master:
            continue
        far = ctx.peer(ns.inode, iface)
        if far is not None:
            other = ctx.net_by_inode.get(far[0])
            if other is not None and ctx.has_processes(other):
                return True
    for other in ctx.nets:
        for iface in other.net.interfaces:
            lower = (iface.vxlan.dev_netns if iface.vxlan else None) or (
                iface.macvlan.lower_netns if iface.macvlan else None)
            if lower == ns.inode and ctx.has_processes(other):
                return True
    return False


def _release(ctx: Context, ns: Namespace) -> str:
    cmds = []
    for h in ns.holders:
        if h.kind == "bind_mount" and h.path:
            base = h.path.rsplit("/", 1)
            if base[0] in ("/run/netns", "/var/run/netns"):
                cmds.append(f"ip netns del {base[1]}")
            else:
                cmds.append(f"umount {h.path} && rm {h.path}")
        elif h.kind == "fd":
            cmds.append(f"ls -l /proc/{h.pid}/fd/{h.fd}   # pid {h.pid} holds it open")
    return "; ".join(dict.fromkeys(cmds)) or f"nsview dump --json   # net:[{ns.inode}]"


@check("leaked-netns", "warning", "namespaces",
       "a netns no process uses, held only by a bind mount or an fd")
def leaked_netns(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        if ctx.index.is_initial(ns) or ctx.has_processes(ns):
            continue
        kinds = {h.kind for h in ns.holders}
        if not kinds or not kinds <= {"bind_mount", "fd"}:
            continue
        if _serves_processes(ctx, ns):
            continue
        if any(i.peer is not None and i.peer.netns is not None and (
                ctx.net_by_inode.get(i.peer.netns) is None
                or ctx.net_by_inode[i.peer.netns].net is None) for i in ns.net.interfaces):
            continue  # where its veths lead was not read (nsview net): cannot tell
        links = [i for i in ns.net.interfaces if i.kind != "loopback"]
        # plugged into another namespace (a veth whose far end is elsewhere)
        plugged = [i for i in links if i.peer is not None and i.peer.netns is not None
                   and i.peer.netns != ns.inode]
        held = ", ".join(
            f"bind mount {h.path}" if h.kind == "bind_mount" else f"fd {h.fd} of pid {h.pid}"
            for h in ns.holders)
        engine_name = next((n for n in ns.names if ENGINE_NETNS_NAME.match(n)), None)
        evidence = [f"held by {held}", "no process has it",
                    "links: " + (", ".join(
                        f"{i.name} ({i.kind or '-'}"
                        + (f", {','.join(str(a) for a in ipv4_interfaces(i))}"
                           if ipv4_interfaces(i) else "") + ")" for i in links) or "only lo")]
        if plugged or engine_name:
            why = (f"its name {engine_name} is a container sandbox's, and no process is left"
                   if engine_name else
                   f"{', '.join(i.name for i in plugged)} still plugs it into "
                   f"{ctx.label(plugged[0].peer.netns)}, but no process uses it")
            yield Finding(
                "leaked-netns", "warning",
                [Subject(ns.inode)] + [Subject(ns.inode, i.name) for i in links],
                f"{ctx.label(ns.inode)} looks leaked: {why}.", evidence, _release(ctx, ns))
        else:
            yield Finding(
                "leaked-netns", "info", [Subject(ns.inode)],
                f"no process uses {ctx.label(ns.inode)}"
                + (" and it holds nothing but lo" if not links else
                   " and nothing visible connects it to one")
                + ": leaked, unless kept on purpose.", evidence, _release(ctx, ns))


@check("conntrack-unreplied", "warning", "namespaces",
       "conntrack entries stuck UNREPLIED toward a local address no netns owns")
def conntrack_unreplied(ctx: Context) -> Iterator[Finding]:
    from nsview.analyze.doctor.base import ip_of

    for ns in ctx.nets:
        table = ns.net.conntrack
        if table is None:
            continue  # not read (dump --conntrack)
        stuck: dict = {}
        for entry in table.entries:
            if "SEEN_REPLY" in entry.status or "ASSURED" in entry.status:
                continue
            # after DNAT the real destination is where the reply would come from
            dst = ip_of(entry.reply.src) or ip_of(entry.original.dst)
            if dst is None or dst.version != 4 or dst.is_loopback or dst in ctx.ipv4_owners:
                continue
            if not any(dst in n for n in ctx.connected_v4):
                continue  # beyond this host: unanswered traffic out there is not ours to judge
            stuck.setdefault(dst, []).append(entry)
        for dst, entries in sorted(stuck.items()):
            first = entries[0]
            yield Finding(
                "conntrack-unreplied", "warning", [Subject(ns.inode)],
                f"{len(entries)} connection(s) in {ctx.label(ns.inode)} wait UNREPLIED for "
                f"{dst}, an address on a local subnet that no netns has.",
                [f"{e.proto} {e.original.src}:{e.original.sport or ''} -> "
                 f"{e.original.dst}:{e.original.dport or ''} (reply from {e.reply.src}) "
                 f"{e.state or ''} {','.join(e.status)}".rstrip() for e in entries[:5]],
                f"{ctx.enter(ns.inode)}conntrack -L -d {first.original.dst}   # who sends there?")


NSPROXY_TYPES = ("net", "mnt", "uts", "ipc", "cgroup")


def is_zombie(proc) -> bool:
    """A process that exited and is not reaped yet: its pid (and user) links still read,
    but the ones the kernel drops at exit (net, mnt, uts, ipc, cgroup) are gone."""
    if proc.kthread or "pid" not in proc.ns:
        return False
    return not any(t in proc.ns for t in NSPROXY_TYPES) and not proc.cmdline


@check("zombie-holds-namespace", "warning", "namespaces",
       "a pid namespace kept alive only by zombies their parent has not reaped")
def zombie_holds_namespace(ctx: Context) -> Iterator[Finding]:
    index = ctx.index
    for ns in ctx.snapshot.namespaces:
        if ns.type != "pid" or not ns.pids or index.is_initial(ns):
            continue
        procs = [index.process(pid) for pid in ns.pids]
        if any(p is None or not is_zombie(p) for p in procs):
            continue
        parents = sorted({p.ppid for p in procs if p.ppid})
        names = ", ".join(f"{p.pid} ({p.comm})" for p in procs[:5])
        owner = ", ".join(
            f"{pp} ({index.process(pp).comm})" if index.process(pp) else str(pp)
            for pp in parents)
        yield Finding(
            "zombie-holds-namespace", "warning",
            [Subject(None, namespace=f"pid:{ns.inode}")]
            + [Subject(None, pid=p.pid) for p in procs[:5]],
            f"pid:[{ns.inode}] holds only zombie(s) {names}: their parent {owner or '?'} "
            "has not reaped them, so the namespace cannot go away.",
            [f"pid:[{ns.inode}]: processes {' '.join(map(str, ns.pids))}, all exited",
             *(f"{p.pid} {p.comm}: parent {p.ppid}, only pid/user links left" for p in procs[:5])],
            " ; ".join(f"kill -CHLD {pp}   # or end {pp}: PID 1 then reaps them"
                       for pp in parents) or f"ps -o pid,ppid,stat -p {ns.pids[0]}")
