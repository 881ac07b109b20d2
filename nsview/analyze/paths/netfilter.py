"""Replaying netfilter over a namespace's tables: which rules a packet meets at
a hook, in which order, and what they decide.

All three backends hook into the same places; at one hook the base chains run
in priority order (iptables' tables have fixed priorities: raw -300, mangle
-150, dnat -100, filter 0, security 50, snat 100). A filter verdict needs
every base chain to accept; the first NAT target that matches binds the
connection. ``-m statistic`` rules split the packet into branches that carry
their probability (kube-proxy's service chains).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from nsview.analyze.paths.rulespec import (
    NAT_TARGETS,
    NON_TERMINAL,
    OPAQUE,
    TERMINAL,
    RuleSpec,
    parse_rule,
)

MAX_DEPTH = 32  # jumps inside jumps: a loop in a ruleset must not hang a trace
MAX_BRANCHES = 256

# iptables table -> (kind, priority); nat's priority depends on the hook.
_IPT_TABLES = {
    "raw": ("filter", -300),
    "mangle": ("filter", -150),
    "filter": ("filter", 0),
    "security": ("filter", 50),
}
_NAT_PRIORITY = {"prerouting": -100, "output": -100, "postrouting": 100, "input": 100}
_NFT_NAMED_PRIORITY = {
    "raw": -300,
    "mangle": -150,
    "dstnat": -100,
    "filter": 0,
    "security": 50,
    "srcnat": 100,
}
_HOOK_OF_CHAIN = {
    "PREROUTING": "prerouting",
    "INPUT": "input",
    "FORWARD": "forward",
    "OUTPUT": "output",
    "POSTROUTING": "postrouting",
}


@dataclass(slots=True)
class Packet:
    """One new connection's first packet, as far as netfilter can see it."""

    family: int  # 4 or 6
    proto: str  # tcp / udp
    dst: Any  # ipaddress object
    dport: int | None
    src: Any = None
    sport: int | None = None
    iif: str | None = None  # None: made in this namespace (OUTPUT)
    oif: str | None = None
    mark: int = 0
    dnat_done: bool = False
    snat_done: bool = False

    def copy(self, **changes: Any) -> Packet:
        return replace(self, **changes)


@dataclass(slots=True)
class TableRef:
    """A table as the snapshot has it: the NetState list it is in and its index."""

    field: str  # "nat" (NetState.nat) or the list the filter tables live in
    index: int
    table: Any

    @property
    def backend(self) -> str:
        return self.table.backend


@dataclass(slots=True)
class RuleHit:
    table: TableRef
    chain: Any
    chain_index: int
    rule: Any
    rule_index: int

    def where(self) -> str:
        t = self.table.table
        return f"{t.backend} {t.family} {t.table} {self.chain.name} #{self.rule_index + 1}"

    def ref(self, netns: int) -> list:
        return [
            f"{self.table.field}_rule",
            netns,
            self.table.index,
            self.chain_index,
            self.rule_index,
        ]


@dataclass(slots=True)
class ChainEnd:
    """A base chain's policy decided (no rule did)."""

    table: TableRef
    chain: Any
    chain_index: int

    def where(self) -> str:
        t = self.table.table
        return f"{t.backend} {t.family} {t.table} {self.chain.name} policy {self.chain.policy}"

    def ref(self, netns: int) -> list:
        return [f"{self.table.field}_chain", netns, self.table.index, self.chain_index]


@dataclass(slots=True)
class Branch:
    """One way through a hook's chains."""

    pkt: Packet
    prob: float = 1.0
    result: str | None = None  # ACCEPT DROP REJECT RETURN NAT OPAQUE; None: fell off the chain
    decider: RuleHit | ChainEnd | None = None
    nat: tuple[str, str | None] | None = None  # (DNAT/SNAT/MASQUERADE/REDIRECT, to)
    trail: list[RuleHit] = field(default_factory=list)  # rules that matched, in order
    uncertain: list[tuple[RuleHit, str]] = field(default_factory=list)  # (rule, what)

    def fork(self, prob: float) -> Branch:
        return Branch(
            self.pkt.copy(),
            prob,
            self.result,
            self.decider,
            self.nat,
            list(self.trail),
            list(self.uncertain),
        )


@dataclass(slots=True)
class BaseChain:
    table: TableRef
    chain: Any
    chain_index: int
    kind: str  # "nat" | "filter"
    priority: int


class Rules:
    """The tables of one namespace, indexed for replay. Built per trace."""

    def __init__(self, tables: Iterable[TableRef]) -> None:
        self.tables = list(tables)
        self._chains: dict[int, dict[str, tuple[int, Any]]] = {}
        self._specs: dict[int, RuleSpec] = {}
        self._forks = 0  # random choices followed in the current run_hook
        for tref in self.tables:
            self._chains[id(tref.table)] = {c.name: (i, c) for i, c in enumerate(tref.table.chains)}

    def spec(self, tref: TableRef, rule: Any) -> RuleSpec:
        found = self._specs.get(id(rule))
        if found is None:
            found = self._specs[id(rule)] = parse_rule(rule, tref.backend, tref.table)
        return found

    def chain(self, tref: TableRef, name: str) -> tuple[int, Any] | None:
        return self._chains[id(tref.table)].get(name)

    def base_chains(self, hook: str, family: int) -> list[BaseChain]:
        out: list[BaseChain] = []
        fams = {"ipv4", "ip", "inet"} if family == 4 else {"ipv6", "ip6", "inet"}
        for tref in self.tables:
            t = tref.table
            if t.family not in fams:
                continue
            for ci, chain in enumerate(t.chains):
                chain_hook = chain.hook
                if chain_hook is None and t.backend != "nftables" and chain.policy:
                    chain_hook = _HOOK_OF_CHAIN.get(chain.name)
                if chain_hook != hook:
                    continue
                kind, prio = _kind_and_priority(tref, chain, hook)
                out.append(BaseChain(tref, chain, ci, kind, prio))
        out.sort(key=lambda b: b.priority)
        return out

    # -- replay ------------------------------------------------------------------

    def has_chains(self, hook: str, kind: str, family: int) -> bool:
        return any(b.kind == kind for b in self.base_chains(hook, family))

    def run_hook(
        self,
        hook: str,
        kind: str,
        pkt: Packet,
        ctx: Any,
        before: int | None = None,
        after: int | None = None,
    ) -> list[Branch]:
        """Every branch through the ``kind`` chains at ``hook`` (only those with a
        priority below ``before`` / at or above ``after`` when given: raw and
        mangle run before NAT, filter after). A branch's result is None (went on),
        DROP/REJECT (stopped), NAT (bound; ``nat`` says how) or OPAQUE (handed to
        something nsview cannot follow)."""
        chains = [
            b
            for b in self.base_chains(hook, pkt.family)
            if b.kind == kind
            and (before is None or b.priority < before)
            and (after is None or b.priority >= after)
        ]
        self._forks = 0
        return self._run_bases(chains, Branch(pkt.copy()), ctx)

    def _run_bases(self, chains: list[BaseChain], start: Branch, ctx: Any) -> list[Branch]:
        if not chains:
            start.result = None
            return [start]
        base, rest = chains[0], chains[1:]
        out: list[Branch] = []
        for br in self._run_chain(base.table, base.chain_index, base.chain, start, ctx, 0):
            if br.result in (None, "RETURN"):
                policy = (base.chain.policy or "ACCEPT").upper()
                if policy in ("DROP", "REJECT"):
                    br.result, br.decider = (
                        "DROP",
                        ChainEnd(base.table, base.chain, base.chain_index),
                    )
                    out.append(br)
                    continue
                if br.decider is None:
                    br.decider = ChainEnd(base.table, base.chain, base.chain_index)
                br.result = None
            if br.result in (None, "ACCEPT"):
                # Accepted by this base chain: the next one still has its say.
                br.result = None
                out.extend(self._run_bases(rest, br, ctx))
            else:
                out.append(br)
        return out

    def _run_chain(
        self,
        tref: TableRef,
        ci: int,
        chain: Any,
        br: Branch,
        ctx: Any,
        depth: int,
        start: int = 0,
        taken: bool = False,
    ) -> Iterator[Branch]:
        """Rules of ``chain`` from ``start``; yields branches that ended (a verdict,
        RETURN) or fell off its end (result None). ``taken``: the random choice of
        the rule at ``start`` was made (this branch takes it)."""
        if depth > MAX_DEPTH:
            br.result = "OPAQUE"
            yield br
            return
        rules = chain.rules
        i = start
        while i < len(rules):
            rule = rules[i]
            spec = self.spec(tref, rule)
            hit = RuleHit(tref, chain, ci, rule, i)
            verdict = _conditions(spec, br, ctx, hit)
            if verdict is False:
                i += 1
                continue
            if spec.probability is not None and spec.probability < 1.0 and not taken:
                # kube-proxy: this endpoint with probability p, the next rules otherwise;
                # the endpoint's branch first, so endpoints come out in rule order.
                self._forks += 1
                if self._forks <= MAX_BRANCHES:
                    chosen = br.fork(br.prob * spec.probability)
                    yield from self._run_chain(tref, ci, chain, chosen, ctx, depth, i, True)
                    br.prob *= 1.0 - spec.probability
                    i += 1
                    continue
                br.uncertain.append(
                    (hit, f"more than {MAX_BRANCHES} random choices: only this one followed")
                )
                br.prob *= spec.probability
            taken = False
            target, goto = spec.target, spec.goto
            if spec.vmap is not None:
                reader, mapping, _name = spec.vmap
                key = reader(br.pkt)
                hit_target = mapping.get(str(key)) if key is not None else None
                if hit_target is None:
                    i += 1
                    continue
                target, goto = hit_target
            br.trail.append(hit)
            if spec.mark is not None:
                br.pkt.mark = _apply_mark(br.pkt.mark, spec.mark)
            if target is None or target in NON_TERMINAL or target == "MARK":
                i += 1
                continue
            upper = target.upper()
            if upper in TERMINAL:
                br.result, br.decider = upper, hit
                yield br
                return
            if upper == "RETURN":
                br.result = "RETURN"
                yield br
                return
            if upper == "CONTINUE":
                i += 1
                continue
            if upper in NAT_TARGETS:
                br.result, br.decider, br.nat = "NAT", hit, (upper, spec.nat_to)
                yield br
                return
            sub = self.chain(tref, target)
            if sub is None:
                if upper in OPAQUE or target.isupper():
                    # A target (extension) nsview does not model: say so, go on.
                    br.uncertain.append((hit, f"target {target} not followed"))
                    if upper in OPAQUE:
                        br.result, br.decider = "OPAQUE", hit
                        yield br
                        return
                i += 1
                continue
            sub_ci, sub_chain = sub
            for inner in self._run_chain(tref, sub_ci, sub_chain, br, ctx, depth + 1):
                if inner.result in (None, "RETURN"):
                    inner.result = None
                    if goto:
                        inner.result = "RETURN"
                        yield inner
                    else:
                        yield from self._run_chain(tref, ci, chain, inner, ctx, depth, i + 1)
                else:
                    yield inner
            return
        br.result = None
        yield br


def _conditions(spec: RuleSpec, br: Branch, ctx: Any, hit: RuleHit) -> bool:
    """True when every condition holds. A condition nsview cannot tell is taken as
    not holding (the rule is skipped) and recorded on the branch."""
    unknown: list[str] = []
    for cond in spec.conditions:
        r = cond.test(br.pkt, ctx)
        if r is False:
            return False
        if r is None:
            unknown.append(cond.text)
    if unknown:
        br.uncertain.append((hit, "; ".join(unknown)))
        return False
    return True


def _apply_mark(mark: int, op: tuple[str, int, int]) -> int:
    kind, value, mask = op
    if kind == "xset":
        return (mark & ~mask) ^ value
    if kind == "set":
        return value
    if kind == "or":
        return mark | value
    if kind == "and":
        return mark & value
    if kind == "xor":
        return mark ^ value
    return mark


def _kind_and_priority(tref: TableRef, chain: Any, hook: str) -> tuple[str, int]:
    t = tref.table
    explicit = getattr(chain, "type", None)
    if t.backend != "nftables":
        if t.table == "nat":
            return "nat", _NAT_PRIORITY.get(hook, 0)
        kind, prio = _IPT_TABLES.get(t.table, ("filter", 0))
        return kind, prio
    prio = chain.priority
    if isinstance(prio, str):
        base, _, offset = prio.replace(" ", "").partition("+")
        if "-" in base and not base.startswith("-"):
            base, _, neg = base.partition("-")
            offset = f"-{neg}"
        prio = _NFT_NAMED_PRIORITY.get(base, 0) + (
            int(offset) if offset.lstrip("-").isdigit() else 0
        )
    kind = explicit or ("nat" if tref.field == "nat" else "filter")
    if kind not in ("nat", "filter"):
        kind = "filter"  # nft "route" chains act like mangle's
    return kind, int(prio or 0)
