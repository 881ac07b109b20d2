"""A real dockerd for the tests, inside a network namespace the test made.

Everything it makes stays the test's: its bridges and iptables rules live in
the netns ``nsvtdk…``; its data root, exec root, socket and pidfile are under
``/tmp/nsvtdk…``; its containerd namespaces are ``nsvtdk…``; its mounts live in
a mount namespace of its own (a slave of the host's: the host's mounts reach
it, its overlay and netns mounts do not leak out), which also gets a sysfs of
that netns (``ip netns exec`` does that too, but its fresh /sys hides the
cgroup mounts dockerd needs: "Devices cgroup isn't mounted"). Address pools
come from 198.18.0.0/15. Only one engine test session runs at a time on a
machine: the fixture holds ``/tmp/nsview-engines.lock`` throughout.

Teardown removes the containers, the networks, the daemon (TERM, then KILL),
anything left in its netns, its directories and the netns itself, even when a
test failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run, unique
from tests.engines_util import ENGINES_LOCK

IMAGE = "nsvt-busybox:1"
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "sleep", "ip", "nc", "httpd", "ls", "cat", "ifconfig", "hostname")


class DockerDaemon:
    def __init__(self, name: str) -> None:
        self.name = name
        self.base = Path("/tmp") / name
        self.data_root = self.base / "data"
        self.exec_root = self.base / "exec"
        self.socket = self.base / "docker.sock"
        self.pidfile = self.base / "docker.pid"
        self.log = self.base / "dockerd.log"
        self.netns = name
        self.process: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}

    @property
    def pid(self) -> int:
        return int(self.pidfile.read_text())

    def docker(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, env=self.env, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout.strip()

    def inspect(self, name: str) -> dict:
        return json.loads(self.docker("inspect", name))[0]

    def netns_inode(self) -> int:
        return os.stat(f"/run/netns/{self.netns}").st_ino

    def start(self) -> None:
        self.base.mkdir()
        run("ip", "netns", "add", self.netns)
        run("ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up")
        cgroups = self.base / "cgroup"
        script = (
            f"mkdir -p {cgroups} && mount --rbind /sys/fs/cgroup {cgroups} && "
            f"mount -t sysfs sysfs /sys && mount --rbind {cgroups} /sys/fs/cgroup && "
            f"umount -l {cgroups} && exec dockerd"
            f" --data-root {self.data_root} --exec-root {self.exec_root}"
            f" -H unix://{self.socket} --pidfile {self.pidfile}"
            " --bip 198.18.200.1/24 --default-address-pool base=198.18.128.0/17,size=24"
            f" --containerd-namespace {self.name} --containerd-plugins-namespace {self.name}p"
        )
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self.netns}", "unshare", "-m",
                 "--propagation", "slave", "sh", "-c", script],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd exited ({self.process.returncode}): {self.log_tail()}")
            ok = subprocess.run(["docker", "version"], capture_output=True, env=self.env)
            if ok.returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError(f"dockerd did not answer within 90s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        errors = [line for line in text if "level=error" in line or "level=fatal" in line]
        return " | ".join((errors or text)[-lines:])

    def import_image(self) -> None:
        rootfs = self.base / "rootfs.tar"
        with tarfile.open(rootfs, "w") as tar:
            tar.add(BUSYBOX, arcname="bin/busybox")
            for applet in APPLETS:
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type = tarfile.SYMTYPE
                info.linkname = "busybox"
                tar.addfile(info)
        subprocess.run(
            ["docker", "import", str(rootfs), IMAGE], check=True, capture_output=True,
            env=self.env,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(Exception):
                ids = self.docker("ps", "-aq", check=False).split()
                if ids:
                    self.docker("rm", "-f", *ids, check=False)
                self.docker("network", "prune", "-f", check=False)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # Whatever it left in its netns (shims, docker-proxy), then its files and the netns.
        left = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True)
        for pid in left.stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        _remove_empty_cgroups("docker")


def _unmount_under(base: Path) -> None:
    """Lazily unmount anything still mounted below ``base`` in our mount namespace."""
    prefix = f"{base}/"
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _remove_empty_cgroups(name: str) -> None:
    """The ``/docker`` cgroup dockerd made in each hierarchy, when empty (rmdir
    refuses a cgroup that still has processes or children: another daemon's)."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        with contextlib.suppress(OSError):
            (hierarchy / name).rmdir()


@contextlib.contextmanager
def engines_turn() -> Iterator[None]:
    with open(ENGINES_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def docker_daemon_fixture() -> Iterator[DockerDaemon]:
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        if os.environ.get("CI"):
            pytest.fail("dockerd is not installed (README's test command installs docker.io)")
        pytest.skip("dockerd is not installed (apt-get install docker.io)")
    with engines_turn():
        daemon = DockerDaemon(unique("dk"))
        try:
            daemon.start()
            daemon.import_image()
            yield daemon
        finally:
            daemon.stop()
