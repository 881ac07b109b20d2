"""What a trace answers: paths, each a list of hops, a verdict and the listener.

Plain dataclasses so ``nsview.model.to_dict`` turns them into the JSON that
``nsview trace … --json`` prints (docs/trace.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

# How a path ends.
REACHES = "reaches"  # a listener accepts it (trace port), or it leaves / arrives (egress)
NO_LISTENER = "no-listener"  # delivered, but nobody listens there (or nobody owns the address)
BLOCKED = "blocked"  # a rule, a route, a sysctl or a link stops it: the last hop says which
UNKNOWN = "unknown"  # nsview cannot tell: it leaves what the snapshot shows, or a rule is opaque
VERDICTS = (REACHES, NO_LISTENER, BLOCKED, UNKNOWN)

# Arrivals.
EXTERNAL = "external"  # through an interface of the arrival namespace
LOOPBACK = "loopback"  # made inside the namespace that owns the address (127.0.0.1, its own IP)
EGRESS = "egress"  # out of a container towards an address outside


@dataclass(slots=True)
class Hop:
    """One step of a path.

    kind: arrive, nat, filter, route, forward, link, listener, proxy, exit,
    endpoint (see docs/trace.md). ``ref`` points at the snapshot object the hop
    comes from, as the TUI's references spell it (e.g. ["nat_rule", netns,
    table, chain, rule], ["route", netns, i], ["iface", netns, ifindex]), so a
    reader can jump there; null when there is nothing to point at.
    """

    __json_omit_none__: ClassVar[tuple[str, ...]] = ("host",)

    kind: str
    netns: int | None
    description: str
    evidence: str = ""
    ref: list | None = None
    host: str | None = None  # a fleet trace (analyze.fleet_trace): the host it is on


@dataclass(slots=True)
class Listener:
    __json_omit_none__: ClassVar[tuple[str, ...]] = ("host",)

    netns: int
    address: str
    port: int
    pids: list[int] = field(default_factory=list)
    container: str | None = None
    commands: list[str] = field(default_factory=list)  # comm of each pid, same order
    proto: str = "tcp"
    host: str | None = None  # a fleet trace: the host it is on


@dataclass(slots=True)
class Path:
    arrival: str
    verdict: str
    hops: list[Hop] = field(default_factory=list)
    listener: Listener | None = None
    # Kubernetes services: the chance this path is taken (statistic --probability
    # rules multiplied along the way); null when nothing random chose it.
    probability: float | None = None
    summary: str = ""  # the outcome in words: what reaches what, or what blocks it
    source: str | None = None  # the packet's source address as the trace assumed it
    destination: str | None = None  # address:port it was sent to, before any DNAT
    # Rules whose conditions nsview cannot evaluate (an ipset, physdev …): taken as
    # not matching; a DROP among them turns "reaches" into "unknown".
    assumed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Trace:
    """The answer to one ``trace port`` / ``trace egress`` question."""

    question: str  # "port 8080/tcp" / "egress from web-1 to 203.0.113.9"
    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the snapshot lacked, said once
