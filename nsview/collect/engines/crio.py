"""CRI-O, where it is cheap: each container's bundle, found by the cgroup's id.

CRI-O keeps its containers in containers/storage, as podman does, and writes
the same ``io.kubernetes.cri-o.*`` annotations into each bundle's
``userdata/config.json`` (under the graphroot's or the runroot's
``<driver>-containers/<id>/``):

- ``io.kubernetes.cri-o.ContainerType``: ``sandbox`` (the pod's infra/pause
  container, which owns its net/ipc/uts) or ``container``;
- ``io.kubernetes.cri-o.SandboxID``: the pod's sandbox container;
- ``io.kubernetes.cri-o.ImageName``; ``io.kubernetes.cri-o.Labels`` (JSON: the
  Kubernetes labels ``io.kubernetes.pod.name``, ``…pod.namespace``,
  ``…pod.uid``, ``io.kubernetes.container.name``).

Roots: ``/var/lib/containers/storage`` and ``/run/containers/storage``
(``NSVIEW_CRI_O_ROOTS`` or ``engine_roots["cri-o"]`` override). CRI-O is not
packaged for Debian 12, so this reader is tested on podman's bundles, which
share the ContainerType/SandboxID shape, not on a real CRI-O; the Kubernetes
labels part is read as CRI-O documents it. Networks come from CNI, by the
sandbox id.
"""

from __future__ import annotations

import json
import os
from typing import Any

from nsview.collect.engines import EngineContext, EngineResult, cni
from nsview.model.containers import Container, ContainerNetwork, PodRef

ENGINE = "cri-o"
DEFAULT_ROOTS = ["/var/lib/containers/storage", "/run/containers/storage"]
_A = "io.kubernetes.cri-o."


def read(ctx: EngineContext) -> EngineResult:
    found = ctx.found(ENGINE, "cri")
    if not found:
        return EngineResult([], [])
    roots = ctx.roots(ENGINE, [], DEFAULT_ROOTS)
    drivers = {root: _driver_dirs(root) for root in roots}
    cni_state = None
    containers = []
    for entry in found:
        for root in roots:
            bundle = next((f"{root}/{d}/{entry.id}/userdata/config.json" for d in drivers[root]
                           if os.path.exists(f"{root}/{d}/{entry.id}/userdata/config.json")), None)
            spec = ctx.read_json(bundle) if bundle else None
            if not isinstance(spec, dict):
                continue
            annotations = _dict(spec.get("annotations"))
            if _A + "ContainerType" not in annotations:
                continue  # a podman bundle (the same storage) or a CRI one of containerd
            container = describe(entry.id, bundle, annotations, spec)
            if cni_state is None:
                cni_state = cni.state_for(ctx)
            sandbox = container.pod.id if container.pod else None
            for attachment in cni_state.attachments.get(sandbox or "", []) if (
                    container.sandbox) else []:
                ip = attachment["ip"]
                if ip and attachment["prefixlen"]:
                    ip = f"{ip}/{attachment['prefixlen']}"
                container.networks.append(ContainerNetwork(
                    name=attachment["network"], interface=attachment["interface"], ip=ip,
                    mac=attachment["mac"], gateway=attachment["gateway"],
                    bridge=attachment["bridge"]))
                container.source.setdefault("networks", attachment["source"])
            if container.sandbox and container.networks and container.network_mode is None:
                container.network_mode = container.networks[0].name  # its CNI network
            containers.append(container)
            break
    return EngineResult(containers, [])


def _driver_dirs(root: str) -> list[str]:
    try:
        return sorted(e for e in os.listdir(root) if e.endswith("-containers"))
    except OSError:
        return []


def describe(cid: str, bundle: str, annotations: dict, spec: dict) -> Container:
    labels = _labels(annotations.get(_A + "Labels"))
    kind = annotations.get(_A + "ContainerType")
    sandbox_id = _str(annotations.get(_A + "SandboxID")) or (cid if kind == "sandbox" else None)
    container = Container(id=cid, engine=ENGINE, sandbox=kind == "sandbox", labels=labels)
    container.image = _str(annotations.get(_A + "ImageName"))
    pod_name = labels.get("io.kubernetes.pod.name")
    container.pod = PodRef(name=pod_name, namespace=labels.get("io.kubernetes.pod.namespace"),
                           uid=labels.get("io.kubernetes.pod.uid"), id=sandbox_id)
    container.name = (pod_name if container.sandbox
                      else labels.get("io.kubernetes.container.name")) or (
        _str(annotations.get(_A + "ContainerName")))
    for fact in ("name", "image", "pod", "labels", "network_mode"):
        container.source[fact] = bundle
    netns = next((_dict(ns) for ns in _list(_dict(spec.get("linux")).get("namespaces"))
                  if _dict(ns).get("type") == "network"), None)
    if netns is None:
        container.network_mode = "host"
    else:
        container.sandbox_key = _str(netns.get("path"))
        if not container.sandbox and sandbox_id:
            container.network_mode = "pod"
    return container


def _labels(raw: Any) -> dict[str, str]:
    try:
        value = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
