"""The cgroup path -> (engine, id) matcher, on the paths each engine writes."""

from __future__ import annotations

import pytest

from nsview.collect.engines.cgroups import match

ID = "4f78f02ede87054b556c46948a6bfbc338ea37c3545ca9a5746452dfacd31bd4"
POD = "6ff0cfd4" * 8
UID = "0d2c5a1e-3b4f-4c2d-9e8a-1f2b3c4d5e6f"


@pytest.mark.parametrize(
    ("path", "engine", "pod_id", "pod_uid", "namespace"),
    [
        (f"/docker/{ID}", "docker", None, None, None),
        (f"/system.slice/docker-{ID}.scope", "docker", None, None, None),
        (f"/machine.slice/libpod-{ID}.scope", "podman", None, None, None),
        (f"/libpod_parent/libpod-{ID}", "podman", None, None, None),
        (f"/libpod_parent/{POD}/libpod-{ID}", "podman", POD, None, None),
        (
            f"/machine.slice/machine-libpod_pod_{POD}.slice/libpod-{ID}.scope",
            "podman", POD, None, None,
        ),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
            f"{UID.replace('-', '_')}.slice/cri-containerd-{ID}.scope",
            "containerd", None, UID, None,
        ),
        (f"/system.slice/cri-containerd-{ID}.scope", "containerd", None, None, None),
        (
            f"/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/crio-{ID}.scope",
            "cri-o", None, UID, None,
        ),
        (f"/kubepods/burstable/pod{UID}/{ID}", "cri", None, UID, None),
        (f"/default/{ID}", "containerd", None, None, "default"),
        (f"/k8s.io/{ID}", "containerd", None, None, "k8s.io"),
        (f"/docker/{ID}/docker/{'c' * 64}", "docker", None, None, None),  # outermost
        (f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container",
         "podman", None, None, None),
    ],
)
def test_engine_paths(path, engine, pod_id, pod_uid, namespace):
    found = match(path)
    assert found is not None
    assert (found.engine, found.id, found.pod_id, found.pod_uid, found.namespace) == (
        engine, ID, pod_id, pod_uid, namespace,
    )


@pytest.mark.parametrize(
    "path",
    [
        None,
        "/",
        "/user.slice/user-1000.slice/session-2.scope",
        f"/machine.slice/libpod-conmon-{ID}.scope",  # the monitor, not the container
        f"/system.slice/crio-conmon-{ID}.scope",
        f"/system.slice/docker-{ID[:40]}.scope",  # not a full id
        f"/a/b/{ID}",  # three levels: not a containerd namespace
        f"/nsvtdocker/{ID}x",
        f"/libpod_parent/{ID}",  # a pod's directory, not a container
        f"/kubepods/burstable/podnotauid/{ID}",
    ],
)
def test_not_a_container(path):
    assert match(path) is None
