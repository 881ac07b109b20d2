"""Nodes for fleet tests and the lab: a "machine" made of namespaces, reachable by ssh.

A node has its own pid, mount, uts and network namespaces and its own /proc,
and runs a real OpenSSH ``sshd`` (Debian's openssh-server) as its PID 1, on its
underlay address, with a key made for it. Collecting the node over ssh sees
only the node: its processes (its /proc), its mounts (a private /run hides the
machine's ``ip netns`` names), its hostname.

When the node's PID 1 goes, the kernel kills everything else in its pid
namespace, so stopping a node leaves nothing of it behind.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nsview.errors import NsviewError

SSHD = "/usr/sbin/sshd"
READY_TIMEOUT = 15.0


@dataclass(slots=True)
class SshKeys:
    """A client key pair and a host key, all in ``directory``."""

    directory: str
    client_key: str  # private key file (public: .pub beside it)
    host_key: str

    @property
    def authorized_keys(self) -> str:
        return os.path.join(self.directory, "authorized_keys")


@dataclass(slots=True)
class SshNode:
    name: str  # also its hostname
    netns: str  # path of its network namespace
    address: str  # where sshd listens
    process: subprocess.Popen  # `unshare`, whose child is the node's PID 1

    @property
    def pid(self) -> int:
        return self.process.pid


def require_sshd() -> None:
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        raise NsviewError("nodes need OpenSSH: apt-get install openssh-server openssh-client")


def make_keys(directory: str) -> SshKeys:
    """A fresh ed25519 client key (authorised on every node) and host key."""
    require_sshd()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    client = os.path.join(directory, "id_ed25519")
    host = os.path.join(directory, "ssh_host_ed25519_key")
    for path, comment in ((client, "nsview-fleet-client"), (host, "nsview-node-host")):
        if not os.path.exists(path):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                check=True,
                capture_output=True,
            )
    keys = SshKeys(directory, client, host)
    Path(keys.authorized_keys).write_text(Path(client + ".pub").read_text())
    os.chmod(keys.authorized_keys, 0o600)
    return keys


def sshd_config(keys: SshKeys, address: str) -> str:
    return "\n".join(
        [
            f"ListenAddress {address}",
            "Port 22",
            f"HostKey {keys.host_key}",
            f"AuthorizedKeysFile {keys.authorized_keys}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PidFile none",
            "LogLevel ERROR",
            "",
        ]
    )


def node_script(name: str, config: str, keep: tuple[str, ...] = ()) -> str:
    """The node's PID 1: a private /run, its hostname, then sshd.

    The machine's mounts under /run (its `ip netns` names, Docker's netns files,
    the lab's state) are unmounted in the node's copy of the mount table — not
    only covered, so the node's mountinfo does not list them — and a fresh tmpfs
    takes /run, where sshd finds its privilege-separation dir. The nsfs files in
    ``keep`` (the node's own netns names) move into the new /run at the same
    paths: bound aside under a tmpfs on /mnt first, moved back after.
    """
    lines = ["set -e", "mount -t tmpfs -o mode=0700 nsvkeep /mnt"]
    for i, path in enumerate(keep):
        make = "mkdir" if os.path.isdir(path) else "touch"
        lines += [f"{make} /mnt/{i}", f"mount --bind {shlex.quote(path)} /mnt/{i}"]
    lines += [
        # "|| true": a stacked mount, or one gone with its parent, fails to unmount
        "awk '$5 ~ \"^/run/\" {print $5}' /proc/self/mountinfo | sort -r | "
        "xargs -r -n1 umount -l || true",
        "mount -t tmpfs -o mode=0755 nsvnode /run",
        "mkdir -p /run/sshd",
    ]
    for i, path in enumerate(keep):
        quoted = shlex.quote(path)
        make = "mkdir -p" if os.path.isdir(path) else "touch"
        lines += [
            f"mkdir -p {shlex.quote(os.path.dirname(path))}",
            f"{make} {quoted}",
            f"mount --move /mnt/{i} {quoted}",
        ]
    lines += ["umount /mnt", f"hostname {shlex.quote(name)}", f"exec {SSHD} -D -e -f {config}"]
    return "\n".join(lines)


def start_node(
    name: str,
    netns: str,
    address: str,
    keys: SshKeys,
    *,
    keep: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> SshNode:
    """Start the node in ``netns`` (a path), wait until its sshd listens.

    ``keep``: nsfs files (or directories) under /run the node still sees (see
    node_script); the node's own ssh files must be among them when they are
    under /run;
    ``env``: extra environment of its PID 1 (the lab marks its processes so).
    """
    require_sshd()
    config = os.path.join(keys.directory, f"sshd_config.{name}")
    Path(config).write_text(sshd_config(keys, address))
    argv = [
        "nsenter",
        f"--net={netns}",
        "--",
        "unshare",
        "--pid",
        "--mount",
        "--uts",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "--",
        "/bin/sh",
        "-c",
        node_script(name, config, keep),
    ]
    log = open(os.path.join(keys.directory, f"sshd.{name}.log"), "ab")  # noqa: SIM115
    with log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    node = SshNode(name, netns, address, process)
    try:
        _wait_listening(node)
    except BaseException:
        stop_node(node)
        raise
    return node


def node_init_pid(node: SshNode) -> int | None:
    """The node's PID 1 as this machine numbers it (the child of ``unshare``)."""
    try:
        with open(f"/proc/{node.pid}/task/{node.pid}/children", encoding="ascii") as f:
            children = f.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _wait_listening(node: SshNode) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise NsviewError(
                f"node {node.name}: sshd exited with status {node.process.returncode}"
            )
        done = subprocess.run(
            ["nsenter", f"--net={node.netns}", "--", "ss", "-Hltn", f"src {node.address}:22"],
            capture_output=True,
            text=True,
        )
        if done.stdout.strip():
            return
        time.sleep(0.1)
    raise NsviewError(f"node {node.name}: sshd did not listen on {node.address}:22 in time")


def stop_node(node: SshNode, timeout: float = 10.0) -> None:
    """End the node: its PID 1 first (the kernel ends the rest), then ``unshare``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.process.pid, signal.SIGTERM)  # --kill-child: PID 1 gets SIGKILL
    try:
        node.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=timeout)


def ssh_config(keys: SshKeys, aliases: dict[str, str], path: str) -> str:
    """An ssh_config naming each node (``Host ALIAS``) with the lab key, written to path."""
    known = os.path.join(keys.directory, "known_hosts")
    lines = []
    for alias, address in aliases.items():
        lines += [f"Host {alias}", f"    HostName {address}", ""]
    # Every host (aliases and plain addresses alike) with the node key.
    lines += [
        "Host *",
        "    User root",
        f"    IdentityFile {keys.client_key}",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {known}",
        "    StrictHostKeyChecking accept-new",
        "    LogLevel ERROR",
        "",
    ]
    Path(path).write_text("\n".join(lines))
    return path
