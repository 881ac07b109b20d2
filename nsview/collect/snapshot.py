"""One whole collection: every namespace, process and holder, and the network."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from nsview import __version__
from nsview.collect.namespaces import (
    Diagnostics,
    NamespaceTable,
    resolve_relations,
    walk_fds,
    walk_mounts,
    walk_processes,
)
from nsview.collect.parallel import SharedWalk, walk_plan
from nsview.collect.target import NetTarget
from nsview.errors import Cancelled
from nsview.model import Host, Snapshot, paused_gc


@dataclass(slots=True)
class CollectOptions:
    proc: str = "/proc"
    net: bool = True  # enter every netns and read its interfaces, routes, NAT
    net_pids: tuple[int, ...] | None = None  # only the netns of these processes (None = all)
    conntrack: bool = False  # with net: each netns's conntrack entries too (capped)
    # Only this one netns (``nsview net``), instead of net_pids; UsageError if it names none.
    # It shortens the walk: only net links, and no mount table but this process's (names).
    net_target: NetTarget | None = None
    # Read only namespaces of these types (dump --type): their links, fds, mounts and
    # relations; a process's ns lists only these. None: all.
    types: tuple[str, ...] | None = None
    # Read cmdline and cgroup of these processes only (dump --pid shows no other). None: all.
    detail_pids: tuple[int, ...] | None = None
    # False: no mount table is read, so namespaces held only by a bind mount are not
    # found (the TUI's quick first look, which a full collection follows at once).
    mount_tables: bool = True
    # The process walk of ``proc``, begun earlier (see cli.main); used up by the collection.
    started_walk: SharedWalk | None = None
    # Asked between steps (every few dozen processes, each network namespace):
    # True stops the collection with errors.Cancelled (the TUI quitting mid-refresh).
    cancelled: Callable[[], bool] | None = None
    # Container attribution (collect/engines): find containers by cgroup, read their engines.
    containers: bool = True
    # engine -> state roots to read instead of the discovered ones (tests; see collect/engines)
    engine_roots: dict[str, tuple[str, ...]] | None = None
    engine_socket_timeout: float = 0.5  # seconds an engine socket may take; 0: never ask
    # With net: carries the last network state over where nothing changed; its
    # carry(snapshot, table) sets those and returns the netns inodes left to read,
    # remember(snapshot) is told the result. collect.incremental.NetworkCarry (the TUI).
    net_carry: object | None = None


def collect_snapshot(options: CollectOptions | None = None) -> Snapshot:
    options = options or CollectOptions()
    proc = options.proc
    check = _raiser(options.cancelled)
    diags = Diagnostics()
    table = NamespaceTable(proc)
    types, plan, only_mnt = _walk_plan(options)
    started = options.started_walk
    if started is not None and getattr(started, "plan", plan) != plan:
        started.cancel()  # begun for other options (cli.main guessed from argv): read anew
        started = None
    with paused_gc():  # tens of thousands of acyclic objects: nothing for it to find
        processes, mount_tables, records = walk_processes(
            proc, table, diags, started, check, types, plan
        )
        nsfs_paths = walk_mounts(proc, mount_tables, table, diags, only_mnt)
        walk_fds(proc, records, table, diags, nsfs_paths)
        if check:
            check()
        resolve_relations(table, diags, types)
        namespaces = sorted(table.by_key.values(), key=lambda ns: (ns.type, ns.inode))
        for ns in namespaces:
            ns.pids.sort()
    snapshot = Snapshot(
        collected_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        host=_host(),
        namespaces=namespaces,
        processes=processes,
    )
    finish_containers = None
    if options.containers:
        from nsview.collect.engines import attribute

        with paused_gc():
            finish_containers = attribute(
                snapshot,
                table.by_key,
                diags.add,
                proc=proc,
                engine_roots=options.engine_roots,
                # One netns (nsview net): the engines' state files name it; asking their
                # sockets costs more than reading the namespace.
                socket_timeout=0 if options.net_target else options.engine_socket_timeout,
            )
    carry = options.net_carry
    stale = carry.carry(snapshot, table) if options.net and carry is not None else None
    if options.net and stale != frozenset():
        from nsview.collect.network import collect_network  # threads and tools: only when asked

        only = stale
        if options.net_pids is not None:
            wanted = set(options.net_pids)
            only = frozenset(p.ns["net"] for p in processes if p.pid in wanted and "net" in p.ns)
            only = only if stale is None else only & stale
        if options.net_target is not None:
            only = frozenset({options.net_target.find(snapshot).inode})
        owners = socket_owners(records)
        collect_network(
            snapshot,
            table,
            diags,
            only=only,
            check=check,
            socket_owners=owners,
            conntrack=options.conntrack,
        )
        if carry is not None:
            carry.remember(snapshot)
    if finish_containers is not None:
        finish_containers()  # the steps that look at interfaces
    snapshot.diagnostics = diags.items()
    return snapshot


def _walk_plan(options: CollectOptions) -> tuple[tuple[str, ...] | None, dict, frozenset | None]:
    """(types, collect.parallel.walk_plan's plan, the mount tables to read after the
    walk: None for all) for what the options ask."""
    one_netns = options.net_target is not None
    plan = walk_plan(options.types, options.detail_pids, one_netns)
    if not options.mount_tables:
        plan["mount_tables"] = False
        return options.types, plan, frozenset()
    if not one_netns:
        return options.types, plan, None
    # One netns: who is in it and what names it (ip netns/Docker names are bind
    # mounts in this mount namespace); not every mount table of the host.
    try:
        own = frozenset({os.stat(f"{options.proc}/self/ns/mnt").st_ino})
    except OSError:
        own = frozenset()
    return ("net",), plan, own


def socket_owners(records) -> dict[int, list[int]]:
    """Socket inode -> the pids holding an fd on it (sorted), from the fd walk."""
    owners: dict[int, list[int]] = {}
    for record in records:
        for inode in record.socket_inodes or ():
            pids = owners.setdefault(inode, [])
            if not pids or pids[-1] != record.pid:  # several fds, one process
                pids.append(record.pid)
    return owners


def _raiser(cancelled: Callable[[], bool] | None) -> Callable[[], None] | None:
    """A check that raises Cancelled once ``cancelled()`` says so (None: never)."""
    if cancelled is None:
        return None

    def check() -> None:
        if cancelled():
            raise Cancelled()

    return check


def _host() -> Host:
    uname = os.uname()
    return Host(
        hostname=uname.nodename,
        kernel=uname.release,
        collector_uid=os.geteuid(),
        nsview_version=__version__,
        boot_id=_boot_id(),
    )


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""
