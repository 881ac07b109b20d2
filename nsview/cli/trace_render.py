"""The readable form of a trace: one block per path, one numbered line per hop
with its evidence indented below (``nsview trace``; JSON is the model itself)."""

from __future__ import annotations

from rich.text import Text

from nsview.analyze.paths import Path, Trace
from nsview.cli.styles import role_style
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


VERDICT_ROLES = {"reaches": "up", "no-listener": "warn", "blocked": "down", "unknown": "warn"}


def render_trace(trace: Trace, idx) -> Text:
    """The trace as rich Text (styled by meaning through cli/styles.py; a pipe or
    NO_COLOR gets plain text)."""
    out = Text()
    out.append(f"trace {trace.question}\n", style=role_style("group"))
    for note in trace.notes:
        out.append(f"  note: {note}\n", style=role_style("muted"))
    if not trace.paths:
        out.append("  no path: nothing to follow\n")
    for number, path in enumerate(trace.paths, 1):
        out.append("\n")
        _path_text(out, number, path, idx)
    return out


def _path_text(out: Text, number: int, path: Path, idx) -> None:
    chance = f" (probability {path.probability:.2f})" if path.probability is not None else ""
    head = f"path {number}: {path.arrival}"
    if path.destination:
        head += f" to {path.destination}"
    if path.source:
        head += f" from {path.source}"
    out.append(f"{head}{chance}\n", style=role_style("name"))
    out.append("  ")
    out.append(VERDICT_WORDS.get(path.verdict, path.verdict),
               style="bold " + role_style(VERDICT_ROLES.get(path.verdict, "")))
    out.append(f": {path.summary}\n")
    width = len(str(len(path.hops)))
    for i, hop in enumerate(path.hops, 1):
        where = idx.netns_label(hop.netns) if hop.netns is not None else "-"
        out.append(f"  {i:>{width}} ")
        out.append(f"{hop.kind:<8}", style=role_style(_HOP_ROLES.get(hop.kind, "kind")))
        out.append(f" [{where}] ", style=role_style("label"))
        out.append(f"{hop.description}\n")
        if hop.evidence:
            out.append(f"  {'':>{width}} {'':<8}   {hop.evidence}\n", style=role_style("muted"))
    if path.listener is not None:
        lst = path.listener
        who = ", ".join(f"{c} ({p})" for c, p in zip(lst.commands, lst.pids, strict=False))
        who = who or ", ".join(str(p) for p in lst.pids) or "no process"
        container = f", container {lst.container}" if lst.container else ""
        out.append(f"  listener: {who} on {lst.address}:{lst.port}/{lst.proto} in "
                   f"{idx.netns_label(lst.netns)}{container}\n")
    for text in path.assumed:
        out.append(f"  assumed: {text}\n", style=role_style("warn"))


_HOP_ROLES = {"nat": "dnat", "filter": "warn", "listener": "up", "proxy": "snat"}
