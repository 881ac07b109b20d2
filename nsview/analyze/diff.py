"""What changed between two snapshots: namespaces, containers, and inside each netns.

Pure analysis over two ``Snapshot`` objects (the older ``a``, the newer ``b``);
``nsview diff`` and the TUI's change marks read its result.

Identity, never the inode alone (inodes are reused):
- a namespace is matched by the kernel's namespace id (``NS_GET_ID``) when both
  snapshots come from the same boot; otherwise by its bind-mount names, its
  containers, or being the host's initial namespace; an inode counts only when
  some process in it is the same process (pid and comm) on both sides;
- a container by its engine id; an interface by its name within its netns; an
  address by (interface, cidr); a route by (family, table, type, dst, metric);
  a NAT or filter rule by (backend, family, table, chain, text).
Volatile facts (ifindex, inodes, learned FDB entries, conntrack, counters of
processes inside a namespace) are not reported as changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nsview.analyze.index import SnapshotIndex
from nsview.model import Namespace, Snapshot, to_dict

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
SIGNS = {ADDED: "+", REMOVED: "-", CHANGED: "~"}

# Interface fields compared (others are volatile or shown through other sections).
_IFACE_FIELDS = ("kind", "operstate", "flags", "mtu", "mac", "master", "port_state", "alias")
_IFACE_NESTED = {
    "vxlan": ("vni", "remote", "group", "port", "local", "dev"),
    "macvlan": ("mode", "lower"),
    "ipvlan": ("mode", "lower"),
    "vlan": ("id", "protocol", "lower"),
    "bridge": ("stp_state",),
}
_ROUTE_FIELDS = ("gateway", "dev", "scope", "protocol", "prefsrc", "nexthops")
# main_pid stays: a restarted container has a new init (and a new netns).
_CONTAINER_IGNORED = frozenset({"pids", "ns", "source"})
# NetState lists that are not configuration: read, but never a "change".
_NET_IGNORED = frozenset({"nsids", "errors", "conntrack", "socket_summary"})


@dataclass(frozen=True, slots=True)
class Side:
    """Which snapshot: when and where it was collected."""

    collected_at: str
    hostname: str
    origin: str  # a file name, or "live"


@dataclass(frozen=True, slots=True)
class Scope:
    """The namespace a change is in: its label and its inode on each side."""

    type: str
    label: str
    a_inode: int | None
    b_inode: int | None


@dataclass(frozen=True, slots=True)
class Change:
    section: str  # namespace, container, interface, address, route, rule, nat, sysctl, …
    op: str  # added | removed | changed
    key: str  # the thing's identity, readable
    scope: Scope | None = None
    before: Any = None  # JSON-shaped: what A had (None when added)
    after: Any = None  # what B has (None when removed)
    fields: tuple[str, ...] = ()  # changed: the fields that differ


@dataclass(slots=True)
class SnapshotDiff:
    a: Side
    b: Side
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how matching was done, what was not comparable
    processes: tuple[int, int] = (0, 0)  # processes that appeared, that went

    @property
    def empty(self) -> bool:
        return not self.changes


def diff_snapshots(
    a: Snapshot, b: Snapshot, *, a_origin: str = "A", b_origin: str = "B"
) -> SnapshotDiff:
    result = SnapshotDiff(
        a=Side(a.collected_at, a.host.hostname, a_origin),
        b=Side(b.collected_at, b.host.hostname, b_origin),
    )
    a_index, b_index = SnapshotIndex(a), SnapshotIndex(b)
    matcher = _Matcher(a_index, b_index, result.notes)
    pairs = matcher.match()
    result.changes.extend(_namespace_changes(matcher, pairs))
    result.changes.extend(_container_changes(a, b))
    for ns_a, ns_b in pairs:
        if ns_a.type == "net" and (ns_a.net is not None or ns_b.net is not None):
            scope = Scope("net", b_index.label(ns_b), ns_a.inode, ns_b.inode)
            result.changes.extend(_net_changes(ns_a, ns_b, scope, matcher))
    result.processes = _process_counts(a, b)
    return result


# -- namespaces -----------------------------------------------------------------------


class _Matcher:
    """Pairs each namespace of A with at most one of B, by stable identity."""

    def __init__(self, a: SnapshotIndex, b: SnapshotIndex, notes: list[str]) -> None:
        self.a, self.b = a, b
        self.notes = notes
        self.b_of_a: dict[tuple[str, int], Namespace] = {}
        self.a_of_b: dict[tuple[str, int], Namespace] = {}

    def same_boot(self) -> bool:
        boot_a = getattr(self.a.snapshot.host, "boot_id", "") or ""
        boot_b = getattr(self.b.snapshot.host, "boot_id", "") or ""
        if boot_a and boot_b:
            if boot_a != boot_b:
                self.notes.append(
                    "the snapshots come from different boots: namespaces are matched by "
                    "names and containers only"
                )
            return boot_a == boot_b
        same = self.a.snapshot.host.hostname == self.b.snapshot.host.hostname
        if same:
            self.notes.append("no boot id in a snapshot: assumed one boot (same hostname)")
        return same

    def match(self) -> list[tuple[Namespace, Namespace]]:
        same_boot = self.same_boot()
        steps: list[Callable[[SnapshotIndex, Namespace], Iterable[tuple]]] = []
        if same_boot:
            steps.append(_id_keys)
        steps += [_initial_keys, _name_keys, _container_keys]
        if same_boot:
            steps.append(_inode_keys)
        for keys_of in steps:
            self._match_by(keys_of, same_boot)
        pairs = [
            (ns_a, self.b_of_a[(ns_a.type, ns_a.inode)])
            for ns_a in self.a.snapshot.namespaces
            if (ns_a.type, ns_a.inode) in self.b_of_a
        ]
        return pairs

    def _match_by(
        self, keys_of: Callable[[SnapshotIndex, Namespace], Iterable[tuple]], same_boot: bool
    ) -> None:
        wanted: dict[tuple, Namespace] = {}
        for ns in self.b.snapshot.namespaces:
            if (ns.type, ns.inode) in self.a_of_b:
                continue
            for key in keys_of(self.b, ns):
                wanted.setdefault(key, ns)
        for ns_a in self.a.snapshot.namespaces:
            if (ns_a.type, ns_a.inode) in self.b_of_a:
                continue
            for key in keys_of(self.a, ns_a):
                ns_b = wanted.get(key)
                if ns_b is None or (ns_b.type, ns_b.inode) in self.a_of_b:
                    continue
                if key[0] == "id" and ns_a.inode != ns_b.inode:
                    continue  # one boot, one id: a different inode is another namespace
                if same_boot and key[0] != "id" and None not in (ns_a.id, ns_b.id):
                    continue  # both have ids and they differ: a name moved to a new one
                self.b_of_a[(ns_a.type, ns_a.inode)] = ns_b
                self.a_of_b[(ns_b.type, ns_b.inode)] = ns_a
                break

    def peer_identity(self, inode: int, side: str) -> int | str | None:
        """A veth peer's netns, comparable across the sides: B's inode when matched,
        "went:LABEL"/"new:LABEL" when listed on one side only, else None."""
        if side == "a":
            matched = self.b_inode("net", inode)
            if matched is not None:
                return matched
            ns = self.a.namespace("net", inode)
            return f"went:{self.a.label(ns)}" if ns is not None else None
        if ("net", inode) in self.a_of_b:
            return inode
        ns = self.b.namespace("net", inode)
        return f"new:{self.b.label(ns)}" if ns is not None else None

    def b_inode(self, ns_type: str, a_inode: int | None) -> int | None:
        if a_inode is None:
            return None
        ns_b = self.b_of_a.get((ns_type, a_inode))
        return None if ns_b is None else ns_b.inode


def _id_keys(index: SnapshotIndex, ns: Namespace) -> Iterator[tuple]:
    if ns.id is not None:
        yield ("id", ns.type, ns.id)


def _initial_keys(index: SnapshotIndex, ns: Namespace) -> Iterator[tuple]:
    if index.is_initial(ns):
        yield ("initial", ns.type)


def _name_keys(index: SnapshotIndex, ns: Namespace) -> Iterator[tuple]:
    for name in ns.names:
        yield ("name", ns.type, name)


def _container_keys(index: SnapshotIndex, ns: Namespace) -> Iterator[tuple]:
    for container in getattr(ns, "containers", None) or ():
        yield ("container", ns.type, container)


def _inode_keys(index: SnapshotIndex, ns: Namespace) -> Iterator[tuple]:
    # The inode alone is not identity; with a process that is the same on both
    # sides (pid and comm) it is.
    for pid in ns.pids:
        proc = index.process(pid)
        if proc is not None:
            yield ("inode", ns.type, ns.inode, pid, proc.comm)


def _namespace_changes(matcher: _Matcher, pairs: list) -> Iterator[Change]:
    for index, op, seen in (
        (matcher.a, REMOVED, matcher.b_of_a),
        (matcher.b, ADDED, matcher.a_of_b),
    ):
        for ns in index.snapshot.namespaces:
            if (ns.type, ns.inode) in seen:
                continue
            summary = _ns_summary(index, ns)
            yield Change(
                section="namespace",
                op=op,
                key=f"{ns.type} {index.label(ns)}",
                scope=Scope(
                    ns.type,
                    index.label(ns),
                    ns.inode if op == REMOVED else None,
                    ns.inode if op == ADDED else None,
                ),
                before=summary if op == REMOVED else None,
                after=summary if op == ADDED else None,
            )
    for ns_a, ns_b in pairs:
        if ns_a.names != ns_b.names:
            yield Change(
                section="namespace",
                op=CHANGED,
                key=f"{ns_b.type} {matcher.b.label(ns_b)}",
                scope=Scope(ns_b.type, matcher.b.label(ns_b), ns_a.inode, ns_b.inode),
                before={"names": ns_a.names},
                after={"names": ns_b.names},
                fields=("names",),
            )


def _ns_summary(index: SnapshotIndex, ns: Namespace) -> dict[str, Any]:
    comms = []
    for pid in ns.pids[:5]:
        proc = index.process(pid)
        if proc is not None:
            comms.append(f"{pid} {proc.comm}")
    return {
        "type": ns.type,
        "inode": ns.inode,
        "id": ns.id,
        "names": list(ns.names),
        "pids": len(ns.pids),
        "processes": comms,
        "holders": sorted({h.kind for h in ns.holders}),
    }


# -- containers -----------------------------------------------------------------------


def _container_changes(a: Snapshot, b: Snapshot) -> Iterator[Change]:
    before = {c["id"]: c for c in _records(a, "containers") if c.get("id")}
    after = {c["id"]: c for c in _records(b, "containers") if c.get("id")}
    for cid in before.keys() - after.keys():
        yield Change("container", REMOVED, _container_key(before[cid]), before=before[cid])
    for cid in after.keys() - before.keys():
        yield Change("container", ADDED, _container_key(after[cid]), after=after[cid])
    for cid in sorted(before.keys() & after.keys()):
        old = {k: v for k, v in before[cid].items() if k not in _CONTAINER_IGNORED}
        new = {k: v for k, v in after[cid].items() if k not in _CONTAINER_IGNORED}
        fields = tuple(k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k))
        if fields:
            yield Change(
                "container",
                CHANGED,
                _container_key(after[cid]),
                before={k: old.get(k) for k in fields},
                after={k: new.get(k) for k in fields},
                fields=fields,
            )


def _records(snapshot: Snapshot, name: str) -> list[dict]:
    items = getattr(snapshot, name, None) or []
    return [to_dict(item) for item in items]


def _container_key(record: dict) -> str:
    engine = record.get("engine") or "?"
    name = record.get("name") or record["id"][:12]
    return f"{engine} {name} ({record['id'][:12]})"


# -- inside one network namespace -----------------------------------------------------


def _net_changes(
    ns_a: Namespace, ns_b: Namespace, scope: Scope, matcher: _Matcher
) -> Iterator[Change]:
    net_a = to_dict(ns_a.net) if ns_a.net is not None else {}
    net_b = to_dict(ns_b.net) if ns_b.net is not None else {}
    if not net_a or not net_b:
        return  # one side did not read this netns: nothing to compare, no false changes
    yield from _interface_changes(net_a, net_b, scope, matcher)
    yield from _keyed_changes(
        "address",
        scope,
        _addresses(net_a),
        _addresses(net_b),
    )
    yield from _keyed_changes(
        "route",
        scope,
        {route_key(r): _pick(r, _ROUTE_FIELDS) for r in net_a.get("routes", [])},
        {route_key(r): _pick(r, _ROUTE_FIELDS) for r in net_b.get("routes", [])},
    )
    yield from _multiset_changes(
        "rule",
        scope,
        [rule_key(r) for r in net_a.get("rules", [])],
        [rule_key(r) for r in net_b.get("rules", [])],
    )
    yield from _keyed_changes(
        "sysctl",
        scope,
        dict(net_a.get("sysctls", {})),
        dict(net_b.get("sysctls", {})),
    )
    handled = {"interfaces", "routes", "rules", "sysctls"}
    for section in sorted((net_a.keys() | net_b.keys()) - handled - _NET_IGNORED):
        yield from _generic_section(section, net_a.get(section), net_b.get(section), scope)


def _interface_changes(
    net_a: dict, net_b: dict, scope: Scope, matcher: _Matcher
) -> Iterator[Change]:
    by_name_a = {i["name"]: _iface_facts(i, matcher, "a") for i in net_a.get("interfaces", [])}
    by_name_b = {i["name"]: _iface_facts(i, matcher, "b") for i in net_b.get("interfaces", [])}
    yield from _keyed_changes("interface", scope, by_name_a, by_name_b)


def _iface_facts(iface: dict, matcher: _Matcher, side: str) -> dict[str, Any]:
    facts = _pick(iface, _IFACE_FIELDS)
    for nested, names in _IFACE_NESTED.items():
        if iface.get(nested):
            facts[nested] = _pick(iface[nested], names)
    peer = iface.get("peer")
    if peer:
        # The peer's netns by identity: A's inode is translated to B's when matched;
        # one listed on one side only is "went:"/"new:" and its label (a move into
        # a replaced netns shows); one in neither snapshot is None.
        netns = peer.get("netns")
        if netns is not None:
            netns = matcher.peer_identity(netns, side)
        facts["peer"] = {"name": peer.get("name"), "netns": netns}
    return facts


def _addresses(net: dict) -> dict[str, dict]:
    out = {}
    for iface in net.get("interfaces", []):
        for addr in iface.get("addresses", []):
            if addr.get("scope") == "link" and addr.get("family") == "inet6":
                continue  # derived from the MAC: follows the interface's own change
            out[f"{iface['name']} {addr['cidr']}"] = {"scope": addr.get("scope")}
    return out


def route_key(route: dict) -> str:
    """A route's identity: (type,) destination, table, metric, family."""
    parts = [route["dst"]]
    if route.get("type") not in (None, "unicast"):
        parts.insert(0, route["type"])
    parts.append(f"table {route.get('table')}")
    if route.get("metric") is not None:
        parts.append(f"metric {route['metric']}")
    if route.get("family") == "inet6":
        parts.append("(v6)")
    return " ".join(parts)


def rule_key(rule: dict) -> str:
    """A policy rule as text (its whole self is its identity)."""
    words = [str(rule.get("priority"))] if rule.get("priority") is not None else []
    for name in ("src", "dst", "iif", "oif"):
        if rule.get(name):
            words += [f"{name}", str(rule[name])]
    if rule.get("fwmark") is not None:
        words += ["fwmark", hex(rule["fwmark"])]
    words.append(f"{rule.get('action') or 'lookup'} {rule.get('table') or ''}".strip())
    if rule.get("family") == "inet6":
        words.append("(v6)")
    return " ".join(words)


def _pick(record: dict, names: Iterable[str]) -> dict[str, Any]:
    return {name: record.get(name) for name in names}


def _keyed_changes(section: str, scope: Scope, before: dict, after: dict) -> Iterator[Change]:
    for key in sorted(before.keys() - after.keys()):
        yield Change(section, REMOVED, key, scope, before=before[key])
    for key in sorted(after.keys() - before.keys()):
        yield Change(section, ADDED, key, scope, after=after[key])
    for key in sorted(before.keys() & after.keys()):
        old, new = before[key], after[key]
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            fields = tuple(k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k))
            yield Change(
                section,
                CHANGED,
                key,
                scope,
                before={k: old.get(k) for k in fields},
                after={k: new.get(k) for k in fields},
                fields=fields,
            )
        else:
            yield Change(section, CHANGED, key, scope, before=old, after=new)


def _multiset_changes(
    section: str, scope: Scope, before: list[str], after: list[str]
) -> Iterator[Change]:
    old, new = Counter(before), Counter(after)
    for key in sorted((old - new).elements()):
        yield Change(section, REMOVED, key, scope, before=key)
    for key in sorted((new - old).elements()):
        yield Change(section, ADDED, key, scope, after=key)


def _generic_section(section: str, before: Any, after: Any, scope: Scope) -> Iterator[Change]:
    """Lists of packet-filter tables (nat, filter, …) and anything newer nsview reads."""
    before, after = before or [], after or []
    if _is_tables(before) or _is_tables(after):
        yield from _table_changes(section, before, after, scope)
        return
    if section == "sockets":
        yield from _multiset_changes(section, scope, _listeners(before), _listeners(after))
        return
    if isinstance(before, list) and isinstance(after, list):
        yield from _multiset_changes(
            section,
            scope,
            [_record_text(item) for item in before],
            [_record_text(item) for item in after],
        )
    elif before != after:
        yield Change(section, CHANGED, section, scope, before=before, after=after)


def _is_tables(items: Any) -> bool:
    return (
        isinstance(items, list)
        and bool(items)
        and isinstance(items[0], dict)
        and "chains" in items[0]
    )


def _table_changes(
    section: str, before: list[dict], after: list[dict], scope: Scope
) -> Iterator[Change]:
    def chains(tables: list[dict]) -> tuple[dict[str, Any], list[str]]:
        policies: dict[str, Any] = {}
        rules: list[str] = []
        for table in tables:
            for chain in table.get("chains", []):
                policies[chain_key(table, chain)] = chain.get("policy")
                rules += [table_rule_key(table, chain, rule) for rule in chain.get("rules", [])]
        return policies, rules

    policies_a, rules_a = chains(before)
    policies_b, rules_b = chains(after)
    yield from _keyed_changes(f"{section} chain", scope, policies_a, policies_b)
    yield from _multiset_changes(section, scope, rules_a, rules_b)


def chain_key(table: dict, chain: dict) -> str:
    """A chain's identity: backend, family, table and name."""
    return f"{table.get('backend')} {table.get('family')} {table.get('table')} {chain['name']}"


def table_rule_key(table: dict, chain: dict, rule: dict) -> str:
    return f"{chain_key(table, chain)}: {rule['text']}"


def socket_key(sock: dict) -> str | None:
    """A listening socket's identity; None for a connected one (they come and go by
    the second and would drown the real changes)."""
    remote = sock.get("remote")
    if remote and not str(remote).startswith(("*", "0.0.0.0:0", "[::]:0")):
        return None
    return " ".join(str(sock.get(k)) for k in ("proto", "local", "state") if sock.get(k))


def _listeners(sockets: list[dict]) -> list[str]:
    return [key for key in map(socket_key, sockets) if key is not None]


def _record_text(item: Any) -> str:
    if isinstance(item, dict):
        parts = [f"{k}={v}" for k, v in item.items() if v not in (None, [], {}, "")]
        return " ".join(parts)
    return str(item)


# -- processes ------------------------------------------------------------------------


def _process_counts(a: Snapshot, b: Snapshot) -> tuple[int, int]:
    """(appeared, went): a process is (pid, comm, cmdline), the closest to (pid,
    start time) a snapshot has."""

    def ident(snapshot: Snapshot) -> set[tuple]:
        return {(p.pid, p.comm, tuple(p.cmdline)) for p in snapshot.processes if not p.kthread}

    before, after = ident(a), ident(b)
    return len(after - before), len(before - after)
