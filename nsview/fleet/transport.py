"""How a command reaches a node: the user's ssh, or kubectl. Each returns the argv
to run locally; the collector's zip goes to its stdin (nsview.fleet.bundle)."""

from __future__ import annotations

import json
import shlex
import subprocess

from nsview.errors import NsviewError
from nsview.fleet.bundle import BOOTSTRAP
from nsview.fleet.targets import KubeTarget, SshTarget

# The image `kubectl debug node/…` starts; the node's own python3 runs through
# `chroot /host`, so any small image with chroot will do (docs/fleet.md).
DEFAULT_DEBUG_IMAGE = "busybox:1.36"


def remote_command(sudo: bool, collector_args: tuple[str, ...] = ()) -> list[str]:
    argv = ["python3", "-c", BOOTSTRAP, *collector_args]
    return ["sudo", "-n", *argv] if sudo else argv


def ssh_argv(
    target: SshTarget,
    *,
    sudo: bool,
    connect_timeout: float,
    ssh: str = "ssh",
    config: str | None = None,
    collector_args: tuple[str, ...] = (),
) -> list[str]:
    # BatchMode: never ask for a password or a host key on a terminal nobody
    # watches; the user's ssh_config, keys, agent, jump hosts and ControlMaster
    # all still apply.
    options = ["-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(connect_timeout))}"]
    if config is not None:
        options = ["-F", config, *options]
    # ssh hands the remote command to the node's shell as one string.
    command = " ".join(shlex.quote(word) for word in remote_command(sudo, collector_args))
    return [ssh, *options, *target.ssh_destination(), command]


def kubectl_base(target: KubeTarget, kubectl: str = "kubectl") -> list[str]:
    return [kubectl, *(["--context", target.context] if target.context else [])]


def kube_nodes(target: KubeTarget, timeout: float, kubectl: str = "kubectl") -> list[str]:
    """The nodes to collect: those named in the target, else every node of the context."""
    if target.nodes:
        return list(target.nodes)
    argv = [*kubectl_base(target, kubectl), "get", "nodes", "-o", "json"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NsviewError(f"{target.text}: kubectl not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise NsviewError(
            f"{target.text}: kubectl get nodes timed out after {timeout:g} s"
        ) from None
    if done.returncode != 0:
        raise NsviewError(f"{target.text}: kubectl get nodes: {_last_line(done.stderr)}")
    try:
        items = json.loads(done.stdout).get("items", [])
        return [item["metadata"]["name"] for item in items]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise NsviewError(f"{target.text}: kubectl get nodes gave no node list") from None


def kubectl_argv(
    target: KubeTarget,
    node: str,
    *,
    image: str = DEFAULT_DEBUG_IMAGE,
    kubectl: str = "kubectl",
    collector_args: tuple[str, ...] = (),
) -> list[str]:
    # `kubectl debug node/N` runs a pod on N in the host's pid, network and ipc
    # namespaces with the node's root at /host; `--profile=sysadmin` makes it
    # privileged. chroot /host: the node's own python3 sees the host's /proc, /run
    # and /var/lib as a local collection does.
    return [
        *kubectl_base(target, kubectl),
        "debug",
        f"node/{node}",
        "--quiet",
        "-i",
        f"--image={image}",
        "--profile=sysadmin",
        "--",
        "chroot",
        "/host",
        *remote_command(False, collector_args),
    ]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


DAEMONSET_NAMESPACE = "nsview"
DAEMONSET_LABEL = "app=nsview-node"


def daemonset_pod(target: KubeTarget, node: str, timeout: float, kubectl: str = "kubectl") -> str:
    """The deploy/nsview-node.yaml pod running on ``node``."""
    argv = [
        *kubectl_base(target, kubectl),
        "-n",
        DAEMONSET_NAMESPACE,
        "get",
        "pods",
        "-l",
        DAEMONSET_LABEL,
        "--field-selector",
        f"spec.nodeName={node}",
        "-o",
        "json",
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NsviewError("kubectl not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise NsviewError(f"kubectl get pods timed out after {timeout:g} s") from None
    if done.returncode != 0:
        raise NsviewError(f"kubectl get pods: {_last_line(done.stderr)}")
    try:
        items = json.loads(done.stdout).get("items", [])
        running = [
            i["metadata"]["name"] for i in items if i.get("status", {}).get("phase") == "Running"
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise NsviewError("kubectl get pods gave no pod list") from None
    if not running:
        raise NsviewError(
            f"no running nsview-node pod on {node} (kubectl apply -f deploy/nsview-node.yaml)"
        )
    return running[0]


def kubectl_exec_argv(
    target: KubeTarget, pod: str, kubectl: str = "kubectl", collector_args: tuple[str, ...] = ()
) -> list[str]:
    return [
        *kubectl_base(target, kubectl),
        "-n",
        DAEMONSET_NAMESPACE,
        "exec",
        "-i",
        pod,
        "--",
        "chroot",
        "/host",
        *remote_command(False, collector_args),
    ]
