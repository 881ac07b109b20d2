"""Pure parsers: ``iptables-save -t nat`` text and ``nft -j list ruleset`` JSON -> NatTable.

No I/O here. Every rule keeps its original text; the structured fields are a
reading of it. A rule with any part these parsers do not understand is kept
with ``parsed=False`` and those parts listed in ``extra`` — never dropped.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from nsview.model import NatChain, NatRule, NatTable, RuleMatch, VerdictMap

# iptables' built-in chains and the netfilter hook each one sits on.
BUILTIN_HOOKS = {
    "PREROUTING": "prerouting",
    "INPUT": "input",
    "FORWARD": "forward",
    "OUTPUT": "output",
    "POSTROUTING": "postrouting",
}
# The tables iptables-nft creates (its nftables tables carry these names in ip/ip6).
IPTABLES_TABLE_NAMES = frozenset({"nat", "filter", "mangle", "raw", "security"})

# iptables option -> NatRule field, for options that take one value.
_MATCH_OPTIONS = {
    "-s": "source",
    "--source": "source",
    "--src": "source",
    "-d": "destination",
    "--destination": "destination",
    "--dst": "destination",
    "-p": "protocol",
    "--protocol": "protocol",
    "-i": "in_iface",
    "--in-interface": "in_iface",
    "-o": "out_iface",
    "--out-interface": "out_iface",
    "--dport": "dport",
    "--destination-port": "dport",
    "--dports": "dport",
    "--destination-ports": "dport",
    "--sport": "sport",
    "--source-port": "sport",
    "--sports": "sport",
    "--source-ports": "sport",
    "--comment": "comment",
}
_TARGET_OPTIONS = {
    "--to-destination": "to_destination",
    "--to-source": "to_source",
    "--to-ports": "to_ports",
}
# Match modules whose options all land in structured fields.
_KNOWN_MODULES = frozenset({"tcp", "udp", "sctp", "dccp", "multiport", "comment"})
# Target flags without a value that change nothing nsview shows beyond the text.
_TARGET_FLAGS = frozenset({"--random", "--random-fully", "--persistent"})


def parse_iptables_save(text: str, backend: str, family: str) -> list[NatTable]:
    """Every table in an iptables-save dump, skeleton tables (nothing but empty
    built-in chains with policy ACCEPT) left out."""
    tables: list[NatTable] = []
    current: NatTable | None = None
    chains: dict[str, NatChain] = {}
    for raw in text.split("\n"):  # only \n: splitlines() would also split on \f, \x1c …
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = NatTable(backend=backend, family=family, table=line[1:].strip())
            chains = {}
            tables.append(current)
        elif current is None:
            continue
        elif line == "COMMIT":
            current = None
        elif line.startswith(":"):
            parts = line[1:].split()
            if not parts:
                continue
            name = parts[0]
            policy = parts[1] if len(parts) > 1 and parts[1] != "-" else None
            chain = NatChain(
                name=name, policy=policy, hook=BUILTIN_HOOKS.get(name) if policy else None
            )
            chains[name] = chain
            current.chains.append(chain)
        else:
            chain_name, rule = parse_iptables_rule(line)
            chain = chains.get(chain_name or "")
            if chain is None:
                # A rule for a chain never declared: keep it under its own heading.
                chain = NatChain(name=chain_name or "?")
                chains[chain.name] = chain
                current.chains.append(chain)
            chain.rules.append(rule)
    return [t for t in tables if not is_skeleton(t)]


def is_skeleton(table: NatTable) -> bool:
    """True for a table that only exists because a tool touched it: no rules, no
    user chains, every policy ACCEPT."""
    return all(
        not chain.rules
        and chain.hook is not None
        and (chain.policy or "ACCEPT").upper() == "ACCEPT"
        for chain in table.chains
    )


# Options of the known match modules that make one RuleMatch: option -> (kind, values).
_MODULE_OPTIONS = {
    "--dport": ("dport", 1),
    "--destination-port": ("dport", 1),
    "--dports": ("dport", 1),
    "--destination-ports": ("dport", 1),
    "--sport": ("sport", 1),
    "--source-port": ("sport", 1),
    "--sports": ("sport", 1),
    "--source-ports": ("sport", 1),
    "--comment": ("comment", 1),
    "--dst-type": ("dst_type", 1),
    "--src-type": ("src_type", 1),
    "--ctstate": ("ctstate", 1),
    "--state": ("ctstate", 1),
    "--ctstatus": ("ctstatus", 1),
    "--match-set": ("set", 2),
    "--icmp-type": ("icmp_type", 1),
    "--icmpv6-type": ("icmp_type", 1),
    "--physdev-in": ("physdev_in", 1),
    "--physdev-out": ("physdev_out", 1),
    "--mark": ("mark", 1),  # connmark's --mark: kind "connmark" (see _parse_module_option)
    "--probability": ("statistic", 1),
}
# Options that qualify the module's match rather than test something of their own:
# option -> number of values. statistic's --mode/--every/--packet, addrtype's limits.
_QUALIFIERS = {
    "--limit-iface-in": 0,
    "--limit-iface-out": 0,
    "--mode": 1,
    "--every": 1,
    "--packet": 1,
    "--physdev-is-bridged": 0,
    "--physdev-is-in": 0,
    "--physdev-is-out": 0,
}
# The base options (no -m) and the NatRule field each fills; kind = field name.
_BASE_OPTIONS = {k: v for k, v in _MATCH_OPTIONS.items() if k.startswith("-") and len(k) == 2}
_BASE_OPTIONS.update(
    {
        "--source": "source",
        "--src": "source",
        "--destination": "destination",
        "--dst": "destination",
        "--protocol": "protocol",
        "--in-interface": "in_iface",
        "--out-interface": "out_iface",
    }
)
# Match modules whose options nsview reads (any other module's options are "other").
_MATCH_MODULES = frozenset(
    {
        "tcp",
        "udp",
        "sctp",
        "dccp",
        "multiport",
        "comment",
        "addrtype",
        "conntrack",
        "state",
        "set",
        "statistic",
        "mark",
        "connmark",
        "icmp",
        "icmp6",
        "physdev",
    }
)
# Kinds whose value iptables prints in upper case already or that nsview upper-cases.
_UPPER_KINDS = frozenset({"dst_type", "src_type", "ctstate", "ctstatus"})


def _quoted(tokens: list[str]) -> str:
    return " ".join(shlex.quote(t) for t in tokens)


def parse_iptables_rule(line: str) -> tuple[str | None, NatRule]:
    """``-A CHAIN …`` -> (chain, rule): fields, ``matches`` in order, target and options."""
    rule = NatRule(text=line)
    try:
        tokens = shlex.split(line)
    except ValueError:
        rule.parsed = False
        rule.extra.append("unbalanced quotes")
        rule.matches.append(RuleMatch("other", text=line, parsed=False))
        return _chain_guess(line), rule
    if len(tokens) < 2 or tokens[0] not in ("-A", "--append"):
        rule.parsed = False
        rule.extra.append(line)
        rule.matches.append(RuleMatch("other", text=line, parsed=False))
        return None, rule
    chain = tokens[1]
    i = 2
    negate = False
    in_target = False
    module: str | None = None  # the -m module the options now belong to
    module_match: RuleMatch | None = None  # its last match, for qualifiers
    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            negate = True
            i += 1
            continue
        value = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok in ("-j", "--jump", "-g", "--goto") and value is not None:
            rule.target = value
            if tok in ("-g", "--goto"):
                rule.goto = True
            in_target = True
            module = module_match = None
            i += 2
        elif tok in ("-m", "--match") and value is not None:
            module, module_match = value, None
            if value not in _MATCH_MODULES:
                rule.extra.append(("! " if negate else "") + f"-m {value}")
                rule.parsed = False
            i += 2
        elif in_target:
            i = _target_option(rule, tokens, i)
        elif module in _MATCH_MODULES and tok in _MODULE_OPTIONS:
            kind, count = _MODULE_OPTIONS[tok]
            values = tokens[i + 1 : i + 1 + count]
            if len(values) < count:
                i = _other(rule, tokens, i, negate, None)
            else:
                module_match = _module_match(rule, module, kind, values, negate)
                part = ("! " if negate else "") + _quoted(tokens[i : i + 1 + count])
                module_match.text = f"{module_match.text} {part}".strip()
                i += 1 + count
        elif tok in _BASE_OPTIONS and (len(tok) == 2 or module is None) and value is not None:
            field = _BASE_OPTIONS[tok]
            setattr(rule, field, value)
            if negate:
                rule.negated.append(field)
            text = ("! " if negate else "") + _quoted(tokens[i : i + 2])
            rule.matches.append(RuleMatch(field, value, negate, text=text))
            i += 2
        elif module in _MATCH_MODULES and tok in _QUALIFIERS:
            count = _QUALIFIERS[tok]
            values = tokens[i + 1 : i + 1 + count]
            if module_match is None:
                kind = "statistic" if module == "statistic" else module
                module_match = RuleMatch(kind, negated=negate)
                rule.matches.append(module_match)
            module_match.options[tok.lstrip("-")] = " ".join(values)
            part = ("! " if negate else "") + _quoted(tokens[i : i + 1 + count])
            module_match.text = f"{module_match.text} {part}".strip()
            i += 1 + count
        else:
            unknown_module = module is not None and module not in _MATCH_MODULES
            i = _other(rule, tokens, i, negate, module_match if unknown_module else None)
            if unknown_module and module_match is None:
                module_match = rule.matches[-1]
                module_match.text = f"-m {module} {module_match.text}"
        negate = False
    return chain, rule


def _module_match(
    rule: NatRule, module: str, kind: str, values: list[str], negate: bool
) -> RuleMatch:
    if kind == "mark" and module == "connmark":
        kind = "connmark"
    if kind == "statistic":
        # --probability after --mode: the match --mode started takes the value.
        last = rule.matches[-1] if rule.matches else None
        if last is not None and last.kind == "statistic" and last.value is None:
            last.value = values[0]
            last.negated = last.negated or negate
            return last
    value = values[0].upper() if kind in _UPPER_KINDS else values[0]
    match = RuleMatch(kind, value, negate)
    if kind == "set":
        match.options["flags"] = values[1]
    rule.matches.append(match)
    field = {"dport": "dport", "sport": "sport", "comment": "comment"}.get(kind)
    if field is not None:
        setattr(rule, field, values[0])
        if negate:
            rule.negated.append(field)
    return match


def _other(
    rule: NatRule, tokens: list[str], i: int, negate: bool, into: RuleMatch | None
) -> int:
    """An option nsview has no field for: kept with its values, whatever their number.

    ``into``: the "other" match of an unknown module, which gathers all its options.
    """
    j = i + 1
    while j < len(tokens) and not tokens[j].startswith("-") and tokens[j] != "!":
        j += 1
    part = ("! " if negate else "") + _quoted(tokens[i:j])
    rule.extra.append(part)
    rule.parsed = False
    if into is not None:
        into.text = f"{into.text} {part}"
    else:
        rule.matches.append(RuleMatch("other", text=part, negated=negate, parsed=False))
    return j


def _target_option(rule: NatRule, tokens: list[str], i: int) -> int:
    """One option after -j: a NAT field, a flag, or kept in ``target_options``."""
    tok = tokens[i]
    value = tokens[i + 1] if i + 1 < len(tokens) else None
    if tok in _TARGET_OPTIONS and value is not None:
        setattr(rule, _TARGET_OPTIONS[tok], value)
        return i + 2
    if tok in _TARGET_FLAGS:
        rule.target_flags.append(tok.lstrip("-"))
        return i + 1
    if tok.startswith("--"):
        j = i + 1
        while j < len(tokens) and not tokens[j].startswith("--"):
            j += 1
        rule.target_options[tok[2:]] = " ".join(tokens[i + 1 : j])
        return j
    rule.extra.append(shlex.quote(tok))
    rule.parsed = False
    return i + 1


def _chain_guess(line: str) -> str | None:
    parts = line.split()
    return parts[1] if len(parts) > 1 and parts[0] == "-A" else None


# ---------------------------------------------------------------- nftables JSON


def nft_objects(data: Any) -> list[dict[str, Any]]:
    """The list under "nftables", or [] for anything else."""
    if isinstance(data, dict) and isinstance(data.get("nftables"), list):
        return [o for o in data["nftables"] if isinstance(o, dict)]
    return []


def looks_like_iptables_nft(family: str, table: str, base_chains: list[str]) -> bool:
    """A table iptables-nft made: an iptables table name in ip/ip6 whose base chains
    all carry iptables' built-in names. Its rules use xt expressions nft cannot show."""
    return (
        family in ("ip", "ip6")
        and table in IPTABLES_TABLE_NAMES
        and all(name in BUILTIN_HOOKS for name in base_chains)
    )


NAT_CHAIN_TYPES = frozenset({"nat"})
FILTER_CHAIN_TYPES = frozenset({"filter", "route"})


def parse_nft_ruleset(
    data: Any,
    skip: set[tuple[str, str]] | None = None,
    iptables_owned: set[tuple[str, str]] | None = None,
    chain_types: frozenset[str] = NAT_CHAIN_TYPES,
) -> list[NatTable]:
    """NAT from ``nft -j list ruleset``: in each table, its nat-type base chains and
    the chains they jump or go to. Tables in ``skip`` ((family, name) pairs, read
    through iptables-nft-save instead) are left out; tables in ``iptables_owned``
    are iptables-nft's read this way anyway (its tool missing) and keep that backend.

    ``chain_types=FILTER_CHAIN_TYPES`` gives the filter side instead: the filter
    and route base chains and what they jump or go to (verdict maps included)."""
    skip = skip or set()
    iptables_owned = iptables_owned or set()
    objects = nft_objects(data)
    chains: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    order: list[tuple[str, str]] = []
    rules: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    maps: dict[tuple[str, str], dict[str, Any]] = {}  # (family, table) -> map name -> elem
    for obj in objects:
        if "table" in obj and isinstance(obj["table"], dict):
            key = (str(obj["table"].get("family")), str(obj["table"].get("name")))
            if key not in chains:
                chains[key] = {}
                order.append(key)
        elif "chain" in obj and isinstance(obj["chain"], dict):
            c = obj["chain"]
            key = (str(c.get("family")), str(c.get("table")))
            if key not in chains:
                chains[key] = {}
                order.append(key)
            chains[key][str(c.get("name"))] = c
        elif "rule" in obj and isinstance(obj["rule"], dict):
            r = obj["rule"]
            rules.setdefault(
                (str(r.get("family")), str(r.get("table")), str(r.get("chain"))), []
            ).append(r)
        elif "map" in obj and isinstance(obj["map"], dict):
            m = obj["map"]
            key = (str(m.get("family")), str(m.get("table")))
            maps.setdefault(key, {})[str(m.get("name"))] = m.get("elem")
    out: list[NatTable] = []
    for key in order:
        if key in skip:
            continue
        family, table_name = key
        table_chains = chains[key]
        wanted = [
            n for n, c in table_chains.items() if c.get("type") in chain_types and c.get("hook")
        ]
        if not wanted:
            continue
        table_maps = maps.get(key, {})
        # Follow jumps/gotos from the base chains to the regular chains they use.
        seen: list[str] = []
        queue = list(wanted)
        while queue:
            name = queue.pop(0)
            if name in seen or name not in table_chains:
                continue
            seen.append(name)
            for r in rules.get((family, table_name, name), []):
                queue.extend(_nft_jumps(r.get("expr"), table_maps))
        if key in iptables_owned:  # named as iptables-nft-save's tables are
            table = NatTable("iptables-nft", {"ip": "ipv4", "ip6": "ipv6"}[family], table_name)
        else:
            table = NatTable(backend="nftables", family=family, table=table_name)
        for name in seen:
            c = table_chains[name]
            policy = c.get("policy")
            chain = NatChain(
                name=name,
                policy=str(policy).upper() if policy and c.get("hook") else None,
                hook=c.get("hook"),
                priority=c.get("prio"),
                type=c.get("type") if c.get("hook") else None,
            )
            for r in rules.get((family, table_name, name), []):
                chain.rules.append(parse_nft_rule(r, table_maps))
            table.chains.append(chain)
        out.append(table)
    return out


def _nft_jumps(exprs: Any, maps: dict[str, Any]) -> list[str]:
    """The chains a rule's expressions jump or go to, verdict maps included."""
    targets: list[str] = []

    def verdict(v: Any) -> None:
        if isinstance(v, dict):
            for kind in ("jump", "goto"):
                body = v.get(kind)
                if isinstance(body, dict) and body.get("target"):
                    targets.append(str(body["target"]))

    for expr in exprs if isinstance(exprs, list) else []:
        if not isinstance(expr, dict):
            continue
        verdict(expr)
        vmap = expr.get("vmap")
        if isinstance(vmap, dict):
            for _key, v in _vmap_elements(vmap.get("data"), maps):
                verdict(v)
    return targets


def _vmap_elements(data: Any, maps: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(key, verdict) pairs of an inline ``{"set": [...]}`` or a named ``"@map"``."""
    if isinstance(data, str) and data.startswith("@"):
        data = {"set": maps.get(data[1:])}
    if not isinstance(data, dict) or not isinstance(data.get("set"), list):
        return []
    return [(e[0], e[1]) for e in data["set"] if isinstance(e, list) and len(e) == 2]


def _nft_value(value: Any) -> tuple[str | None, bool]:
    """A match's right-hand side as text; False when its shape was not understood."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value), True
    if isinstance(value, dict):
        if "prefix" in value and isinstance(value["prefix"], dict):
            p = value["prefix"]
            return f"{p.get('addr')}/{p.get('len')}", True
        if "range" in value and isinstance(value["range"], list) and len(value["range"]) == 2:
            lo, hi = value["range"]
            return f"{lo}-{hi}", True
        if "set" in value and isinstance(value["set"], list):
            parts = [_nft_value(v) for v in value["set"]]
            if all(ok for _, ok in parts):
                return ",".join(str(p) for p, _ in parts), True
    if isinstance(value, list):
        parts = [_nft_value(v) for v in value]
        if all(ok for _, ok in parts):
            return ",".join(str(p) for p, _ in parts), True
    return None, False


_PAYLOAD_FIELDS = {
    ("ip", "saddr"): "source",
    ("ip", "daddr"): "destination",
    ("ip6", "saddr"): "source",
    ("ip6", "daddr"): "destination",
}
_NAT_STATEMENTS = {
    "dnat": "DNAT",
    "snat": "SNAT",
    "masquerade": "MASQUERADE",
    "redirect": "REDIRECT",
}
_VERDICTS = {"accept": "ACCEPT", "drop": "DROP", "return": "RETURN", "continue": "CONTINUE"}
# Statements that end in a verdict of their own (nft name -> iptables' target name).
_STATEMENT_TARGETS = {"reject": "REJECT", "notrack": "NOTRACK", "queue": "NFQUEUE"}
# Expressions that do not change what a rule does to a packet.
_NEUTRAL = frozenset({"counter", "log"})
# Match kinds that are NatRule fields too (the fields keep their NAT-era meaning).
_FIELD_KINDS = frozenset(
    {"protocol", "source", "destination", "in_iface", "out_iface", "sport", "dport"}
)


def _nat_to(stmt: dict[str, Any]) -> str | None:
    addr = stmt.get("addr")
    port = stmt.get("port")
    if isinstance(addr, dict):
        addr, _ = _nft_value(addr)
    if isinstance(port, dict):
        port, _ = _nft_value(port)
    if addr is None and port is None:
        return None
    if addr is None:
        return f":{port}"
    if port is None:
        return str(addr)
    return f"[{addr}]:{port}" if ":" in str(addr) else f"{addr}:{port}"


def _verdict_text(v: Any) -> str:
    if isinstance(v, dict) and len(v) == 1:
        ((kind, body),) = v.items()
        if kind in ("jump", "goto") and isinstance(body, dict):
            return f"{kind} {body.get('target')}"
        return str(kind)
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def parse_nft_rule(rule: dict[str, Any], maps: dict[str, Any] | None = None) -> NatRule:
    """One nft rule; ``maps``: the table's named maps (name -> elem), for ``vmap @name``."""
    exprs = rule.get("expr") if isinstance(rule.get("expr"), list) else []
    nat = NatRule(
        text=render_nft_rule(rule), comment=rule.get("comment"), handle=rule.get("handle")
    )
    for expr in exprs:
        if not isinstance(expr, dict) or len(expr) != 1:
            _unknown(nat, expr)
            continue
        ((kind, body),) = expr.items()
        if kind == "match" and isinstance(body, dict):
            if not _nft_match(nat, body):
                _unknown(nat, expr)
        elif kind in _NAT_STATEMENTS:
            nat.target = _NAT_STATEMENTS[kind]
            stmt = body if isinstance(body, dict) else {}
            to = _nat_to(stmt)
            if kind == "dnat":
                nat.to_destination = to
            elif kind == "snat":
                nat.to_source = to
            elif to is not None:
                nat.to_ports = to.lstrip(":")
            flags = stmt.get("flags")
            if flags:
                nat.target_flags.extend(
                    [flags] if isinstance(flags, str) else [str(f) for f in flags]
                )
        elif kind in ("jump", "goto") and isinstance(body, dict):
            nat.target = str(body.get("target"))
            nat.goto = kind == "goto"
        elif kind in _VERDICTS:
            nat.target = _VERDICTS[kind]
        elif kind in _STATEMENT_TARGETS:
            nat.target = _STATEMENT_TARGETS[kind]
            if kind == "reject" and isinstance(body, dict):
                # iptables' word for it: --reject-with icmp port-unreachable
                how = " ".join(str(body[k]) for k in ("type", "expr") if body.get(k))
                nat.target_options["reject-with"] = how
            elif isinstance(body, dict):
                nat.target_options.update({str(k): str(v) for k, v in body.items()})
        elif kind == "vmap" and isinstance(body, dict):
            key = _render_operand(body.get("key"))
            data = body.get("data")
            named = data[1:] if isinstance(data, str) and data.startswith("@") else None
            entries = {
                str(_nft_value(k)[0]): _verdict_text(v)
                for k, v in _vmap_elements(data, maps or {})
            }
            key_text = key or json.dumps(body.get("key"))
            nat.vmap = VerdictMap(key=key_text, entries=entries, set=named)
            if key is None:
                _unknown(nat, expr)
        elif kind == "limit" and isinstance(body, dict):
            rate = f"{body.get('rate')}/{body.get('per')}"
            nat.matches.append(RuleMatch("limit", rate, text=f"limit rate {rate}"))
        elif kind == "xt" and isinstance(body, dict):
            # iptables-nft's compat expression: nft cannot show its arguments.
            if body.get("type") == "target":
                nat.target = str(body.get("name"))
            _unknown(nat, expr)
        elif kind in _NEUTRAL:
            continue
        else:
            _unknown(nat, expr)
    if nat.comment:
        nat.matches.append(RuleMatch("comment", str(nat.comment), text=f"comment {nat.comment}"))
    return nat


def _unknown(nat: NatRule, expr: Any) -> None:
    nat.parsed = False
    text = json.dumps(expr, sort_keys=True, separators=(",", ":"))
    nat.extra.append(text)
    nat.matches.append(RuleMatch("other", text=text, parsed=False))


def _nft_kind(left: dict[str, Any], nat: NatRule) -> tuple[str | None, dict[str, str]]:
    """What a match's left side tests, as a RuleMatch kind (None: not understood)."""
    if "meta" in left and isinstance(left["meta"], dict):
        key = left["meta"].get("key")
        return {
            "iifname": "in_iface",
            "oifname": "out_iface",
            "l4proto": "protocol",
            "mark": "mark",
        }.get(key), {}
    if "ct" in left and isinstance(left["ct"], dict):
        return {"state": "ctstate", "status": "ctstatus", "mark": "connmark"}.get(
            left["ct"].get("key")
        ), {}
    if "fib" in left and isinstance(left["fib"], dict):
        fib = left["fib"]
        flags = fib.get("flags") if isinstance(fib.get("flags"), list) else [fib.get("flags")]
        if fib.get("result") != "type":
            return None, {}
        options = {"limit-iface-in": ""} if "iif" in flags else {}
        options.update({"limit-iface-out": ""} if "oif" in flags else {})
        if "daddr" in flags:
            return "dst_type", options
        if "saddr" in flags:
            return "src_type", options
        return None, {}
    if "payload" in left and isinstance(left["payload"], dict):
        proto = left["payload"].get("protocol")
        pfield = left["payload"].get("field")
        kind = _PAYLOAD_FIELDS.get((proto, pfield))
        if kind is None and pfield in ("dport", "sport"):
            kind = pfield
            if proto not in ("th", None) and nat.protocol is None:
                nat.protocol = proto
        elif kind is None and (proto, pfield) in (("ip", "protocol"), ("ip6", "nexthdr")):
            kind = "protocol"
        elif kind is None and (proto, pfield) in (("icmp", "type"), ("icmpv6", "type")):
            kind = "icmp_type"
        return kind, {}
    return None, {}


def _nft_match(nat: NatRule, body: dict[str, Any]) -> bool:
    left = body.get("left")
    op = body.get("op", "==")
    if op not in ("==", "!=", "in") or not isinstance(left, dict):
        return False
    right = body.get("right")
    kind, options = _nft_kind(left, nat)
    if kind is None:
        return False
    text = _render_expr({"match": body})
    if isinstance(right, str) and right.startswith("@"):  # a named set
        on = _render_operand(left) or ""
        nat.matches.append(RuleMatch("set", right[1:], op == "!=", {"on": on}, text=text))
        if kind in _FIELD_KINDS:  # NAT-era fields show the set by name
            setattr(nat, kind, right)
            if op == "!=":
                nat.negated.append(kind)
        return True
    value, ok = _nft_value(right)
    if not ok or value is None:
        return False
    if kind in ("ctstate", "ctstatus", "dst_type", "src_type"):
        value = value.upper()
    nat.matches.append(RuleMatch(kind, value, op == "!=", options, text=text))
    if kind in _FIELD_KINDS:
        setattr(nat, kind, value)
        if op == "!=":
            nat.negated.append(kind)
    return True


def render_nft_rule(rule: dict[str, Any]) -> str:
    """Something close to ``nft list`` syntax; unknown expressions as compact JSON."""
    parts: list[str] = []
    for expr in rule.get("expr") or []:
        parts.append(_render_expr(expr))
    if rule.get("comment"):
        parts.append(f"comment {json.dumps(rule['comment'])}")
    return " ".join(p for p in parts if p)


def _render_expr(expr: Any) -> str:
    if isinstance(expr, dict) and len(expr) == 1:
        ((kind, body),) = expr.items()
        if kind == "match" and isinstance(body, dict):
            left = _render_operand(body.get("left"))
            right = _render_operand(body.get("right"), quote=left in ("iifname", "oifname"))
            op = body.get("op", "==")
            if left is not None and right is not None:
                return f"{left} {right}" if op in ("==", "in") else f"{left} {op} {right}"
        elif kind in _NAT_STATEMENTS:
            stmt = body if isinstance(body, dict) else {}
            to = _nat_to(stmt)
            fam = f" {stmt['family']}" if stmt.get("family") and kind in ("dnat", "snat") else ""
            return f"{kind}{fam} to {to}" if to else kind
        elif kind in ("jump", "goto") and isinstance(body, dict):
            return f"{kind} {body.get('target')}"
        elif kind in _VERDICTS or kind in ("counter", "notrack", "log"):
            return kind
        elif kind == "reject" and isinstance(body, dict):
            how = " ".join(str(body[k]) for k in ("type", "expr") if body.get(k))
            return f"reject with {how}" if how else "reject"
        elif kind == "reject":
            return "reject"
        elif kind == "limit" and isinstance(body, dict):
            return f"limit rate {body.get('rate')}/{body.get('per')}"
        elif kind == "vmap" and isinstance(body, dict):
            key = _render_operand(body.get("key"))
            data = body.get("data")
            if key is not None and isinstance(data, str):
                return f"{key} vmap {data}"
            if key is not None and isinstance(data, dict) and isinstance(data.get("set"), list):
                items = [
                    f"{_render_operand(e[0])} : {_verdict_text(e[1])}"
                    for e in data["set"]
                    if isinstance(e, list) and len(e) == 2
                ]
                return f"{key} vmap {{ {', '.join(items)} }}"
        elif kind == "xt" and isinstance(body, dict):
            return f"xt {body.get('type')} {body.get('name')}"
    return json.dumps(expr, sort_keys=True, separators=(",", ":"))


def _render_operand(value: Any, quote: bool = False) -> str | None:
    if isinstance(value, dict):
        if "meta" in value and isinstance(value["meta"], dict):
            return (
                f"meta {value['meta'].get('key')}"
                if value["meta"].get("key") in ("l4proto", "mark")
                else str(value["meta"].get("key"))
            )
        if "payload" in value and isinstance(value["payload"], dict):
            return f"{value['payload'].get('protocol')} {value['payload'].get('field')}"
        if "ct" in value and isinstance(value["ct"], dict):
            return f"ct {value['ct'].get('key')}"
        if "fib" in value and isinstance(value["fib"], dict):
            flags = value["fib"].get("flags")
            flags = flags if isinstance(flags, list) else [flags]
            return f"fib {' . '.join(str(f) for f in flags)} {value['fib'].get('result')}"
        if "numgen" in value and isinstance(value["numgen"], dict):
            n = value["numgen"]
            offset = f" offset {n['offset']}" if n.get("offset") else ""
            return f"numgen {n.get('mode')} mod {n.get('mod')}{offset}"
        if "concat" in value and isinstance(value["concat"], list):
            parts = [_render_operand(v) for v in value["concat"]]
            if all(p is not None for p in parts):
                return " . ".join(str(p) for p in parts)
            return None
    text, ok = _nft_value(value)
    if not ok:
        return None
    if isinstance(value, str) and quote:
        return json.dumps(value)  # nft quotes interface names only
    if isinstance(value, dict) and "set" in value:
        return "{ " + text.replace(",", ", ") + " }"
    return text
