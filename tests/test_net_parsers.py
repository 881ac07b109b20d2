"""The NAT parsers on captured tool output, plus property tests: nothing is ever dropped."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nsview.collect.natparse import (
    is_skeleton,
    parse_iptables_rule,
    parse_iptables_save,
    parse_nft_rule,
    parse_nft_ruleset,
)
from nsview.model import NatChain, NatTable

FIXTURES = Path(__file__).parent / "fixtures" / "net"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _rules(tables):
    return [(t.table, c.name, r) for t in tables for c in t.chains for r in c.rules]


# ----------------------------------------------------------- iptables-save text


def test_legacy_capture_every_rule_kept_with_fields():
    text = _read("iptables-legacy-save-nat.txt")
    (table,) = parse_iptables_save(text, "iptables-legacy", "ipv4")
    assert (table.backend, table.family, table.table) == ("iptables-legacy", "ipv4", "nat")
    chains = {c.name: c for c in table.chains}
    assert (chains["PREROUTING"].policy, chains["PREROUTING"].hook) == ("ACCEPT", "prerouting")
    assert (chains["DOCKER"].policy, chains["DOCKER"].hook) == (None, None)
    rules = _rules([table])
    assert len(rules) == text.count("\n-A ")
    assert [r.text for _, _, r in rules] == [
        line for line in text.splitlines() if line.startswith("-A ")
    ]
    (dnat,) = chains["DOCKER"].rules
    assert (dnat.target, dnat.to_destination, dnat.protocol, dnat.dport, dnat.in_iface) == (
        "DNAT",
        "172.17.0.2:80",
        "tcp",
        "8080",
        "br0",
    )
    assert dnat.negated == ["in_iface"] and dnat.parsed
    masq = chains["POSTROUTING"].rules[1]
    assert masq.comment == 'masq "docker"'
    assert (masq.target, masq.source, masq.out_iface, masq.negated) == (
        "MASQUERADE",
        "172.17.0.0/16",
        "br0",
        ["out_iface"],
    )
    snat = chains["POSTROUTING"].rules[2]
    assert (snat.target, snat.to_source, snat.sport, snat.protocol, snat.destination) == (
        "SNAT",
        "1.2.3.4-1.2.3.9:1000-2000",
        "53",
        "udp",
        "192.168.0.0/16",
    )
    redirect = chains["OUTPUT"].rules[0]
    assert (redirect.target, redirect.to_ports) == ("REDIRECT", "3128")


def test_addrtype_and_statistic_are_structured_matches():
    (table,) = parse_iptables_save(_read("iptables-legacy-save-nat.txt"), "iptables-legacy", "ipv4")
    jump = {c.name: c for c in table.chains}["PREROUTING"].rules[0]
    assert (jump.target, jump.parsed, jump.extra) == ("DOCKER", True, [])
    assert [(m.kind, m.value, m.negated) for m in jump.matches] == [("dst_type", "LOCAL", False)]
    stat = {c.name: c for c in table.chains}["OUTPUT"].rules[1]
    assert stat.target == "RETURN" and stat.parsed
    ((kind, value, options),) = [(m.kind, m.value, m.options) for m in stat.matches]
    assert (kind, value, options) == ("statistic", "0.50000000000", {"mode": "random"})


def test_rules_with_unknown_matches_are_kept_as_text():
    _, rule = parse_iptables_rule("-A INPUT -p tcp -m recent --name ssh --rcheck -j DROP")
    assert (rule.target, rule.parsed) == ("DROP", False)
    assert rule.extra == ["-m recent", "--name ssh", "--rcheck"]
    proto, other = rule.matches
    assert (proto.kind, proto.value) == ("protocol", "tcp")
    assert (other.kind, other.parsed, other.text) == (
        "other",
        False,
        "-m recent --name ssh --rcheck",
    )


def test_nft_backend_capture():
    (table,) = parse_iptables_save(_read("iptables-nft-save-nat.txt"), "iptables-nft", "ipv4")
    rules = _rules([table])
    assert [(c, r.target) for _, c, r in rules] == [
        ("PREROUTING", "DNAT"),
        ("POSTROUTING", "MASQUERADE"),
    ]
    (table6,) = parse_iptables_save(_read("ip6tables-nft-save-nat.txt"), "iptables-nft", "ipv6")
    assert table6.family == "ipv6"


def test_skeleton_table_is_not_a_table():
    text = (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\nCOMMIT\n"
    )
    assert parse_iptables_save(text, "iptables-legacy", "ipv4") == []
    # A policy other than ACCEPT, or a user chain, is configuration: keep the table.
    assert parse_iptables_save(text.replace("OUTPUT ACCEPT", "OUTPUT DROP"), "x", "ipv4")
    assert parse_iptables_save(text.replace("COMMIT", ":MINE - [0:0]\nCOMMIT"), "x", "ipv4")


def test_goto_and_negated_source():
    _, rule = parse_iptables_rule("-A PREROUTING ! -s 10.0.0.0/8 -p udp --dport 53 -g DNSCHAIN")
    assert (rule.target, rule.goto, rule.source, rule.negated) == (
        "DNSCHAIN",
        True,
        "10.0.0.0/8",
        ["source"],
    )


def test_unbalanced_quote_is_kept():
    chain, rule = parse_iptables_rule('-A OUTPUT -m comment --comment "oops -j ACCEPT')
    assert chain == "OUTPUT"
    assert rule.parsed is False and rule.text.endswith("ACCEPT")


_IFACE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_äü", min_size=1, max_size=15)
_ADDR = st.builds(
    lambda a, b, n: f"10.{a}.{b}.0/{n}",
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(8, 32),
)
_PORT = st.integers(1, 65535).map(str)


@st.composite
def iptables_rules(draw):
    """A rule as iptables-save would print it, and the fields it should parse into."""
    parts = ["-A", draw(st.sampled_from(["PREROUTING", "POSTROUTING", "OUTPUT", "DOCKER"]))]
    want: dict[str, object] = {"negated": []}
    for option, field, values in (
        ("-s", "source", _ADDR),
        ("-d", "destination", _ADDR),
        ("-i", "in_iface", _IFACE),
        ("-o", "out_iface", _IFACE),
    ):
        if draw(st.booleans()):
            value = draw(values)
            if draw(st.booleans()):
                parts.append("!")
                want["negated"].append(field)
            parts += [option, value]
            want[field] = value
    if draw(st.booleans()):
        proto = draw(st.sampled_from(["tcp", "udp"]))
        parts += ["-p", proto, "-m", proto]
        want["protocol"] = proto
        if draw(st.booleans()):
            want["dport"] = draw(_PORT)
            parts += ["--dport", want["dport"]]
    if draw(st.booleans()):
        negated = draw(st.booleans())
        parts += ["-m", "conntrack", *(["!"] if negated else []), "--ctstate", "NEW,ESTABLISHED"]
        want["ctstate"] = ("NEW,ESTABLISHED", negated)
    unknown = draw(st.booleans())
    if unknown:
        parts += ["-m", "recent", "--name", "x", "--rcheck"]
    if draw(st.booleans()):
        comment = draw(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
        parts += ["-m", "comment", "--comment", comment]
        want["comment"] = comment
    target = draw(st.sampled_from(["DNAT", "SNAT", "MASQUERADE", "REDIRECT", "RETURN", "KUBE-X"]))
    parts += ["-j", target]
    want["target"] = target
    if target == "DNAT":
        want["to_destination"] = "10.1.1.1:80"
        parts += ["--to-destination", "10.1.1.1:80"]
    elif target == "SNAT":
        want["to_source"] = "1.2.3.4"
        parts += ["--to-source", "1.2.3.4"]
    elif target == "REDIRECT":
        want["to_ports"] = draw(_PORT)
        parts += ["--to-ports", want["to_ports"]]
    want["parsed"] = not unknown
    return " ".join(shlex.quote(p) for p in parts), parts[1], want


@settings(max_examples=300, deadline=None)
@given(iptables_rules())
def test_generated_rules_parse_into_their_fields(case):
    line, chain, want = case
    got_chain, rule = parse_iptables_rule(line)
    assert got_chain == chain
    assert rule.text == line
    ctstate = want.pop("ctstate", None)
    for field, value in want.items():
        assert getattr(rule, field) == value, field
    if not want["parsed"]:
        assert "-m recent" in rule.extra
        assert [m.text for m in rule.matches if not m.parsed] == ["-m recent --name x --rcheck"]
    matches = {m.kind: (m.value, m.negated) for m in rule.matches}
    for field in ("source", "destination", "in_iface", "out_iface", "protocol", "dport"):
        if field in want:
            assert matches[field] == (want[field], field in want["negated"])
    assert matches.get("ctstate") == ctstate


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80).filter(lambda s: "\n" not in s and "\r" not in s), max_size=8))
def test_arbitrary_rule_lines_never_crash_and_are_never_dropped(lines):
    base = _read("iptables-legacy-save-nat.txt")
    extra = [f"-A POSTROUTING {line}" for line in lines]
    text = base.replace("COMMIT", "\n".join(extra) + "\nCOMMIT")
    (table,) = parse_iptables_save(text, "iptables-legacy", "ipv4")
    texts = [r.text for _, _, r in _rules([table])]
    assert len(texts) == base.count("\n-A ") + len(extra)
    for line in extra:
        assert line.strip() in texts


# ----------------------------------------------------------------- nft -j JSON


def test_nft_capture_native_table_only():
    data = json.loads(_read("nft-list-ruleset.json"))
    tables = parse_nft_ruleset(data, skip={("ip", "nat"), ("ip6", "nat")})
    assert [(t.backend, t.family, t.table) for t in tables] == [("nftables", "inet", "mynat")]
    chains = {c.name: c for c in tables[0].chains}
    assert (chains["pre"].hook, chains["pre"].policy, chains["pre"].priority) == (
        "prerouting",
        "ACCEPT",
        -100,
    )
    dnat, redirect = chains["pre"].rules
    assert (dnat.target, dnat.to_destination, dnat.in_iface, dnat.dport, dnat.comment) == (
        "DNAT",
        "10.9.9.9:443",
        "va",
        "8443",
        "web",
    )
    assert dnat.text == 'iifname "va" tcp dport 8443 dnat ip to 10.9.9.9:443 comment "web"'
    assert (redirect.target, redirect.to_ports, redirect.dport) == ("REDIRECT", "8080", "80,81")
    masq, snat = chains["post"].rules
    assert (masq.target, masq.out_iface, masq.negated, masq.source) == (
        "MASQUERADE",
        "lo",
        ["out_iface"],
        "10.0.0.0/8",
    )
    assert (snat.target, snat.to_source, snat.protocol) == ("SNAT", "5.6.7.8", "udp")
    assert all(r.parsed for c in tables[0].chains for r in c.rules)


def test_nft_iptables_nft_table_when_not_skipped_is_opaque_but_kept():
    data = json.loads(_read("nft-list-ruleset.json"))
    tables = {(t.family, t.table): t for t in parse_nft_ruleset(data)}
    post = {c.name: c for c in tables[("ip", "nat")].chains}["POSTROUTING"]
    (rule,) = post.rules
    assert rule.target == "MASQUERADE" and rule.out_iface == "va"
    assert rule.parsed is False  # the xt target's arguments are invisible to nft


def test_nft_filter_only_table_is_not_nat():
    data = {
        "nftables": [
            {"table": {"family": "inet", "name": "fw", "handle": 1}},
            {
                "chain": {
                    "family": "inet",
                    "table": "fw",
                    "name": "in",
                    "type": "filter",
                    "hook": "input",
                    "prio": 0,
                    "policy": "drop",
                }
            },
        ]
    }
    assert parse_nft_ruleset(data) == []


def test_nft_follows_jumps_to_regular_chains():
    data = {
        "nftables": [
            {"table": {"family": "ip", "name": "k8s"}},
            {
                "chain": {
                    "family": "ip",
                    "table": "k8s",
                    "name": "pre",
                    "type": "nat",
                    "hook": "prerouting",
                    "prio": -100,
                    "policy": "accept",
                }
            },
            {"chain": {"family": "ip", "table": "k8s", "name": "svc"}},
            {"chain": {"family": "ip", "table": "k8s", "name": "unrelated"}},
            {
                "rule": {
                    "family": "ip",
                    "table": "k8s",
                    "chain": "pre",
                    "expr": [{"jump": {"target": "svc"}}],
                }
            },
            {
                "rule": {
                    "family": "ip",
                    "table": "k8s",
                    "chain": "svc",
                    "expr": [{"dnat": {"addr": "10.0.0.5", "port": 80}}],
                }
            },
        ]
    }
    (table,) = parse_nft_ruleset(data)
    assert [c.name for c in table.chains] == ["pre", "svc"]
    assert table.chains[1].hook is None and table.chains[1].policy is None
    assert table.chains[0].rules[0].target == "svc"
    assert table.chains[1].rules[0].to_destination == "10.0.0.5:80"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), _JSON), max_size=6))
def test_mutated_nft_rules_never_crash_and_are_never_dropped(mutations):
    data = json.loads(_read("nft-list-ruleset.json"))
    rules = [o["rule"] for o in data["nftables"] if "rule" in o and o["rule"]["table"] == "mynat"]
    mutated = copy.deepcopy(data)
    mrules = [
        o["rule"] for o in mutated["nftables"] if "rule" in o and o["rule"]["table"] == "mynat"
    ]
    for where, junk in mutations:
        rule = mrules[where % len(mrules)]
        rule["expr"].insert(where % (len(rule["expr"]) + 1), junk)
    (table,) = parse_nft_ruleset(mutated, skip={("ip", "nat"), ("ip6", "nat")})
    got = [r for c in table.chains for r in c.rules]
    assert len(got) == len(rules)
    for parsed_rule, source in zip(got, mrules, strict=True):
        assert parsed_rule.handle == source["handle"]
        known = {"match", "dnat", "snat", "masquerade", "redirect", "counter", "jump", "goto"}
        odd = [
            e
            for e in source["expr"]
            if not (isinstance(e, dict) and len(e) == 1 and next(iter(e)) in known)
        ]
        if odd:
            assert parsed_rule.parsed is False
            assert parsed_rule.extra


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_any_json_document_gives_a_list(doc):
    assert isinstance(parse_nft_ruleset(doc), list)
    if isinstance(doc, dict):
        assert isinstance(parse_nft_rule(doc).text, str)


def test_is_skeleton_on_model():
    table = NatTable(
        "iptables-nft", "ipv4", "nat", [NatChain("PREROUTING", "ACCEPT", "prerouting")]
    )
    assert is_skeleton(table)
