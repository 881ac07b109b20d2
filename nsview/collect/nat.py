"""NAT and filter tables of the calling thread's netns, from all three backends.

Runs on a :mod:`nsview.kernel.netns` worker that is inside the target, so the
files under ``/proc/thread-self/net`` and the tools it spawns see that netns.
(``/proc/self/net`` would show the *main thread's* namespace: wrong here.)

Only what a namespace needs is spawned:

- legacy x_tables: ``/proc/thread-self/net/ip_tables_names`` (and ``ip6_…``)
  list the tables that exist; ``iptables-legacy-save`` runs only if there is
  one (without ``-t`` it dumps those listed; ``-t nat`` where there is no nat
  table would *create* it).
- nftables: one netlink dump (:mod:`nsview.kernel.nftables`) lists every
  table and chain (no process). A table named like an iptables table in
  ip/ip6 whose base chains carry iptables' names is iptables-nft's:
  ``iptables-nft-save`` reads it (nft only shows its xt targets as opaque),
  all its tables in one run. Any other table with a nat, filter or route base
  chain is native: then one
  ``nft -j list ruleset`` is run.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from nsview.collect.natparse import (
    FILTER_CHAIN_TYPES,
    looks_like_iptables_nft,
    parse_iptables_save,
    parse_nft_ruleset,
)
from nsview.kernel.nftables import nft_chains
from nsview.model import NatTable

TOOL_TIMEOUT = 15.0  # seconds; a wedged tool must not hang the whole snapshot

LEGACY_TOOLS = {"ipv4": "iptables-legacy-save", "ipv6": "ip6tables-legacy-save"}
NFT_SAVE_TOOLS = {"ipv4": "iptables-nft-save", "ipv6": "ip6tables-nft-save"}
NFT_TOOL = "nft"
_LEGACY_NAMES_FILES = {"ipv4": "ip_tables_names", "ipv6": "ip6_tables_names"}
_NFT_FAMILY_TO_IPT = {"ip": "ipv4", "ip6": "ipv6"}


@dataclass(slots=True)
class NatTools:
    """Where each tool is, looked up once per snapshot (None: not installed)."""

    paths: dict[str, str | None]

    @classmethod
    def find(cls) -> NatTools:
        names = [*LEGACY_TOOLS.values(), *NFT_SAVE_TOOLS.values(), NFT_TOOL]
        path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
        return cls({name: shutil.which(name, path=path) for name in names})


@dataclass(slots=True)
class NatReading:
    tables: list[NatTable] = field(default_factory=list)  # nat
    filter: list[NatTable] = field(default_factory=list)  # every other table
    errors: list[str] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # tools this netns needed but are absent
    spawned: int = 0


def read_nat(tools: NatTools) -> NatReading:
    """Every table of the three backends in this thread's netns: nat, filter, mangle, raw …

    One ``*-save`` run per backend and family that has tables (all its tables at
    once), one ``nft -j`` when a native table has nat/filter/route base chains.
    """
    out = NatReading()
    for family, names_file in _LEGACY_NAMES_FILES.items():
        if legacy_tables(names_file):
            # Without -t the tool dumps the tables listed there: it never creates one.
            _run_save(tools, LEGACY_TOOLS[family], "iptables-legacy", family, out)
    try:
        chains = nft_chains()
    except OSError as exc:
        if exc.errno in (errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT, errno.ENOENT):
            return out  # no nf_tables in this kernel: no nftables table can exist
        if exc.errno == errno.EPERM:
            out.errors.append("NAT not read: listing nftables needs CAP_NET_ADMIN (run as root)")
        else:
            out.errors.append(f"nftables netlink dump failed: {exc.strerror or exc}")
        return out
    iptables_nft: set[tuple[str, str]] = set()  # read with iptables-nft-save
    owned_by_iptables: set[tuple[str, str]] = set()  # iptables-nft's, but read with nft
    native = False
    for (family, table), table_chains in chains.items():
        base_names = [name for name, (ctype, base) in table_chains.items() if base]
        has_rules_chain = any(
            base and ctype in ("nat", "filter", "route") for ctype, base in table_chains.values()
        )
        if looks_like_iptables_nft(family, table, base_names):
            iptables_nft.add((family, table))
        elif has_rules_chain:
            native = True
    for family in ("ip", "ip6"):
        mine = {key for key in iptables_nft if key[0] == family}
        if not mine:
            continue
        ipt_family = _NFT_FAMILY_TO_IPT[family]
        tool = NFT_SAVE_TOOLS[ipt_family]
        refused = _run_save(tools, tool, "iptables-nft", ipt_family, out)
        if tool in out.missing:
            # Read them through nft instead: xt targets stay opaque, but the rules show.
            owned_by_iptables |= mine
            iptables_nft -= mine
            native = True
        for table in refused:
            # Made with nft under iptables' name: nft reads it, as the native table it is.
            iptables_nft.discard((family, table))
            native = True
    if native:
        data = _run_nft(tools, out)
        if data is not None:
            out.tables.extend(
                parse_nft_ruleset(data, skip=iptables_nft, iptables_owned=owned_by_iptables)
            )
            out.filter.extend(
                parse_nft_ruleset(
                    data,
                    skip=iptables_nft,
                    iptables_owned=owned_by_iptables,
                    chain_types=FILTER_CHAIN_TYPES,
                )
            )
    return out


def legacy_tables(names_file: str) -> set[str]:
    try:
        with open(f"/proc/thread-self/net/{names_file}", encoding="ascii") as f:
            return set(f.read().split())
    except OSError:
        return set()  # module not loaded: no legacy table can exist


def _run(argv: list[str], out: NatReading) -> subprocess.CompletedProcess | None:
    out.spawned += 1
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        out.errors.append(f"{os.path.basename(argv[0])} timed out after {TOOL_TIMEOUT:g}s")
    except OSError as exc:
        out.errors.append(f"{os.path.basename(argv[0])}: {exc.strerror}")
    return None


def _run_save(tools: NatTools, tool: str, backend: str, family: str, out: NatReading) -> set[str]:
    """Run an *-save tool for all its tables; the names of the tables it refused as
    not its own (made with nft under iptables' names)."""
    path = tools.paths.get(tool)
    if path is None:
        out.missing.add(tool)
        return set()
    proc = _run([path], out)
    if proc is None:
        return set()
    refused = set()
    if backend == "iptables-nft":
        # 1.8.9 says "# Table `nat' is incompatible, use 'nft' tool." on stdout, exit 0;
        # other versions say it on stderr with an error.
        for line in (proc.stdout + proc.stderr).splitlines():
            if "incompatible" in line and "nft" in line:
                name = line.split("`", 1)[1].split("'", 1)[0] if "`" in line else "nat"
                refused.add(name)
    if proc.returncode != 0 and not refused:
        message = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        out.errors.append(f"{tool}: {message}")
        return refused
    for table in parse_iptables_save(proc.stdout, backend, family):
        if table.table in refused:
            continue
        (out.tables if table.table == "nat" else out.filter).append(table)
    return refused


def _run_nft(tools: NatTools, out: NatReading) -> object | None:
    path = tools.paths.get(NFT_TOOL)
    if path is None:
        out.missing.add(NFT_TOOL)
        return None
    proc = _run([path, "-j", "list", "ruleset"], out)
    if proc is None:
        return None
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        out.errors.append(f"nft -j list ruleset: {message}")
        return None
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        out.errors.append(f"nft -j list ruleset: unreadable JSON ({exc.msg})")
        return None
