"""What a netfilter rule tests and does, read from the snapshot's rule.

A rule is read from its text for the iptables backends (``-A CHAIN …`` is
what ``iptables-save`` printed, the truth), and from its fields plus the raw
expressions kept in ``extra`` for native nftables. Each test is a small
function of the packet that answers True, False or None (nsview cannot tell:
an ipset, a physdev match, a module it does not know).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A test: (packet, context) -> True / False / None (cannot tell).
Test = Callable[[Any, Any], "bool | None"]

TERMINAL = frozenset({"ACCEPT", "DROP", "REJECT"})
NAT_TARGETS = frozenset({"DNAT", "SNAT", "MASQUERADE", "REDIRECT"})
# Targets that change nothing a trace follows and let the packet go on.
NON_TERMINAL = frozenset(
    {
        "LOG",
        "NFLOG",
        "ULOG",
        "CONNMARK",
        "CT",
        "NOTRACK",
        "TRACE",
        "CHECKSUM",
        "TCPMSS",
        "TOS",
        "DSCP",
        "TTL",
        "HL",
        "CLASSIFY",
        "AUDIT",
        "CONTINUE",
        "SET",
        "IDLETIMER",
        "counter",
    }
)
# Targets that hand the packet to something nsview cannot follow.
OPAQUE = frozenset({"NFQUEUE", "QUEUE", "TPROXY", "TEE", "XFRM"})


@dataclass(slots=True)
class Condition:
    text: str
    test: Test
    known: bool = True  # False: nsview cannot evaluate it (the test answers None)


@dataclass(slots=True)
class RuleSpec:
    conditions: list[Condition] = field(default_factory=list)
    probability: float | None = None  # -m statistic --mode random / nft numgen
    target: str | None = None
    goto: bool = False
    nat_to: str | None = None  # DNAT/SNAT address[:port], REDIRECT/MASQUERADE ports
    mark: tuple[str, int, int] | None = None  # (op, value, mask): MARK / meta mark set
    # nft verdict map: (key reader, {key text: (target, goto)}); the rule's target is the hit.
    vmap: tuple[Callable[[Any], str | None], dict[str, tuple[str, bool]], str] | None = None


# ------------------------------------------------------------------ value tests


def _networks(text: str) -> list[Any] | None:
    out = []
    text = text.strip("{} ").replace(" ", "")
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part and "/" not in part:
            lo, _, hi = part.partition("-")
            try:
                out.append((ipaddress.ip_address(lo), ipaddress.ip_address(hi)))
            except ValueError:
                return None
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            return None
    return out


def ip_in(ip: Any, text: str) -> bool | None:
    if ip is None:
        return None
    nets = _networks(text)
    if nets is None:
        return None
    for n in nets:
        if isinstance(n, tuple):
            if n[0].version == ip.version and n[0] <= ip <= n[1]:
                return True
        elif n.version == ip.version and ip in n:
            return True
    return False


def port_in(port: int | None, text: str) -> bool | None:
    if port is None:
        return None
    for part in text.strip("{} ").replace(" ", "").split(","):
        if not part:
            continue
        sep = ":" if ":" in part else "-" if "-" in part else None
        try:
            if sep:
                lo, _, hi = part.partition(sep)
                if int(lo or 0) <= port <= int(hi or 65535):
                    return True
            elif int(part) == port:
                return True
        except ValueError:
            return None
    return False


def iface_is(name: str | None, pattern: str) -> bool:
    """iptables' ``veth+`` and nft's ``veth*`` match by prefix."""
    if name is None:
        return False
    pattern = pattern.strip('"')
    if pattern.endswith(("+", "*")):
        return name.startswith(pattern[:-1])
    return name == pattern


def proto_is(proto: str, text: str) -> bool | None:
    names = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "132": "sctp"}
    wanted = {names.get(p.strip().lower(), p.strip().lower()) for p in text.split(",")}
    if "all" in wanted or "0" in wanted:
        return True
    return proto in wanted


def _negate(test: Test) -> Test:
    def negated(pkt: Any, ctx: Any) -> bool | None:
        r = test(pkt, ctx)
        return None if r is None else not r

    return negated


def _parse_mark(text: str) -> tuple[int, int] | None:
    value, _, mask = text.partition("/")
    try:
        return int(value, 0), int(mask, 0) if mask else 0xFFFFFFFF
    except ValueError:
        return None


def _mark_test(text: str) -> Test | None:
    parsed = _parse_mark(text)
    if parsed is None:
        return None
    value, mask = parsed
    return lambda pkt, ctx: (pkt.mark & mask) == value


def _addrtype_test(which: str, types: str) -> Test:
    wanted = {t.strip().upper() for t in types.split(",")}

    def test(pkt: Any, ctx: Any) -> bool | None:
        ip = pkt.dst if which == "dst" else pkt.src
        if ip is None:
            return None
        kinds = ctx.addr_types(ip)
        return bool(kinds & wanted)

    return test


def _ctstate_test(states: str) -> Test:
    wanted = {s.strip().upper() for s in states.split(",")}

    def test(pkt: Any, ctx: Any) -> bool | None:
        have = {"NEW"}
        if pkt.dnat_done:
            have.add("DNAT")
        if pkt.snat_done:
            have.add("SNAT")
        return bool(have & wanted)

    return test


def _unknown(text: str) -> Condition:
    return Condition(text, lambda pkt, ctx: None, known=False)


# ------------------------------------------------------------------ iptables


_VALUE_OPTIONS = {
    "-s",
    "--source",
    "--src",
    "-d",
    "--destination",
    "--dst",
    "-p",
    "--protocol",
    "-i",
    "--in-interface",
    "-o",
    "--out-interface",
}


def _field_condition(opt: str, value: str) -> Condition | None:
    text = f"{opt} {value}"
    if opt in ("-s", "--source", "--src", "--src-range"):
        return Condition(text, lambda pkt, ctx: ip_in(pkt.src, value))
    if opt in ("-d", "--destination", "--dst", "--dst-range"):
        return Condition(text, lambda pkt, ctx: ip_in(pkt.dst, value))
    if opt in ("-p", "--protocol"):
        return Condition(text, lambda pkt, ctx: proto_is(pkt.proto, value))
    if opt in ("-i", "--in-interface"):
        return Condition(text, lambda pkt, ctx: iface_is(pkt.iif, value))
    if opt in ("-o", "--out-interface"):
        return Condition(text, lambda pkt, ctx: iface_is(pkt.oif, value))
    if opt in ("--dport", "--destination-port", "--dports", "--destination-ports"):
        return Condition(text, lambda pkt, ctx: port_in(pkt.dport, value))
    if opt in ("--sport", "--source-port", "--sports", "--source-ports"):
        return Condition(text, lambda pkt, ctx: port_in(pkt.sport, value))
    if opt == "--dst-type":
        return Condition(text, _addrtype_test("dst", value))
    if opt == "--src-type":
        return Condition(text, _addrtype_test("src", value))
    if opt in ("--ctstate", "--state"):
        return Condition(text, _ctstate_test(value))
    if opt == "--mark":
        test = _mark_test(value)
        return Condition(text, test) if test else None
    return None


# Options that only qualify another (or say nothing about a new connection).
_HARMLESS = frozenset({"--comment", "--limit-iface-in", "--limit-iface-out", "--syn"})
_TARGET_VALUE = {"--to-destination", "--to-source", "--to-ports", "--to"}
_MARK_OPS = {
    "--set-xmark": "xset",
    "--set-mark": "set",
    "--or-mark": "or",
    "--and-mark": "and",
    "--xor-mark": "xor",
}


def parse_iptables(text: str) -> RuleSpec:
    spec = RuleSpec()
    try:
        tokens = shlex.split(text)
    except ValueError:
        spec.conditions.append(_unknown(text))
        return spec
    if len(tokens) < 2 or tokens[0] not in ("-A", "--append", "-I"):
        spec.conditions.append(_unknown(text))
        return spec
    i, negate, in_target, module = 2, False, False, ""
    statistic: dict[str, str] = {}
    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            negate = True
            i += 1
            continue
        # An option and its values: everything up to the next option.
        j = i + 1
        while j < len(tokens) and not tokens[j].startswith("-") and tokens[j] != "!":
            j += 1
        values = tokens[i + 1 : j]
        value = " ".join(values)
        if tok in ("-j", "--jump", "-g", "--goto") and values:
            spec.target = values[0]
            spec.goto = tok in ("-g", "--goto")
            in_target = True
        elif tok in ("-m", "--match") and values:
            module = values[0]  # its options follow; the ones not known cannot be told
        elif in_target:
            if tok in _TARGET_VALUE and values:
                spec.nat_to = values[0]
            elif tok in _MARK_OPS and values:
                parsed = _parse_mark(values[0])
                if parsed:
                    spec.mark = (_MARK_OPS[tok], parsed[0], parsed[1])
        elif module == "statistic" and tok in ("--mode", "--probability", "--every", "--packet"):
            statistic[tok] = value
        elif tok in _HARMLESS:
            pass
        elif tok in ("--tcp-flags",):
            pass  # a new connection's SYN: kube-proxy/docker never decide on flags
        else:
            cond = _field_condition(tok, value) if values else None
            if cond is None:
                shown = ("! " if negate else "") + " ".join(
                    [f"-m {module}" if module else "", tok, value]
                ).strip()
                cond = _unknown(shown)
            elif negate:
                cond = Condition("! " + cond.text, _negate(cond.test))
            spec.conditions.append(cond)
        negate = False
        i = j
    if statistic:
        if statistic.get("--mode") == "random" and "--probability" in statistic:
            with contextlib.suppress(ValueError):
                spec.probability = float(statistic["--probability"])
        elif statistic.get("--mode") == "nth" and "--every" in statistic:
            with contextlib.suppress(ValueError):
                spec.probability = 1.0 / int(statistic["--every"])
        if spec.probability is None:
            spec.conditions.append(_unknown("-m statistic " + " ".join(statistic.values())))
    return spec


# ------------------------------------------------------------------ nftables


def _nft_key_reader(left: Any) -> tuple[Callable[[Any], Any], str] | None:
    """A reader of one packet field named by an nft expression, and its name."""
    if not isinstance(left, dict):
        return None
    if "payload" in left and isinstance(left["payload"], dict):
        p = left["payload"]
        fld, proto = p.get("field"), p.get("protocol")
        if fld == "dport":
            return (lambda pkt: pkt.dport if proto in ("th", pkt.proto) else None), f"{proto} dport"
        if fld == "sport":
            return (lambda pkt: pkt.sport if proto in ("th", pkt.proto) else None), f"{proto} sport"
        if fld == "daddr":
            return (lambda pkt: pkt.dst), f"{proto} daddr"
        if fld == "saddr":
            return (lambda pkt: pkt.src), f"{proto} saddr"
        if (proto, fld) in (("ip", "protocol"), ("ip6", "nexthdr")):
            return (lambda pkt: pkt.proto), f"{proto} {fld}"
    if "meta" in left and isinstance(left["meta"], dict):
        key = left["meta"].get("key")
        readers = {
            "iifname": lambda pkt: pkt.iif,
            "oifname": lambda pkt: pkt.oif,
            "l4proto": lambda pkt: pkt.proto,
            "mark": lambda pkt: pkt.mark,
        }
        if key in readers:
            return readers[key], f"meta {key}"
    return None


def _nft_key_text(value: Any) -> str:
    return str(value)


def _nft_match_value(reader_value: Any, right: Any, ctx: Any, table: Any) -> bool | None:
    if reader_value is None:
        return None
    if isinstance(right, str) and right.startswith("@"):
        elements = ctx.nft_set(table, right[1:])
        if elements is None:
            return None
        return any(_nft_match_value(reader_value, e, ctx, table) for e in elements)
    if isinstance(right, dict):
        if "set" in right and isinstance(right["set"], list):
            results = [_nft_match_value(reader_value, e, ctx, table) for e in right["set"]]
            return True if any(results) else (None if None in results else False)
        if "prefix" in right and isinstance(right["prefix"], dict):
            return ip_in(
                reader_value, f"{right['prefix'].get('addr')}/{right['prefix'].get('len')}"
            )
        if "range" in right and isinstance(right["range"], list) and len(right["range"]) == 2:
            lo, hi = right["range"]
            if isinstance(reader_value, int):
                return int(lo) <= reader_value <= int(hi)
            return ip_in(reader_value, f"{lo}-{hi}")
        return None
    if isinstance(right, list):
        return _nft_match_value(reader_value, {"set": right}, ctx, table)
    if isinstance(reader_value, int):
        try:
            return reader_value == int(right)
        except (TypeError, ValueError):
            return None
    if isinstance(reader_value, str):
        return iface_is(reader_value, str(right)) or reader_value == str(right)
    return ip_in(reader_value, str(right))


def _nft_expr_condition(expr: dict[str, Any], table: Any) -> Condition | None:
    """A condition from an nft ``match`` the NAT parser kept as raw JSON."""
    body = expr.get("match")
    if not isinstance(body, dict):
        return None
    text = json.dumps(expr, sort_keys=True, separators=(",", ":"))
    left, right, op = body.get("left"), body.get("right"), body.get("op", "==")
    negated = op == "!="
    if op not in ("==", "!=", "in"):
        return None
    test: Test | None = None
    if isinstance(left, dict) and "fib" in left:
        fib = left["fib"] if isinstance(left["fib"], dict) else {}
        flags = fib.get("flags") or []
        flags = [flags] if isinstance(flags, str) else flags
        if fib.get("result") == "type":
            which = "src" if "saddr" in flags else "dst"
            wanted = (
                right
                if isinstance(right, list)
                else (right.get("set") if isinstance(right, dict) else [right])
            )
            types = ",".join(str(w) for w in wanted or [])
            test = _addrtype_test(which, types)
            text = f"fib {'saddr' if which == 'src' else 'daddr'} type {types}"
    elif isinstance(left, dict) and "ct" in left:
        key = left["ct"].get("key") if isinstance(left["ct"], dict) else None
        values = (
            right
            if isinstance(right, list)
            else (right.get("set") if isinstance(right, dict) and "set" in right else [right])
        )
        states = ",".join(str(v) for v in values or [])
        if key == "state":
            test = _ctstate_test(states)
            text = f"ct state {states}"
        elif key == "status":
            test = _ctstate_test(states)
            text = f"ct status {states}"
    elif (
        isinstance(left, dict)
        and "&" in left
        and isinstance(left["&"], list)
        and len(left["&"]) == 2
    ):
        inner, mask = left["&"]
        if isinstance(inner, dict) and inner.get("meta", {}).get("key") == "mark":
            try:
                m, want = int(mask), int(right)
            except (TypeError, ValueError):
                return None
            test = lambda pkt, ctx, m=m, want=want: (pkt.mark & m) == want  # noqa: E731
            text = f"meta mark & {hex(m)} == {hex(want)}"
    else:
        found = _nft_key_reader(left)
        if found is not None:
            reader, name = found
            test = lambda pkt, ctx, r=reader, v=right: _nft_match_value(r(pkt), v, ctx, table)  # noqa: E731
            text = f"{name} {right}"
    if test is None:
        return None
    if negated:
        return Condition("!= " + text, _negate(test))
    return Condition(text, test)


def _nft_verdict(data: Any) -> tuple[str, bool] | None:
    if isinstance(data, dict) and len(data) == 1:
        ((kind, body),) = data.items()
        if kind in ("jump", "goto") and isinstance(body, dict):
            return str(body.get("target")), kind == "goto"
        if kind in ("accept", "drop", "return", "continue"):
            return kind.upper(), False
    return None


def parse_nft(rule: Any, table: Any) -> RuleSpec:
    spec = RuleSpec(target=rule.target, goto=rule.goto)
    spec.nat_to = rule.to_destination or rule.to_source or rule.to_ports
    negated = set(rule.negated)
    for name, read in (
        ("source", lambda pkt: pkt.src),
        ("destination", lambda pkt: pkt.dst),
    ):
        value = getattr(rule, name)
        if value:
            cond = Condition(f"{name} {value}", lambda pkt, ctx, r=read, v=value: ip_in(r(pkt), v))
            spec.conditions.append(_maybe_negated(cond, name in negated))
    if rule.protocol:
        v = rule.protocol
        cond = Condition(f"protocol {v}", lambda pkt, ctx, v=v: proto_is(pkt.proto, v))
        spec.conditions.append(_maybe_negated(cond, "protocol" in negated))
    for name, attr in (("dport", "dport"), ("sport", "sport")):
        value = getattr(rule, name)
        if value:
            cond = Condition(
                f"{name} {value}", lambda pkt, ctx, a=attr, v=value: port_in(getattr(pkt, a), v)
            )
            spec.conditions.append(_maybe_negated(cond, name in negated))
    for name, attr in (("in_iface", "iif"), ("out_iface", "oif")):
        value = getattr(rule, name)
        if value:
            label = "iifname" if attr == "iif" else "oifname"
            cond = Condition(
                f"{label} {value}", lambda pkt, ctx, a=attr, v=value: iface_is(getattr(pkt, a), v)
            )
            spec.conditions.append(_maybe_negated(cond, name in negated))
    for raw in rule.extra:
        try:
            expr = json.loads(raw)
        except ValueError:
            spec.conditions.append(_unknown(raw))
            continue
        if not isinstance(expr, dict) or len(expr) != 1:
            spec.conditions.append(_unknown(raw))
            continue
        ((kind, body),) = expr.items()
        if kind == "match":
            cond = _nft_expr_condition(expr, table)
            spec.conditions.append(cond or _unknown(raw))
        elif kind == "reject":
            spec.target = "REJECT"
        elif kind == "vmap" and isinstance(body, dict):
            found = _nft_key_reader(body.get("key"))
            data = body.get("data")
            entries = data.get("set") if isinstance(data, dict) else None
            if found is None or not isinstance(entries, list):
                spec.conditions.append(_unknown(raw))
                continue
            mapping: dict[str, tuple[str, bool]] = {}
            for entry in entries:
                if isinstance(entry, list) and len(entry) == 2:
                    verdict = _nft_verdict(entry[1])
                    if verdict is not None:
                        mapping[_nft_key_text(entry[0])] = verdict
            spec.vmap = (found[0], mapping, found[1])
        elif kind == "mangle" and isinstance(body, dict):
            op = _nft_mark_op(body)
            if op is not None:
                spec.mark = op
            else:
                spec.conditions.append(_unknown(raw))
        elif kind in ("counter", "log", "limit", "notrack", "comment"):
            continue
        elif kind == "xt":
            if spec.target is None or body.get("type") != "target":
                spec.conditions.append(_unknown(raw))
        else:
            spec.conditions.append(_unknown(raw))
    return spec


def _maybe_negated(cond: Condition, negated: bool) -> Condition:
    return Condition("!= " + cond.text, _negate(cond.test)) if negated else cond


# ------------------------------------------------------------------ structured matches


def _match_condition(m: Any, table: Any) -> Condition | None:
    """A condition from one RuleMatch (the collector's parse); None: says nothing
    about a new connection (a comment) or is the statistic (handled apart)."""
    kind, value = m.kind, m.value
    text = m.text or f"{kind} {value}"
    test: Test | None = None
    if value is None and kind not in ("other",):
        test = None
    elif kind == "protocol":
        test = lambda pkt, ctx, v=value: proto_is(pkt.proto, v)  # noqa: E731
    elif kind == "source":
        test = lambda pkt, ctx, v=value: ip_in(pkt.src, v)  # noqa: E731
    elif kind == "destination":
        test = lambda pkt, ctx, v=value: ip_in(pkt.dst, v)  # noqa: E731
    elif kind == "in_iface":
        test = lambda pkt, ctx, v=value: iface_is(pkt.iif, v)  # noqa: E731
    elif kind == "out_iface":
        test = lambda pkt, ctx, v=value: iface_is(pkt.oif, v)  # noqa: E731
    elif kind == "dport":
        test = lambda pkt, ctx, v=value: port_in(pkt.dport, v)  # noqa: E731
    elif kind == "sport":
        test = lambda pkt, ctx, v=value: port_in(pkt.sport, v)  # noqa: E731
    elif kind in ("dst_type", "src_type"):
        test = _addrtype_test("dst" if kind == "dst_type" else "src", value)
    elif kind in ("ctstate", "ctstatus"):
        test = _ctstate_test(value)
    elif kind == "mark":
        test = _mark_test(value)
    elif kind == "icmp_type":
        # A trace follows TCP/UDP: an ICMP type never matches it.
        test = lambda pkt, ctx: False if pkt.proto in ("tcp", "udp") else None  # noqa: E731
    elif kind == "set":
        on = (m.options or {}).get("on", "") or (m.options or {}).get("flags", "")
        test = _set_test(table, value, on)
    elif kind in ("comment", "statistic"):
        return None
    if test is None:
        return _unknown(text)
    if m.negated:
        return Condition(text, _negate(test))
    return Condition(text, test)


def _set_test(table: Any, name: str, on: str) -> Test:
    """``ip daddr @name`` / ``--match-set NAME dst``: only when the snapshot has the
    set's elements (ipsets are not read: those stay unknown)."""

    def test(pkt: Any, ctx: Any) -> bool | None:
        elements = ctx.nft_set(table, name)
        if elements is None:
            return None
        first = on.replace(",", " ").split()[0] if on.strip() else "dst"
        value: Any = pkt.src if first in ("src", "saddr") or "saddr" in on else pkt.dst
        if "dport" in on:
            value = pkt.dport
        results = [_nft_match_value(value, e, ctx, table) for e in elements]
        return True if any(results) else (None if None in results else False)

    return test


def _verdict_text(text: str) -> tuple[str, bool] | None:
    parts = text.split()
    if not parts:
        return None
    if parts[0] in ("jump", "goto") and len(parts) > 1:
        return parts[1], parts[0] == "goto"
    if parts[0].lower() in ("accept", "drop", "return", "continue", "reject"):
        return parts[0].upper(), False
    return None


_VMAP_KEYS: dict[str, Callable[[Any], Any]] = {
    "iifname": lambda pkt: pkt.iif,
    "oifname": lambda pkt: pkt.oif,
    "meta iifname": lambda pkt: pkt.iif,
    "meta oifname": lambda pkt: pkt.oif,
    "meta l4proto": lambda pkt: pkt.proto,
    "ip daddr": lambda pkt: pkt.dst,
    "ip saddr": lambda pkt: pkt.src,
    "ip6 daddr": lambda pkt: pkt.dst,
    "ip6 saddr": lambda pkt: pkt.src,
    "tcp dport": lambda pkt: pkt.dport if pkt.proto == "tcp" else None,
    "udp dport": lambda pkt: pkt.dport if pkt.proto == "udp" else None,
    "th dport": lambda pkt: pkt.dport,
}


def _nft_statement(spec: RuleSpec, text: str, table: Any) -> bool:
    """An nft expression the collector kept as ``other`` (its JSON in ``text``):
    a statement (``meta mark set``, ``counter``) is no condition at all, and some
    matches nsview reads itself (``meta mark & 0x2000 == 0x2000``). True when
    handled."""
    try:
        expr = json.loads(text)
    except (TypeError, ValueError):
        return False
    if not isinstance(expr, dict) or len(expr) != 1:
        return False
    ((kind, body),) = expr.items()
    if kind == "match":
        cond = _nft_expr_condition(expr, table)
        if cond is None:
            return False
        spec.conditions.append(cond)
        return True
    if kind == "mangle" and isinstance(body, dict):
        op = _nft_mark_op(body)
        if op is None:
            return False
        spec.mark = op
        return True
    # Any other statement acts on the packet without deciding whether the rule
    # applies; those that hand it elsewhere are not followed (the rule is skipped).
    return kind not in ("queue", "tproxy", "fwd", "dup", "synproxy", "xt")


def _nft_mark_op(body: dict[str, Any]) -> tuple[str, int, int] | None:
    """``meta mark set 0x4000`` / ``meta mark set mark or 0x2000`` -> a mark op."""
    key = body.get("key")
    if not (isinstance(key, dict) and key.get("meta", {}).get("key") == "mark"):
        return None
    value = body.get("value")
    if isinstance(value, int):
        return ("set", value, 0xFFFFFFFF)
    if isinstance(value, dict) and len(value) == 1:
        ((op, args),) = value.items()
        names = {"|": "or", "&": "and", "^": "xor"}
        if op in names and isinstance(args, list) and len(args) == 2:
            inner, number = args
            if isinstance(number, int) and isinstance(inner, dict) and (
                inner.get("meta", {}).get("key") == "mark"
            ):
                return (names[op], number, 0xFFFFFFFF)
    return None


def parse_matches(rule: Any, table: Any) -> RuleSpec:
    spec = RuleSpec(target=rule.target, goto=rule.goto)
    spec.nat_to = rule.to_destination or rule.to_source or rule.to_ports
    for m in rule.matches:
        if m.kind == "statistic":
            opts = m.options or {}
            mode = opts.get("mode", "random")
            try:
                if mode == "random" and m.value:
                    spec.probability = float(m.value)
                elif mode == "nth" and opts.get("every"):
                    spec.probability = 1.0 / int(opts["every"])
            except ValueError:
                pass
            if spec.probability is None:
                spec.conditions.append(_unknown(m.text or "statistic"))
            continue
        if m.kind == "other" and _nft_statement(spec, m.text, table):
            continue
        if m.kind == "other" and (m.text or "").startswith(("-", "!")):
            # An iptables match the collector has no kind for (-m iprange …): read
            # its text as nsview's own reader does.
            sub = parse_iptables(f"-A X {m.text}")
            if sub.conditions and all(c.known for c in sub.conditions):
                spec.conditions += sub.conditions
                continue
        cond = _match_condition(m, table)
        if cond is not None:
            spec.conditions.append(cond)
    options = getattr(rule, "target_options", None) or {}
    for key, op in (
        ("set-xmark", "xset"),
        ("set-mark", "set"),
        ("or-mark", "or"),
        ("and-mark", "and"),
        ("xor-mark", "xor"),
        ("mark set", "set"),
    ):
        if key in options:
            parsed = _parse_mark(options[key])
            if parsed:
                spec.mark = (op, parsed[0], parsed[1])
    vmap = getattr(rule, "vmap", None)
    if vmap is not None:
        reader = _VMAP_KEYS.get(vmap.key)
        if reader is None or vmap.set:
            spec.conditions.append(_unknown(f"{vmap.key} vmap {vmap.set or '{…}'}"))
        else:
            mapping = {}
            for key, verdict in (vmap.entries or {}).items():
                parsed_v = _verdict_text(verdict)
                if parsed_v:
                    mapping[key] = parsed_v
            spec.vmap = (reader, mapping, vmap.key)
    return spec


def parse_rule(rule: Any, backend: str, table: Any) -> RuleSpec:
    """The collector's structured matches when the snapshot has them; older
    snapshots (before ``matches``) are read from the rule's text and extras."""
    if getattr(rule, "matches", None) or getattr(rule, "vmap", None) is not None:
        return parse_matches(rule, table)
    if backend != "nftables" and rule.text.lstrip().startswith("-A"):
        return parse_iptables(rule.text)
    return parse_nft(rule, table)
