"""Meaning → look for the terminal: the roles of ``nsview.analyze.labels`` as rich styles.

The TUI maps the same roles to its theme (``themes/*.toml`` [roles]); here they
are fixed rich styles, and ``NO_COLOR`` / a pipe turn them off as rich does.
"""

from __future__ import annotations

from rich.text import Text

from nsview.analyze.labels import Label

ROLE_STYLES = {
    "name": "bold",
    "label": "green",
    "muted": "dim",
    "count": "dim",
    "pid": "cyan",
    "addr": "",
    "kind": "",
    "peer": "",
    "up": "green",
    "down": "red",
    "warn": "yellow",
    "error": "red",
    "unshared": "yellow",
    "holder": "yellow",
    "group": "bold",
    "dnat": "bold magenta",
    "snat": "bold cyan",
    "masquerade": "bold cyan",
}
NS_TYPE_STYLE = "bold cyan"  # roles "ns-net", "ns-pid", …


def role_style(role: str) -> str:
    if role.startswith("ns-"):
        return NS_TYPE_STYLE
    return ROLE_STYLES.get(role, "")


def styled(label: Label, *, sep: str | None = None) -> Text:
    """A rich Text of ``label``; ``sep`` replaces the two-space gap between segments."""
    text = Text()
    for part, role in label:
        if sep is not None and part == "  " and not role:
            part = sep
        text.append(part, style=role_style(role))
    return text
