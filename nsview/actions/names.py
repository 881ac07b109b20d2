"""Named network namespaces (``ip netns``): where they live and which names are safe."""

from __future__ import annotations

from nsview.errors import UsageError

NETNS_DIR = "/run/netns"
MAX_NAME_BYTES = 255  # NAME_MAX: one path component


def validate_netns_name(name: str) -> str:
    """Return ``name`` if it is a safe ``ip netns`` name, else raise UsageError.

    A name becomes the file ``/run/netns/NAME``: it must be one path component
    (no ``/``, not ``.``/``..``, no ``..`` anywhere), at most 255 bytes, and
    contain no NUL, whitespace or control character. A leading ``-`` is refused
    too: the name is shown in ``ip netns …`` command lines, where it would read
    as an option.
    """
    shown = repr(name) if len(name) <= 40 else repr(name[:40])[:-1] + "…'"
    if not name:
        raise UsageError("netns name is empty")
    if "\0" in name:
        raise UsageError(f"netns name {shown} contains a NUL byte")
    if "/" in name:
        raise UsageError(f"netns name {shown} contains '/': a name is a single file in {NETNS_DIR}")
    if ".." in name or name == ".":
        raise UsageError(f"netns name {shown} contains '..' or is '.'")
    if any(ch.isspace() for ch in name):
        raise UsageError(f"netns name {shown} contains whitespace")
    if not name.isprintable():
        raise UsageError(f"netns name {shown} contains a control character")
    if name.startswith("-"):
        raise UsageError(f"netns name {shown} starts with '-' (it would read as an option)")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        raise UsageError(f"netns name is {size} bytes long; the limit is {MAX_NAME_BYTES}")
    return name


def netns_path(name: str) -> str:
    """``/run/netns/NAME`` for a validated name."""
    return f"{NETNS_DIR}/{validate_netns_name(name)}"
