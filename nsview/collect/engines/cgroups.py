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

_HEX = frozenset("0123456789abcdef")
_UID_CHARS = frozenset("0123456789abcdef-_")
# scope/leaf prefixes -> engine: "docker-<id>.scope", "libpod-<id>", "crio-<id>.scope"
_PREFIXES = (("docker-", "docker"), ("libpod-", "podman"), ("cri-containerd-", "containerd"),
             ("crio-", "cri-o"))
# A bare "/<namespace>/<id>" is containerd's (ctr, nerdctl), unless the first part is one
# of these (their ids sit one level deeper, or the directory is only a pod's).
_NOT_NAMESPACES = frozenset({"docker", "kubepods", "libpod_parent", "machine.slice",
                             "system.slice", "user.slice"})


def _is_id(text: str) -> bool:
    return len(text) == 64 and _HEX.issuperset(text)


def _pod_uid(part: str) -> str | None:
    """The uid in "kubepods-burstable-pod<uid>.slice" or "pod<uid>" (dashes restored)."""
    name = part.removesuffix(".slice")
    at = name.rfind("pod")
    uid = name[at + 3 :] if at >= 0 else ""
    if 32 <= len(uid) <= 36 and _UID_CHARS.issuperset(uid):
        return uid.replace("_", "-")
    return None


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
    """The container ``path`` names, or None (most processes are in none).

    The parts are looked at from the top: the first (outermost) that names a
    container wins. No regular expressions: this runs for every process.
    """
    # Every container path holds a 64-hex id; most host paths are short and have none.
    if not path or len(path) < 65:
        return None
    parts = path.split("/")
    for i, part in enumerate(parts):
        name = part.removesuffix(".scope")
        for prefix, engine in _PREFIXES:
            if name.startswith(prefix) and _is_id(name[len(prefix) :]):
                return _described(engine, name[len(prefix) :], parts, i)
        if not _is_id(part):
            continue
        above = parts[i - 1] if i > 0 else ""
        if above == "docker":
            return CgroupMatch("docker", part)
        uid = _pod_uid(above) if above.startswith("pod") else None
        if uid and any(p.startswith("kubepods") for p in parts[: i - 1]):
            return CgroupMatch("cri", part, pod_uid=uid)
        if i == 2 and parts[0] == "" and above[:1].isalnum() and above not in _NOT_NAMESPACES:
            return CgroupMatch("containerd", part, namespace=above)
    return None


def _described(engine: str, cid: str, parts: list[str], i: int) -> CgroupMatch:
    """A match by prefix, with what the part above it says (the pod)."""
    above = parts[i - 1] if i > 0 else ""
    if engine == "podman":
        if above.startswith("machine-libpod_pod_") and above.endswith(".slice"):
            pod = above[len("machine-libpod_pod_") : -len(".slice")]
            if _is_id(pod):
                return CgroupMatch(engine, cid, pod_id=pod)
        if _is_id(above) and i >= 2 and parts[i - 2] == "libpod_parent":
            return CgroupMatch(engine, cid, pod_id=above)
        return CgroupMatch(engine, cid)
    if engine in ("containerd", "cri-o") and above.endswith(".slice"):
        return CgroupMatch(engine, cid, pod_uid=_pod_uid(above))
    return CgroupMatch(engine, cid)
