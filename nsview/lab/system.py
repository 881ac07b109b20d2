"""Small system helpers for the lab: argv commands, preflight, /proc and mount facts."""

from __future__ import annotations

import os
import shutil
import subprocess

from nsview.errors import NsviewError
from nsview.kernel.procfs import unescape_mountinfo
from nsview.lab import topology as topo


class LabCommandError(NsviewError):
    """A command the lab ran failed; the message names the command and its stderr."""


def run(argv: list[str], *, input: str | None = None, check: bool = True,
        timeout: float = 30) -> subprocess.CompletedProcess:
    """Run an argv list (never a shell string); raise LabCommandError on failure."""
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True,
                              timeout=timeout, stdin=None if input is not None
                              else subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise NsviewError(f"lab: missing command '{argv[0]}' (not on PATH)") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabCommandError(f"lab: '{' '.join(argv)}' timed out after {timeout:.0f}s") from exc
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabCommandError(
            f"lab: '{' '.join(argv)}' failed: {err[-1] if err else f'exit {proc.returncode}'}"
        )
    return proc


def in_netns(nspath: str, *argv: str) -> list[str]:
    """argv that runs a command inside the network namespace at nspath."""
    return ["nsenter", f"--net={nspath}", "--", *argv]


def named_netns(name: str) -> str:
    return f"{topo.NAMED_NETNS_DIR}/{name}"


# -- preflight ---------------------------------------------------------------

TOOL_PACKAGES = {
    "ip": "iproute2", "bridge": "iproute2", "iptables": "iptables",
    "iptables-restore": "iptables", "nsenter": "util-linux",
    "unshare": "util-linux", "mount": "mount", "umount": "mount", "sysctl": "procps",
    "true": "coreutils",
}


def preflight() -> None:
    """Raise NsviewError naming the first missing thing: root, a tool, a link type, NAT."""
    if os.geteuid() != 0:
        raise NsviewError("nsview lab needs root (it creates namespaces, links and iptables "
                          "rules); run it with sudo")
    for tool in topo.TOOLS:
        if shutil.which(tool) is None:
            raise NsviewError(f"nsview lab needs '{tool}' (Debian package "
                              f"{TOOL_PACKAGES.get(tool, tool)}), not found on PATH")
    # Each probe runs in a throwaway network namespace (`unshare --net`), which
    # vanishes with the command: nothing to clean up, the root netns untouched.
    probes = {
        "veth": ["ip", "link", "add", "t0", "type", "veth", "peer", "name", "t1"],
        "bridge": ["ip", "link", "add", "t0", "type", "bridge"],
        "vxlan": ["ip", "link", "add", "t0", "type", "vxlan", "id", "1", "dstport", "4789"],
    }
    for kind, argv in probes.items():
        _probe_kernel(kind, ["unshare", "--net", "--", *argv])
    # macvlan needs a parent link: a veth made in the same throwaway namespace
    _probe_kernel("macvlan", ["unshare", "--net", "--", "ip", "-batch", "-"],
                  input="link add t0 type veth peer name t1\n"
                        "link add m0 link t0 type macvlan mode bridge\n")
    nat = [
        ["iptables", "-w", "-t", "nat", "-N", "DOCKER"],
        ["iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-m", "addrtype",
         "--dst-type", "LOCAL", "-j", "DOCKER"],
        ["iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", "172.17.0.0/16",
         "-j", "MASQUERADE"],
        ["iptables", "-w", "-t", "nat", "-A", "DOCKER", "-p", "tcp", "--dport", "8080",
         "-j", "DNAT", "--to-destination", "172.17.0.2:80"],
        ["iptables", "-w", "-A", "FORWARD", "-m", "conntrack", "--ctstate",
         "RELATED,ESTABLISHED", "-m", "comment", "--comment", "nsvlab", "-j", "ACCEPT"],
    ]
    # All four in one throwaway netns: a tiny Python runs each argv in turn
    # inside the same `unshare --net` (argv lists throughout, no shell).
    code = (
        "import subprocess,sys,json\n"
        "for a in json.loads(sys.argv[1]):\n"
        "    r=subprocess.run(a,capture_output=True,text=True)\n"
        "    if r.returncode: print(' '.join(a)+': '+r.stderr.strip()); sys.exit(1)\n"
    )
    import json
    import sys

    proc = run(["unshare", "--net", "--", sys.executable, "-I", "-c", code, json.dumps(nat)],
               check=False)
    if proc.returncode != 0:
        detail = (proc.stdout or proc.stderr).strip().splitlines()
        raise NsviewError("nsview lab needs iptables nat (addrtype, MASQUERADE, DNAT) and "
                          "the conntrack and comment matches; "
                          f"the kernel refused: {detail[-1] if detail else 'unknown error'}")


def _probe_kernel(kind: str, argv: list[str], input: str | None = None) -> None:
    proc = run(argv, input=input, check=False)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise NsviewError(f"nsview lab needs the kernel's '{kind}' link type, which is "
                          f"missing ({msg[-1] if msg else 'unknown error'})")


# -- /proc facts ---------------------------------------------------------------

def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot): tells a pid from its reuse."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def alive(pid: int | None, start: int | None) -> bool:
    if not pid:
        return False
    now = start_time(pid)
    if now is None:
        return False
    if start is not None and now != start:
        return False
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return True


def proc_state(pid: int, start: int | None) -> tuple[str, int] | None:
    """(state letter, ppid) while ``pid`` (started at ``start``) is in /proc, zombie or
    not; None once it is gone (or the pid now belongs to another process)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    try:
        if start is not None and int(fields[19]) != start:
            return None
        return fields[0], int(fields[1])
    except (IndexError, ValueError):
        return None


def marked_pids(marker: str = topo.ENV_MARKER) -> list[int]:
    """Processes whose environment carries the lab marker (any lab id)."""
    needle = f"{marker}=".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if any(item.startswith(needle) for item in env.split(b"\0")):
            found.append(int(entry))
    return found


def netns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def mount_points() -> list[tuple[str, str]]:
    """(mount point, fstype) of the caller's mount namespace, in mount order."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split(" ")
            if len(fields) < 5:
                continue
            out.append((unescape_mountinfo(fields[4]), right.split(" ", 1)[0]))
    return out


def cgroup2_root() -> str | None:
    """The cgroup v2 mount point (pure v2 or hybrid's .../unified), if writable."""
    for point, fstype in mount_points():
        if fstype == "cgroup2" and os.access(point, os.W_OK):
            return point
    return None
