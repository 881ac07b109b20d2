"""The plain commands equivalent to each action, so people can learn (and copy) them.

Pure functions: argv lists in, argv lists out. :func:`shell_line` quotes them
for display only; nsview itself never runs a shell string.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from nsview.actions.names import NETNS_DIR

# nsenter/unshare short options, in nsenter's own order of entering.
NSENTER_SHORT = {
    "user": "-U",
    "cgroup": "-C",
    "ipc": "-i",
    "uts": "-u",
    "net": "-n",
    "pid": "-p",
    "mnt": "-m",
    "time": "-T",
}
LONG_OPTION = {
    "user": "--user",
    "cgroup": "--cgroup",
    "ipc": "--ipc",
    "uts": "--uts",
    "net": "--net",
    "pid": "--pid",
    "mnt": "--mount",
    "time": "--time",
}
ORDER = tuple(NSENTER_SHORT)


def nsenter_for_pid(pid: int, types: Sequence[str], argv: Sequence[str]) -> list[str]:
    """``nsenter -t PID -n -u … [-w] -- CMD``; ``-w`` keeps the target's working directory."""
    cmd = ["nsenter", "-t", str(pid)]
    cmd += [NSENTER_SHORT[t] for t in ORDER if t in types]
    if "mnt" in types:
        cmd.append("-w")
    return [*cmd, "--", *argv]


def nsenter_for_file(ns_type: str, path: str, argv: Sequence[str]) -> list[str]:
    """``nsenter --net=/run/netns/NAME -- CMD`` (any nsfs file, any type)."""
    return ["nsenter", f"{LONG_OPTION[ns_type]}={path}", "--", *argv]


def unshare_commands(
    types: Sequence[str], argv: Sequence[str], netns_name: str | None = None
) -> list[list[str]]:
    """``unshare …`` (preceded by ``touch /run/netns/NAME`` for a persistent netns).

    Matches what nsview does: a user namespace maps root (``--map-root-user``),
    a pid namespace forks so CMD is its pid 1, and with a mount namespace a
    fresh /proc is mounted for it (``--mount-proc``). unshare(1) makes new
    mount namespaces private by default, as nsview does.
    """
    cmds: list[list[str]] = []
    cmd = ["unshare"]
    for t in ORDER:
        if t not in types:
            continue
        if t == "net" and netns_name is not None:
            path = f"{NETNS_DIR}/{netns_name}"
            cmds.append(["touch", path])
            cmd.append(f"--net={path}")
        else:
            cmd.append(LONG_OPTION[t])
        if t == "user":
            cmd.append("--map-root-user")
    if "pid" in types or "time" in types:
        cmd.append("--fork")
    if "pid" in types and "mnt" in types:
        cmd.append("--mount-proc")
    cmds.append([*cmd, "--", *argv])
    return cmds


def netns_add_commands(name: str) -> list[list[str]]:
    return [["ip", "netns", "add", name], ["ip", "-n", name, "link", "set", "lo", "up"]]


def netns_del_commands(name: str) -> list[list[str]]:
    return [["ip", "netns", "del", name]]


def shell_line(commands: Sequence[Sequence[str]]) -> str:
    """Display form: each argv quoted for a POSIX shell, joined with ``&&``."""
    return " && ".join(shlex.join(list(c)) for c in commands)
