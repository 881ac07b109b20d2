"""NAT tables of the calling thread's netns, from all three backends.

Runs on a :mod:`nsview.kernel.netns` worker that is inside the target, so the
files under ``/proc/thread-self/net`` and the tools it spawns see that netns.
(``/proc/self/net`` would show the *main thread's* namespace: wrong here.)

Only what a namespace needs is spawned:

- legacy x_tables: ``/proc/thread-self/net/ip_tables_names`` (and ``ip6_…``)
  list the tables that exist; ``iptables-legacy-save -t nat`` runs only if
  "nat" is among them. Running it otherwise would *create* the table.
- nftables: one netlink dump (:mod:`nsview.kernel.nftables`) lists every
  table and chain (no process). A table named like an iptables table in
  ip/ip6 whose base chains carry iptables' names is iptables-nft's:
  ``iptables-nft-save -t nat`` reads it (nft only shows its xt targets as
  opaque). Any other table with a nat-type base chain is native: then one
  ``nft -j list ruleset`` is run.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from nsview.collect.natparse import looks_like_iptables_nft, parse_iptables_save, parse_nft_ruleset
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
    tables: list[NatTable] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # tools this netns needed but are absent
    spawned: int = 0


def read_nat(tools: NatTools) -> NatReading:
    out = NatReading()
    for family, names_file in _LEGACY_NAMES_FILES.items():
        if "nat" in legacy_tables(names_file):
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
    native_nat = False
    for (family, table), table_chains in chains.items():
        base_names = [name for name, (ctype, base) in table_chains.items() if base]
        has_nat = any(ctype == "nat" and base for ctype, base in table_chains.values())
        if looks_like_iptables_nft(family, table, base_names):
            iptables_nft.add((family, table))
        elif has_nat:
            native_nat = True
    for family, table in sorted(iptables_nft):
        if table != "nat":
            continue
        ipt_family = _NFT_FAMILY_TO_IPT[family]
        tool = NFT_SAVE_TOOLS[ipt_family]
        refused = _run_save(tools, tool, "iptables-nft", ipt_family, out)
        if refused or tool in out.missing:
            # Read it through nft instead: xt targets stay opaque, but the rules show.
            iptables_nft.discard((family, table))
            if not refused:
                owned_by_iptables.add((family, table))
            native_nat = True
    if native_nat:
        data = _run_nft(tools, out)
        if data is not None:
            out.tables.extend(
                parse_nft_ruleset(data, skip=iptables_nft, iptables_owned=owned_by_iptables)
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


def _run_save(tools: NatTools, tool: str, backend: str, family: str, out: NatReading) -> bool:
    """Run an *-save tool for the nat table; True if it refused the table as not its own."""
    path = tools.paths.get(tool)
    if path is None:
        out.missing.add(tool)
        return False
    proc = _run([path, "-t", "nat"], out)
    if proc is None:
        return False
    # A table created with nft under iptables' names: iptables-nft-save says so (on
    # stdout as a comment with exit 0 in 1.8.9, on stderr with an error in others).
    if backend == "iptables-nft" and any(
        "incompatible" in line and "nft" in line
        for line in (proc.stdout + proc.stderr).splitlines()
    ):
        return True
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        out.errors.append(f"{tool} -t nat: {message}")
        return False
    out.tables.extend(parse_iptables_save(proc.stdout, backend, family))
    return False


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
