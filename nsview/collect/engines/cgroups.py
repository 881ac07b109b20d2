"""Which container a cgroup path names: (engine, container id, and what the path adds).

The engines put each container's processes in a cgroup named after the
container; the path alone says the engine and the id (and, for podman pods and
Kubernetes, the pod), with no engine state read yet:

=======================================================  ==========  ==========
path (the part that matters)                             engine      adds
=======================================================  ==========  ==========
``/docker/<id>``, ``docker-<id>.scope``                  docker
``libpod-<id>.scope``, ``/libpod_parent/libpod-<id>``    podman
``/libpod_parent/<pod id>/libpod-<id>``                  podman      pod id
``machine-libpod_pod_<pod id>.slice/libpod-<id>.scope``  podman      pod id
``cri-containerd-<id>.scope``                            containerd  pod uid
``crio-<id>.scope``                                      cri-o       pod uid
``/kubepods/<qos>/pod<uid>/<id>`` (cgroupfs driver)      cri         pod uid
``/<namespace>/<id>`` (``ctr run``, nerdctl)             containerd  namespace
=======================================================  ==========  ==========

``cri`` is a Kubernetes container whose runtime the path does not name: the
containerd and CRI-O readers both look for it. Monitors that sit beside a
container (``libpod-conmon-<id>.scope``, ``crio-conmon-<id>.scope``) are not
the container. Nested engines (Docker in Docker) match the outermost container:
that is the one this host's engine knows.
"""

from __future__ import annotations

import re

_ID = r"(?P<id>[0-9a-f]{64})"
_POD_UID = r"pod(?P<uid>[0-9a-f_-]{32,36})"

# (engine, pattern), tried in order; the first that matches anywhere in the path wins.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (engine, re.compile(pattern))
    for engine, pattern in (
        ("docker", rf"(?:^|/)docker[-/]{_ID}(?:\.scope)?(?:/|$)"),
        ("podman", rf"libpod_pod_(?P<pod>[0-9a-f]{{64}})\.slice/libpod-{_ID}\.scope(?:/|$)"),
        ("podman", rf"/libpod_parent/(?P<pod>[0-9a-f]{{64}})/libpod-{_ID}(?:/|$)"),
        ("podman", rf"(?:^|/)libpod-{_ID}(?:\.scope)?(?:/|$)"),
        ("containerd", rf"{_POD_UID}\.slice/cri-containerd-{_ID}\.scope(?:/|$)"),
        ("containerd", rf"(?:^|/)cri-containerd-{_ID}\.scope(?:/|$)"),
        ("cri-o", rf"{_POD_UID}\.slice/crio-{_ID}\.scope(?:/|$)"),
        ("cri-o", rf"(?:^|/)crio-{_ID}\.scope(?:/|$)"),
        ("cri", rf"/kubepods(?:/[a-z]+)?/{_POD_UID}/{_ID}(?:/|$)"),
        ("containerd", rf"^/(?P<ns>[A-Za-z0-9][A-Za-z0-9._-]*)/{_ID}(?:/|$)"),
    )
)


class CgroupMatch:
    """What a cgroup path says about its container."""

    __slots__ = ("engine", "id", "namespace", "pod_id", "pod_uid")

    def __init__(
        self,
        engine: str,
        cid: str,
        pod_id: str | None = None,
        pod_uid: str | None = None,
        namespace: str | None = None,
    ) -> None:
        self.engine = engine
        self.id = cid
        self.pod_id = pod_id  # podman: the pod's id
        self.pod_uid = pod_uid  # Kubernetes: the pod's uid, with dashes
        self.namespace = namespace  # containerd: the namespace ("default", "k8s.io")

    def __repr__(self) -> str:
        return f"CgroupMatch({self.engine!r}, {self.id[:12]!r})"


def match(path: str | None) -> CgroupMatch | None:
    """The container ``path`` names, or None (most processes are in none)."""
    # Every container path holds a 64-hex id; most host paths are short and have none.
    if not path or len(path) < 65:
        return None
    for engine, pattern in _PATTERNS:
        found = pattern.search(path)
        if found is None:
            continue
        groups = found.groupdict()
        uid = groups.get("uid")
        return CgroupMatch(
            engine,
            groups["id"],
            pod_id=groups.get("pod"),
            pod_uid=uid.replace("_", "-") if uid else None,
            namespace=groups.get("ns"),
        )
    return None
