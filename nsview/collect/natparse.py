"""Pure parsers: ``iptables-save -t nat`` text and ``nft -j list ruleset`` JSON -> NatTable.

No I/O here. Every rule keeps its original text; the structured fields are a
reading of it. A rule with any part these parsers do not understand is kept
with ``parsed=False`` and those parts listed in ``extra`` — never dropped.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from nsview.model import NatChain, NatRule, NatTable

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


def parse_iptables_rule(line: str) -> tuple[str | None, NatRule]:
    """``-A CHAIN …`` -> (chain, rule)."""
    rule = NatRule(text=line)
    try:
        tokens = shlex.split(line)
    except ValueError:
        rule.parsed = False
        rule.extra.append("unbalanced quotes")
        return _chain_guess(line), rule
    if len(tokens) < 2 or tokens[0] not in ("-A", "--append"):
        rule.parsed = False
        rule.extra.append(line)
        return None, rule
    chain = tokens[1]
    i = 2
    negate = False
    in_target = False
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
            i += 2
        elif tok in ("-m", "--match") and value is not None:
            if value not in _KNOWN_MODULES:
                rule.extra.append(("! " if negate else "") + f"-m {value}")
                rule.parsed = False
            negate = False
            i += 2
        elif not in_target and tok in _MATCH_OPTIONS and value is not None:
            field = _MATCH_OPTIONS[tok]
            setattr(rule, field, value)
            if negate:
                rule.negated.append(field)
            i += 2
        elif in_target and tok in _TARGET_OPTIONS and value is not None:
            setattr(rule, _TARGET_OPTIONS[tok], value)
            i += 2
        elif in_target and tok in _TARGET_FLAGS:
            rule.target_flags.append(tok.lstrip("-"))
            i += 1
        else:
            # An option nsview has no field for: keep it with its values, whatever their number.
            j = i + 1
            while j < len(tokens) and not tokens[j].startswith("-") and tokens[j] != "!":
                j += 1
            part = " ".join(shlex.quote(t) for t in tokens[i:j])
            rule.extra.append(("! " if negate else "") + part)
            rule.parsed = False
            i = j
        negate = False
    return chain, rule


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


def parse_nft_ruleset(
    data: Any,
    skip: set[tuple[str, str]] | None = None,
    iptables_owned: set[tuple[str, str]] | None = None,
) -> list[NatTable]:
    """NAT from ``nft -j list ruleset``: in each table, its nat-type base chains and
    the chains they jump or go to. Tables in ``skip`` ((family, name) pairs, read
    through iptables-nft-save instead) are left out; tables in ``iptables_owned``
    are iptables-nft's read this way anyway (its tool missing) and keep that backend."""
    skip = skip or set()
    iptables_owned = iptables_owned or set()
    objects = nft_objects(data)
    chains: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    order: list[tuple[str, str]] = []
    rules: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
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
    out: list[NatTable] = []
    for key in order:
        if key in skip:
            continue
        family, table_name = key
        table_chains = chains[key]
        wanted = [n for n, c in table_chains.items() if c.get("type") == "nat" and c.get("hook")]
        if not wanted:
            continue
        # Follow jumps/gotos from the nat base chains to the regular chains they use.
        seen: list[str] = []
        queue = list(wanted)
        while queue:
            name = queue.pop(0)
            if name in seen or name not in table_chains:
                continue
            seen.append(name)
            for r in rules.get((family, table_name, name), []):
                for expr in r.get("expr") or []:
                    if isinstance(expr, dict):
                        for verdict in ("jump", "goto"):
                            v = expr.get(verdict)
                            if isinstance(v, dict) and v.get("target"):
                                queue.append(str(v["target"]))
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
            )
            for r in rules.get((family, table_name, name), []):
                chain.rules.append(parse_nft_rule(r))
            table.chains.append(chain)
        out.append(table)
    return out


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
# Expressions that do not change what a NAT rule does.
_NEUTRAL = frozenset({"counter", "log", "limit"})


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


def parse_nft_rule(rule: dict[str, Any]) -> NatRule:
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
        elif kind == "xt" and isinstance(body, dict):
            # iptables-nft's compat expression: nft cannot show its arguments.
            if body.get("type") == "target":
                nat.target = str(body.get("name"))
            _unknown(nat, expr)
        elif kind in _NEUTRAL:
            continue
        else:
            _unknown(nat, expr)
    return nat


def _unknown(nat: NatRule, expr: Any) -> None:
    nat.parsed = False
    nat.extra.append(json.dumps(expr, sort_keys=True, separators=(",", ":")))


def _nft_match(nat: NatRule, body: dict[str, Any]) -> bool:
    left = body.get("left")
    op = body.get("op", "==")
    if op not in ("==", "!=", "in"):
        return False
    value, ok = _nft_value(body.get("right"))
    if not ok or not isinstance(left, dict):
        return False
    field: str | None = None
    if "meta" in left and isinstance(left["meta"], dict):
        key = left["meta"].get("key")
        field = {"iifname": "in_iface", "oifname": "out_iface", "l4proto": "protocol"}.get(key)
    elif "payload" in left and isinstance(left["payload"], dict):
        proto = left["payload"].get("protocol")
        pfield = left["payload"].get("field")
        field = _PAYLOAD_FIELDS.get((proto, pfield))
        if field is None and pfield in ("dport", "sport"):
            field = pfield
            if proto not in ("th", None) and nat.protocol is None:
                nat.protocol = proto
        elif field is None and (proto, pfield) in (("ip", "protocol"), ("ip6", "nexthdr")):
            field = "protocol"
    if field is None:
        return False
    setattr(nat, field, value)
    if op == "!=":
        nat.negated.append(field)
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
        elif kind in _VERDICTS:
            return kind
        elif kind == "counter":
            return "counter"
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
    text, ok = _nft_value(value)
    if not ok:
        return None
    if isinstance(value, str) and quote:
        return json.dumps(value)  # nft quotes interface names only
    if isinstance(value, dict) and "set" in value:
        return "{ " + text.replace(",", ", ") + " }"
    return text
