"""Traffic paths: where a port goes and why a container can or cannot get out.

Pure analysis over a Snapshot (it works on a loaded ``--load snap.json``):
the route lookup (``routing``), which namespace owns an address and how a
frame crosses veths and bridges (``topology``), netfilter replayed over every
backend's tables (``rulespec``, ``netfilter``), listeners and user-space
proxies (``listeners``), and the walk that strings them into hops
(``engine``). See docs/trace.md.
"""

from __future__ import annotations

from nsview.analyze.paths.engine import TraceError, Tracer
from nsview.analyze.paths.result import Hop, Listener, Path, Trace

__all__ = ["Hop", "Listener", "Path", "Trace", "TraceError", "Tracer", "trace_egress", "trace_port"]


def trace_port(
    snapshot, port: int, proto: str = "tcp", host_ip: str | None = None, netns: int | None = None
) -> Trace:
    return Tracer(snapshot).port(port, proto, host_ip, netns)


def trace_egress(
    snapshot, netns: int, to: str | None = None, proto: str = "tcp", port: int | None = None
) -> Trace:
    return Tracer(snapshot).egress(netns, to, proto, port)
