"""Who accepts a connection that was delivered to a namespace: its sockets, their
processes, and the user-space proxies (docker-proxy, rootlessport) that
forward it on."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from nsview.model import Socket

# Processes that accept on a host port and connect on to a container themselves.
PROXIES = {
    "docker-proxy": "Docker's user-space proxy",
    "rootlessport": "rootless podman's port forwarder",
    "rootlesskit": "RootlessKit's port driver",
    "slirp4netns": "a user-space network stack",
    "pasta": "a user-space port forwarder",
    "passt": "a user-space port forwarder",
}


@dataclass(slots=True)
class Found:
    socket: Socket | None
    state: str  # "listening", "none" (nobody), "unread" (the snapshot has no sockets)


def find_listener(net: Any, proto: str, ip: Any, port: int, sockets_read: bool) -> Found:
    """The socket of ``net`` that a new ``proto`` connection to ``ip``:``port``
    reaches: an exact address first, then the wildcard (0.0.0.0, or :: unless
    v6only for IPv4). ``sockets_read``: the snapshot has sockets at all (an
    older one, or one taken without them, cannot say who listens)."""
    sockets = getattr(net, "sockets", None) or []
    if not sockets:
        return Found(None, "none" if sockets_read else "unread")
    wanted_state = "LISTEN" if proto == "tcp" else "UNCONN"
    exact: Socket | None = None
    wildcard: Socket | None = None
    for sock in sockets:
        if sock.port != port or sock.state != wanted_state:
            continue
        if sock.proto.rstrip("6") != proto:
            continue
        try:
            addr = ipaddress.ip_address(sock.address or "")
        except ValueError:
            continue
        if addr == ip:
            exact = exact or sock
        elif addr.is_unspecified:
            if addr.version == ip.version or (ip.version == 4 and sock.v6only is False):
                wildcard = wildcard or sock
        elif ip.version == 4 and addr.version == 6 and addr.ipv4_mapped == ip:
            exact = exact or sock
    best = exact or wildcard
    return Found(best, "listening" if best else "none")


def proxy_of(processes: list[Any]) -> tuple[str, dict[str, str]] | None:
    """(what it is, its forwarding arguments) when a listener's process is a
    user-space proxy; docker-proxy says where it forwards on its command line."""
    for proc in processes:
        names = [proc.comm] + [a.rsplit("/", 1)[-1] for a in proc.cmdline[:1]]
        for name in names:
            if PROXIES.get(name):
                return f"{name} ({PROXIES[name]})", _proxy_args(proc.cmdline)
    return None


def _proxy_args(cmdline: list[str]) -> dict[str, str]:
    """docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip
    172.17.0.2 -container-port 80 -> {"container-ip": "172.17.0.2", ...}."""
    out: dict[str, str] = {}
    i = 0
    while i < len(cmdline):
        arg = cmdline[i]
        if arg.startswith("-") and i + 1 < len(cmdline) and not cmdline[i + 1].startswith("-"):
            out[arg.lstrip("-")] = cmdline[i + 1]
            i += 2
            continue
        if arg.startswith("-") and "=" in arg:
            key, _, value = arg.lstrip("-").partition("=")
            out[key] = value
        i += 1
    return out
