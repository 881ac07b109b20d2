"""The tables that decide a packet's fate: real rules of all three backends in a
test netns (tests/fixtures/net/build-filter-netns.sh), read the way nsview reads
them, plus property tests of the parsers on the same rules as the tools saved them."""

from __future__ import annotations

import copy
import json
import os
import random
import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsview.collect.nat import NatTools, read_nat
from nsview.collect.natparse import (
    FILTER_CHAIN_TYPES,
    parse_iptables_rule,
    parse_iptables_save,
    parse_nft_ruleset,
)
from nsview.kernel.netns import NetnsExecutor, NetnsTarget

from .conftest import run

FIXTURES = Path(__file__).parent / "fixtures" / "net"


def _read_in(ns: str):
    path = f"/run/netns/{ns}"
    with NetnsExecutor(1) as pool:
        target = NetnsTarget(os.stat(path).st_ino, (path,))
        return pool.submit(target, lambda _entered: read_nat(NatTools.find())).result(60)


@pytest.fixture(scope="module")
def built():
    """One netns with the rules of the build script; its reading."""
    name = f"nsvt-fl{os.getpid()}"
    run("ip", "netns", "add", name)
    try:
        run("bash", str(FIXTURES / "build-filter-netns.sh"), name)
        yield name, _read_in(name)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _tables(reading):
    return {(t.backend, t.table): t for t in reading.tables + reading.filter}


def _chain(table, name):
    return next(c for c in table.chains if c.name == name)


def _kinds(rule):
    return [(m.kind, m.value, m.negated) for m in rule.matches]


@pytest.mark.privileged
def test_every_table_of_every_backend_is_read_with_one_run_each(built):
    _name, reading = built
    assert reading.errors == [] and reading.missing == set()
    assert sorted(_tables(reading)) == [
        ("iptables-legacy", "filter"),
        ("iptables-legacy", "mangle"),
        ("iptables-legacy", "nat"),
        ("iptables-legacy", "raw"),
        ("iptables-nft", "filter"),
        ("iptables-nft", "nat"),
        ("nftables", "nsvtfw"),
    ]
    assert {t.table for t in reading.tables} == {"nat"}  # nat stays where it always was
    # iptables-legacy-save, iptables-nft-save, nft -j: one each, all tables at once.
    assert reading.spawned == 3


@pytest.mark.privileged
def test_docker_like_filter_chains_policies_and_matches(built):
    _name, reading = built
    filt = _tables(reading)[("iptables-legacy", "filter")]
    forward = _chain(filt, "FORWARD")
    assert (forward.policy, forward.hook) == ("DROP", "forward")
    assert [r.target for r in forward.rules] == [
        "DOCKER-USER",
        "DOCKER-ISOLATION-STAGE-1",
        "ACCEPT",
        "DOCKER",
        "ACCEPT",
    ]
    established = forward.rules[2]
    assert _kinds(established) == [
        ("out_iface", "nsvtbr0", False),
        ("ctstate", "RELATED,ESTABLISHED", False),
    ]
    assert _kinds(forward.rules[4]) == [
        ("in_iface", "nsvtbr0", False),
        ("out_iface", "nsvtbr0", True),
    ]
    assert _chain(filt, "DOCKER-ISOLATION-STAGE-1").policy is None
    (drop,) = _chain(filt, "DOCKER-ISOLATION-STAGE-2").rules
    assert (drop.target, _kinds(drop)) == ("DROP", [("out_iface", "nsvtbr1", False)])

    local, limited, reject = _chain(filt, "INPUT").rules
    assert _kinds(local) == [
        ("dst_type", "LOCAL", False),
        ("comment", 'nsvt local "quoted"', False),
    ]
    assert local.parsed and local.comment == 'nsvt local "quoted"'
    # -m limit has no kind here: kept as text, and the rule says so.
    assert not limited.parsed and limited.target == "ACCEPT"
    other = [m for m in limited.matches if m.kind == "other"]
    assert [m.text for m in other] == ["-m limit --limit 5/sec"] and not other[0].parsed
    assert (reject.target, reject.target_options) == (
        "REJECT",
        {"reject-with": "icmp-host-prohibited"},
    )
    assert ("icmp_type", "8", False) in _kinds(reject)


@pytest.mark.privileged
def test_mangle_raw_and_the_docker_entry_rule(built):
    _name, reading = built
    tables = _tables(reading)
    (mark,) = _chain(tables[("iptables-legacy", "mangle")], "PREROUTING").rules
    assert (mark.target, mark.target_options) == ("MARK", {"set-xmark": "0x1/0xffffffff"})
    (notrack,) = _chain(tables[("iptables-legacy", "raw")], "PREROUTING").rules
    assert (notrack.target, notrack.target_options, notrack.dport) == ("CT", {"notrack": ""}, "53")
    # The entry rule of every Docker host is understood now, no longer "partly".
    (entry,) = _chain(tables[("iptables-legacy", "nat")], "PREROUTING").rules
    assert (entry.target, entry.parsed, _kinds(entry)) == (
        "DOCKER",
        True,
        [("dst_type", "LOCAL", False)],
    )


@pytest.mark.privileged
def test_kube_proxy_service_to_two_endpoints(built):
    _name, reading = built
    nat = _tables(reading)[("iptables-nft", "nat")]
    (portal,) = _chain(nat, "KUBE-SERVICES").rules
    assert (portal.target, portal.destination, portal.dport) == (
        "KUBE-SVC-NSVT",
        "198.51.100.10/32",
        "80",
    )
    first, second = _chain(nat, "KUBE-SVC-NSVT").rules
    (stat,) = [m for m in first.matches if m.kind == "statistic"]
    assert (first.target, stat.value, stat.options) == (
        "KUBE-SEP-NSVTA",
        "0.50000000000",
        {"mode": "random"},
    )
    assert second.target == "KUBE-SEP-NSVTB"
    assert not [m for m in second.matches if m.kind == "statistic"]  # the rest goes here
    dnats = {
        c.name: [r.to_destination for r in c.rules if r.target == "DNAT"]
        for c in nat.chains
        if c.name.startswith("KUBE-SEP-")
    }
    assert dnats == {"KUBE-SEP-NSVTA": ["198.18.1.2:8080"], "KUBE-SEP-NSVTB": ["198.18.1.3:8080"]}
    masq = _chain(nat, "KUBE-MARK-MASQ").rules[0]
    assert masq.target_options == {"set-xmark": "0x4000/0x4000"}
    kube_forward = _chain(_tables(reading)[("iptables-nft", "filter")], "KUBE-FORWARD")
    assert [_kinds(r)[-1] for r in kube_forward.rules] == [
        ("ctstate", "INVALID", False),
        ("mark", "0x4000/0x4000", False),
    ]


@pytest.mark.privileged
def test_native_nft_verdict_maps_sets_and_fib(built):
    _name, reading = built
    fw = _tables(reading)[("nftables", "nsvtfw")]
    assert [c.name for c in fw.chains] == ["input", "pre", "web", "a", "b"]  # not "unrelated"
    inp = _chain(fw, "input")
    assert (inp.policy, inp.type, inp.hook, inp.priority) == ("DROP", "filter", "input", 0)
    by_text = {r.text: r for r in inp.rules}
    fib = by_text["fib daddr type local tcp dport 8080 accept"]
    assert (fib.target, _kinds(fib)) == (
        "ACCEPT",
        [("dst_type", "LOCAL", False), ("dport", "8080", False)],
    )
    assert _kinds(by_text["ct state established,related accept"]) == [
        ("ctstate", "ESTABLISHED,RELATED", False)
    ]
    allowed = by_text["ip saddr @allowed accept"].matches[0]
    assert (allowed.kind, allowed.value, allowed.options) == ("set", "allowed", {"on": "ip saddr"})
    assert by_text["ip saddr != @allowed tcp dport 9999 drop"].matches[0].negated
    (iif_map,) = [r for r in inp.rules if r.vmap and r.vmap.key == "iifname"]
    assert iif_map.vmap.entries == {"nsvtv0": "jump web", "nsvtv1": "drop"}
    (named,) = [r for r in inp.rules if r.vmap and r.vmap.set]
    assert (named.vmap.set, named.vmap.entries) == ("portmap", {"22": "accept", "80": "jump web"})
    (spread,) = [r for r in _chain(fw, "web").rules if r.vmap]
    assert spread.vmap.key == "numgen random mod 2"
    assert spread.vmap.entries == {"0": "jump a", "1": "jump b"}
    assert by_text["reject with icmp port-unreachable"].target == "REJECT"
    assert _chain(fw, "pre").rules[0].target == "NOTRACK"


@pytest.mark.privileged
def test_only_what_a_netns_has_is_read(netns_factory):
    empty = netns_factory("fe")
    reading = _read_in(empty)
    assert (reading.tables, reading.filter, reading.spawned) == ([], [], 0)
    # Reading created nothing: still no legacy table, no nftables table.
    names = run("ip", "netns", "exec", empty, "cat", "/proc/net/ip_tables_names").stdout
    assert names.strip() == ""
    assert run("ip", "netns", "exec", empty, "nft", "list", "tables").stdout.strip() == ""

    only_filter = netns_factory("ff")
    run("ip", "netns", "exec", only_filter, "iptables-nft", "-P", "FORWARD", "DROP")
    reading = _read_in(only_filter)
    assert reading.spawned == 1 and reading.tables == []
    ((table, forward),) = [(t, c) for t in reading.filter for c in t.chains if c.name == "FORWARD"]
    assert (table.backend, table.table, forward.policy) == ("iptables-nft", "filter", "DROP")


@pytest.mark.privileged
def test_a_table_made_by_nft_under_iptables_name_is_read_with_nft(netns_factory):
    ns = netns_factory("fn")
    nft = ["ip", "netns", "exec", ns, "nft"]
    run(*nft, "add table ip nat")
    run(*nft, "add chain ip nat PREROUTING { type nat hook prerouting priority -100; }")
    run(*nft, "add set ip nat nsvtset { type ipv4_addr; }")
    run(*nft, "add rule ip nat PREROUTING ip saddr @nsvtset tcp dport 80 dnat to 192.0.2.7")
    run("ip", "netns", "exec", ns, "iptables-nft", "-A", "FORWARD", "-j", "ACCEPT")
    reading = _read_in(ns)
    # iptables-nft-save refuses that nat table but still saves its own filter table.
    assert [(t.backend, t.table) for t in reading.tables] == [("nftables", "nat")]
    assert [(t.backend, t.table) for t in reading.filter] == [("iptables-nft", "filter")]
    assert reading.errors == []


# ------------------------------------------- property tests on the saved output


def _rule_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("-A ")]


def _captures() -> list[str]:
    return [
        (FIXTURES / name).read_text(encoding="utf-8")
        for name in ("filter-iptables-legacy-save.txt", "filter-iptables-nft-save.txt")
    ]


def test_captured_saves_keep_every_rule_in_order():
    for text in _captures():
        tables = parse_iptables_save(text, "x", "ipv4")
        got = [r.text for t in tables for c in t.chains for r in c.rules]
        assert sorted(got) == sorted(_rule_lines(text))
        for t in tables:
            for c in t.chains:
                for r in c.rules:
                    _consistent(r)


def _consistent(rule) -> None:
    """What every parsed rule promises: a rule is parsed exactly when none of its
    parts is unknown, and the known matches' words are the rule's own words."""
    unknown = [m for m in rule.matches if not m.parsed]
    assert rule.parsed == (not unknown and not rule.extra), rule.text
    assert all(m.kind == "other" for m in unknown)
    try:
        words = shlex.split(rule.text)
    except ValueError:
        return
    for m in rule.matches:
        if m.parsed:
            for word in shlex.split(m.text):
                assert word in words, (word, rule.text)


_POOL = [
    "!",
    "-m",
    "addrtype",
    "--dst-type",
    "LOCAL",
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-m",
    "statistic",
    "--mode",
    "random",
    "--probability",
    "0.25",
    "-m",
    "set",
    "--match-set",
    "KUBE-X",
    "dst",
    "-m",
    "recent",
    "--rcheck",
    "--limit-iface-in",
    "-i",
    "eth0",
    "-p",
    "tcp",
    "--dport",
    "80",
    "-j",
    "--to-destination",
    "junk",
    "'a b'",
]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.sampled_from(_POOL), max_size=8), st.randoms())
def test_mutated_saved_rules_never_crash_and_stay_consistent(which, inserted, rnd):
    lines = [line for text in _captures() for line in _rule_lines(text)]
    tokens = shlex.split(lines[which % len(lines)])
    for token in inserted:
        tokens.insert(rnd.randint(2, len(tokens)), token)
    line = " ".join(tokens)
    chain, rule = parse_iptables_rule(line)
    assert chain == tokens[1] and rule.text == line
    _consistent(rule)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)), max_size=6))
def test_mutated_nft_filter_rules_never_crash_and_are_never_dropped(swaps):
    data = json.loads((FIXTURES / "filter-nft-list-ruleset.json").read_text(encoding="utf-8"))
    mutated = copy.deepcopy(data)
    rules = [o["rule"] for o in mutated["nftables"] if "rule" in o]
    exprs = [e for r in rules for e in r["expr"]]
    for a, b in swaps:  # an expression moved into another rule: shapes nft really prints
        rule = rules[a % len(rules)]
        rule["expr"].insert(b % (len(rule["expr"]) + 1), copy.deepcopy(exprs[b % len(exprs)]))
    want = parse_nft_ruleset(data, chain_types=FILTER_CHAIN_TYPES)
    got = parse_nft_ruleset(mutated, chain_types=FILTER_CHAIN_TYPES)
    # Moving expressions may add or remove jumps, never make a rule vanish from its chain.
    for table in got:
        for chain in table.chains:
            source = [r for r in rules if r["chain"] == chain.name and r["table"] == table.table]
            assert [r.handle for r in chain.rules] == [r["handle"] for r in source]
            for r in chain.rules:
                assert r.parsed == (not [m for m in r.matches if not m.parsed] and not r.extra)
    assert "nsvtfw" in [t.table for t in want]


def test_random_junk_lines_are_kept_and_flagged():
    rng = random.Random(7)
    base = _captures()[0]
    for _ in range(50):
        junk = " ".join(rng.choice(_POOL) for _ in range(rng.randint(1, 6)))
        text = base.replace("COMMIT\n# Completed", f"-A FORWARD {junk}\nCOMMIT\n# Completed", 1)
        tables = parse_iptables_save(text, "x", "ipv4")
        texts = [r.text for t in tables for c in t.chains for r in c.rules]
        assert f"-A FORWARD {junk}" in texts
