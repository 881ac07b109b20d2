"""The readable form of a trace: one block per path, one numbered line per hop
with its evidence indented below (``nsview trace``; JSON is the model itself)."""

from __future__ import annotations

from nsview.analyze.paths import Path, Trace
from nsview.errors import UsageError

VERDICT_WORDS = {
    "reaches": "REACHES",
    "no-listener": "NO LISTENER",
    "blocked": "BLOCKED",
    "unknown": "UNKNOWN",
}


def check_ip(text: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"not an IP address: {text!r}") from None


def render_trace(trace: Trace, idx) -> str:
    lines = [f"trace {trace.question}"]
    for note in trace.notes:
        lines.append(f"  note: {note}")
    if not trace.paths:
        lines.append("  no path: nothing to follow")
    for number, path in enumerate(trace.paths, 1):
        lines.append("")
        lines += _path_lines(number, path, idx)
    return "\n".join(lines) + "\n"


def _path_lines(number: int, path: Path, idx) -> list[str]:
    chance = f" (probability {path.probability:.2f})" if path.probability is not None else ""
    head = f"path {number}: {path.arrival}"
    if path.destination:
        head += f" to {path.destination}"
    if path.source:
        head += f" from {path.source}"
    lines = [
        f"{head}{chance}",
        f"  {VERDICT_WORDS.get(path.verdict, path.verdict)}: {path.summary}",
    ]
    width = len(str(len(path.hops)))
    for i, hop in enumerate(path.hops, 1):
        where = idx.netns_label(hop.netns) if hop.netns is not None else "-"
        lines.append(f"  {i:>{width}} {hop.kind:<8} [{where}] {hop.description}")
        if hop.evidence:
            lines.append(f"  {'':>{width}} {'':<8}   {hop.evidence}")
    if path.listener is not None:
        lst = path.listener
        who = ", ".join(f"{c} ({p})" for c, p in zip(lst.commands, lst.pids, strict=False))
        who = who or ", ".join(str(p) for p in lst.pids) or "no process"
        container = f", container {lst.container}" if lst.container else ""
        lines.append(
            f"  listener: {who} on {lst.address}:{lst.port}/{lst.proto} in "
            f"{idx.netns_label(lst.netns)}{container}"
        )
    for text in path.assumed:
        lines.append(f"  assumed: {text}")
    return lines
