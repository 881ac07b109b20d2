"""What a name a user typed means in a snapshot: a container, a pod or a named netns.

One definition for every place that takes a TARGET (``nsview net``,
``nsview exec --target``, the TUI's filter): tried in this order,

1. ``pod/NAME``: the pod called NAME (in any Kubernetes namespace);
2. a container's name (``web``);
3. ``NAMESPACE/POD``: that Kubernetes pod;
4. a netns name from a bind mount (``ip netns``, Docker's sandbox ids);
5. a pod's name alone;
6. a unique prefix of a container id (``4f78f02e``).

A pod stands for its sandbox (pause/infra) container, which holds the pod's
net, ipc and uts namespaces. Several matches at one step, or none at all, is a
:class:`TargetError` whose message says what was tried and, for an unknown
name, the closest known names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from nsview.model.core import Namespace, Snapshot

MIN_ID_PREFIX = 3
MAX_LISTED = 6


class TargetError(ValueError):
    """A name that matches nothing or several things (the message is one line)."""


@dataclass(frozen=True, slots=True)
class NameMatch:
    kind: str  # "container" | "pod" | "netns"
    what: str  # for messages: "container web", "pod default/web-7f9c", "netns 5f3f3ca47933"
    container: object | None = None  # model.containers.Container (a pod's: its sandbox)
    namespace: Namespace | None = None  # kind "netns"

    def netns_inode(self) -> int | None:
        if self.namespace is not None:
            return self.namespace.inode
        return self.container.ns.get("net") if self.container is not None else None

    @property
    def pid(self) -> int | None:
        return self.container.main_pid if self.container is not None else None


def pod_title(pod) -> str:
    """ "default/web-7f9c" (Kubernetes) or "web" (a podman pod)."""
    if pod.namespace:
        return f"{pod.namespace}/{pod.name}"
    return pod.name or (pod.id or "?")[:12]


def container_title(container) -> str:
    """How a container is named: its name, else its short id; a sandbox is its pod."""
    if container.sandbox and container.pod is not None:
        return f"pod {pod_title(container.pod)}"
    return container.name or container.id[:12]


def find_name(snapshot: Snapshot, spec: str) -> NameMatch:
    """The container, pod or netns ``spec`` names (see the module docstring)."""
    containers = snapshot.containers
    if spec.startswith("pod/") and len(spec) > 4:
        found = _pods(containers, lambda pod: pod.name == spec[4:])
        if found:
            return _one(spec, found)
    named = [c for c in containers if c.name == spec]
    if named:
        return _one(spec, [_container_match(c) for c in named])
    if "/" in spec:
        ns_name, _, pod_name = spec.partition("/")
        found = _pods(containers, lambda pod: pod.namespace == ns_name and pod.name == pod_name)
        if found:
            return _one(spec, found)
    netns = [ns for ns in snapshot.namespaces if ns.type == "net" and spec in ns.names]
    if netns:
        return _one(spec, [NameMatch("netns", f"netns {spec}", namespace=ns) for ns in netns])
    found = _pods(containers, lambda pod: pod.name == spec)
    if found:
        return _one(spec, found)
    lowered = spec.lower()
    if len(spec) >= MIN_ID_PREFIX and all(ch in "0123456789abcdef" for ch in lowered):
        by_id = [c for c in containers if c.id.startswith(lowered)]
        if by_id:
            return _one(spec, [_container_match(c) for c in by_id])
    raise TargetError(_unknown(snapshot, spec))


def _container_match(container) -> NameMatch:
    return NameMatch("container", f"container {container_title(container)}", container=container)


def _pods(containers, wanted) -> list[NameMatch]:
    """One match per pod that ``wanted(pod)``, standing for its sandbox (else a member)."""
    pods: dict[tuple, NameMatch] = {}
    for container in sorted(containers, key=lambda c: not c.sandbox):
        pod = container.pod
        if pod is None or not wanted(pod):
            continue
        key = (container.engine, pod.namespace, pod.name, pod.uid or pod.id)
        pods.setdefault(key, NameMatch("pod", f"pod {pod_title(pod)}", container=container))
    return list(pods.values())


def _one(spec: str, found: list[NameMatch]) -> NameMatch:
    if len(found) == 1:
        return found[0]
    listed = ", ".join(_describe(m) for m in found[:MAX_LISTED])
    more = ", …" if len(found) > MAX_LISTED else ""
    raise TargetError(f"{spec!r} matches {len(found)} things: {listed}{more}; give an id")


def _describe(match: NameMatch) -> str:
    if match.container is not None:
        return f"{match.what} ({match.container.engine} {match.container.id[:12]})"
    return f"{match.what} (net:[{match.namespace.inode}])"


def known_names(snapshot: Snapshot) -> list[str]:
    names: list[str] = []
    for container in snapshot.containers:
        if container.name:
            names.append(container.name)
        if container.pod is not None and container.pod.name:
            names.append(f"pod/{container.pod.name}")
            if container.pod.namespace:
                names.append(pod_title(container.pod))
    names += [n for ns in snapshot.namespaces if ns.type == "net" for n in ns.names]
    return list(dict.fromkeys(names))


def _unknown(snapshot: Snapshot, spec: str) -> str:
    tried = "container names, pod/NAME, NAMESPACE/POD, netns names and container id prefixes"
    names = known_names(snapshot)
    close = [n for n in names if spec.lower() in n.lower()]
    close += difflib.get_close_matches(spec, names, n=MAX_LISTED, cutoff=0.5)
    close = list(dict.fromkeys(close))[:MAX_LISTED]
    hint = f"; close: {', '.join(close)}" if close else ""
    return f"nothing named {spec!r} (tried {tried}){hint}"
