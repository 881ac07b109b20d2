"""Real podman and containerd for the tests, each with its OWN state and a
network namespace the test made, so nothing they do touches the host's own
engines, bridges or firewall.

- ``rootful_podman()``: podman 4 with ``--root``/``--runroot`` in a temp dir, a
  test ``containers.conf`` (cgroupfs, file events, ``default_ulimits`` below the
  hard limit: this VM has no CAP_SYS_RESOURCE, so runc fails to raise them) and
  ``storage.conf``, netavark with a network config dir of its own. Every podman
  command runs with ``nsenter --net=<test netns>`` (podman is daemonless); not
  ``ip netns exec``, whose private mount namespace would hide podman's netns
  bind mounts and overlay mounts from the next command.
- ``rootless_podman()``: a test user (made and removed here, with subuid/subgid
  from useradd), slirp4netns; ``/dev/net/tun`` is 0600 on this VM, so it is
  opened to everyone for the fixture's life and restored after.
- ``containerd_daemon()``: ``containerd`` with its own config (root, state,
  socket) in a test netns, under ``flock /tmp/nsview-engines.lock`` (its shims
  still use /run/containerd/{s,runc,fifo}); ``ctr run --cni`` sees a test CNI
  conf dir through a private mount namespace bound over /etc/cni/net.d, and the
  plugins of /usr/lib/cni as /opt/cni/bin.

Images are built from busybox-static (no registry here). Teardown removes
everything even when the test failed: containers, leftover processes (by pid),
mounts under the temp dirs, the CNI IPAM and cache entries of our networks, the
netns, the user.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import pwd
import random
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .conftest import run, unique

ENGINES_LOCK = "/tmp/nsview-engines.lock"
TUN_LOCK = "/tmp/nsview-tun.lock"
PODMAN_LOCK = "/tmp/nsview-podman.lock"
PODMAN_RUN = Path("/run/containers")  # netavark's run dir (rootful), whatever --runroot says
BUSYBOX = "/usr/bin/busybox"
IMAGE = "localhost/nsvtbusybox:latest"
APPLETS = ("sh", "sleep", "httpd", "ip", "cat", "ls", "ps", "true")


def _subnet() -> str:
    """A /24 in 198.18.0.0/15 (each engine lives in its own netns, so two tests
    picking the same one do not clash; random keeps failures easier to read)."""
    return f"198.18.{random.randrange(100, 250)}.0/24"


_HELD: dict[str, list] = {}  # path -> [open file, depth]: this process's own turns


@contextlib.contextmanager
def flocked(path: str) -> Iterator[None]:
    """An exclusive flock on ``path``, re-entrant within this process (a
    module-scoped fixture holds it while a test in the module takes it again;
    a second open file's flock would wait for the first forever)."""
    held = _HELD.get(path)
    if held is not None:
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
        return
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _HELD[path] = [lock, 1]
        try:
            yield
        finally:
            del _HELD[path]
            fcntl.flock(lock, fcntl.LOCK_UN)


def busybox_rootfs(dest: Path) -> Path:
    """A root file system of busybox-static and a few applet links."""
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    for applet in APPLETS:
        (dest / "bin" / applet).symlink_to("busybox")
    for d in ("etc", "proc", "sys", "dev", "tmp", "run"):
        (dest / d).mkdir()
    return dest


def _tar_bytes(rootfs: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(rootfs), arcname=".")
    return buf.getvalue()


def oci_archive(rootfs: Path, dest: Path, ref: str = IMAGE,
                cmd: list[str] | None = None) -> Path:
    """An OCI image layout tarball of ``rootfs`` for ``ctr image import``."""
    layer = _tar_bytes(rootfs)

    def digest(blob: bytes) -> str:
        return "sha256:" + hashlib.sha256(blob).hexdigest()

    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer), "size": len(layer)}],
    }).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest(manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": ref,
                        "io.containerd.image.name": ref},
    }]}).encode()
    with tarfile.open(dest, "w") as tar:
        def add(name: str, blob: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for blob in (layer, config, manifest):
            add("blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob)
    return dest


# ---- shared teardown helpers -------------------------------------------------


def _pids_matching(predicate) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if predicate(int(entry)):
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def _cmdline_mentions(pid: int, needle: str) -> bool:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return needle.encode() in f.read()


def _owned_by(pid: int, uid: int) -> bool:
    return os.stat(f"/proc/{pid}").st_uid == uid


def kill_pids(pids: list[int]) -> None:
    """SIGKILL each pid (ours: found by our temp dir, socket or test user) and
    wait, boundedly, until they are gone or zombies."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] in "ZX":
                        break
            except OSError:
                break
            time.sleep(0.05)


def umount_under(*roots: str) -> None:
    """Unmount (lazily, deepest first) whatever is mounted under ``roots``."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if any(point == r or point.startswith(r.rstrip("/") + "/") for r in roots):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _netns(stem: str) -> str:
    name = unique(stem)
    run("ip", "netns", "add", name)
    run("ip", "-n", name, "link", "set", "lo", "up")
    return name


def _del_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


# ---- rootful podman ----------------------------------------------------------


CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile={soft}:{soft}", "nproc=4096:4096"]
[network]
network_backend = "netavark"
network_config_dir = "{base}/networks"
default_subnet = "{subnet}"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{base}/events.log"
tmp_dir = "{base}/tmp"
volume_path = "{base}/volumes"
runtime = "runc"
"""

STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{base}/root"
runroot = "{base}/runroot"
"""


def _nofile_below_hard() -> int:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(1024, hard)


@dataclass
class Podman:
    """One podman installation: ``podman(...)`` runs a podman command in it."""

    base: Path
    netns: str
    user: str | None = None  # rootless: run as this user
    home: Path | None = None
    uid: int = 0
    networks: list[str] = field(default_factory=list)

    @property
    def graphroot(self) -> Path:
        if self.home is not None:
            return self.home / ".local/share/containers/storage"
        return self.base / "root"

    @property
    def runroot(self) -> Path:
        return Path(f"/run/user/{self.uid}/containers") if self.user else self.base / "runroot"

    def argv(self, *args: str) -> list[str]:
        argv = ["nsenter", f"--net=/run/netns/{self.netns}"]
        if self.user:
            argv += ["runuser", "-u", self.user, "--", "env",
                     f"XDG_RUNTIME_DIR=/run/user/{self.uid}", f"HOME={self.home}"]
            return [*argv, "podman", *args]
        return [*argv, "podman", "--root", str(self.graphroot), "--runroot",
                str(self.runroot), *args]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if not self.user:
            env["CONTAINERS_CONF"] = str(self.base / "containers.conf")
            env["CONTAINERS_STORAGE_CONF"] = str(self.base / "storage.conf")
        return env

    def __call__(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True,
                              env=self.env(), cwd="/", **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}): "
                                 f"{proc.stderr.strip()}")
        return proc

    def import_busybox(self) -> None:
        rootfs = busybox_rootfs(Path(tempfile.mkdtemp(prefix="nsvtrootfs")))
        try:
            data = _tar_bytes(rootfs)
            proc = subprocess.run(self.argv("import", "-", IMAGE), input=data,
                                  capture_output=True, env=self.env(), cwd="/")
            if proc.returncode != 0:
                raise AssertionError(f"podman import failed: {proc.stderr.decode().strip()}")
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)

    def network(self, subnet: str | None = None) -> str:
        """A bridge network of our own (no DNS: aardvark-dns would be one more
        daemon shared through /run/containers/networks)."""
        name = unique("net")
        self("network", "create", "--disable-dns", "--subnet", subnet or _subnet(), name)
        self.networks.append(name)
        return name

    def inspect(self, name: str) -> dict:
        return json.loads(self("inspect", name).stdout)[0]

    def pid(self, name: str) -> int:
        return int(self("inspect", "--format", "{{.State.Pid}}", name).stdout)

    def teardown(self) -> None:
        self("pod", "rm", "-a", "-f", "-t", "0", check=False)
        self("rm", "-a", "-f", "-t", "0", check=False)
        for name in self.networks:
            self("network", "rm", "-f", name, check=False)


@contextlib.contextmanager
def rootful_podman() -> Iterator[Podman]:
    """Under ``flock /tmp/nsview-podman.lock``: netavark keeps its IPAM and locks in
    /run/containers/networks whatever the roots, removed afterwards when this
    fixture made it."""
    with flocked(PODMAN_LOCK):
        had_run_dir = PODMAN_RUN.exists()
        try:
            with _rootful_podman() as podman:
                yield podman
        finally:
            if not had_run_dir:
                shutil.rmtree(PODMAN_RUN, ignore_errors=True)


@contextlib.contextmanager
def _rootful_podman() -> Iterator[Podman]:
    base = Path(tempfile.mkdtemp(prefix="nsvtpodman"))
    netns = _netns("pd")
    podman = Podman(base=base, netns=netns)
    try:
        for d in ("root", "runroot", "tmp", "networks", "volumes"):
            (base / d).mkdir()
        (base / "containers.conf").write_text(CONTAINERS_CONF.format(
            base=base, subnet=_subnet(), soft=_nofile_below_hard()))
        (base / "storage.conf").write_text(STORAGE_CONF.format(base=base))
        podman.import_busybox()
        yield podman
    finally:
        try:
            podman.teardown()
        finally:
            kill_pids(_pids_matching(lambda pid: _cmdline_mentions(pid, str(base))))
            umount_under(str(base))
            _del_netns(netns)
            shutil.rmtree(base, ignore_errors=True)


# ---- rootless podman ---------------------------------------------------------


ROOTLESS_CONF = """\
[containers]
default_ulimits = ["nofile={soft}:{soft}", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""


@contextlib.contextmanager
def _tun_open_to_all() -> Iterator[None]:
    """/dev/net/tun is 0600 here; slirp4netns, run as the test user, opens it."""
    with flocked(TUN_LOCK):
        mode = os.stat("/dev/net/tun").st_mode & 0o7777
        os.chmod("/dev/net/tun", 0o666)
        try:
            yield
        finally:
            os.chmod("/dev/net/tun", mode)


@contextlib.contextmanager
def rootless_podman() -> Iterator[Podman]:
    user = unique("u")
    base = Path(tempfile.mkdtemp(prefix="nsvtrootless"))
    netns = _netns("rl")
    made_user = False
    uid = -1
    try:
        with _tun_open_to_all():
            run("useradd", "--create-home", "--shell", "/bin/sh", user)
            made_user = True
            entry = pwd.getpwnam(user)
            uid, home = entry.pw_uid, Path(entry.pw_dir)
            runtime_dir = Path(f"/run/user/{uid}")
            runtime_dir.mkdir(parents=True, exist_ok=True)
            os.chown(runtime_dir, uid, entry.pw_gid)
            runtime_dir.chmod(0o700)
            conf_dir = home / ".config" / "containers"
            conf_dir.mkdir(parents=True)
            (conf_dir / "containers.conf").write_text(
                ROOTLESS_CONF.format(soft=_nofile_below_hard()))
            for path in (home / ".config", conf_dir, conf_dir / "containers.conf"):
                os.chown(path, uid, entry.pw_gid)
            podman = Podman(base=base, netns=netns, user=user, home=home, uid=uid)
            podman.import_busybox()
            try:
                yield podman
            finally:
                podman.teardown()
    finally:
        if uid >= 0:
            kill_pids(_pids_matching(lambda pid: _owned_by(pid, uid)))
            umount_under(f"/run/user/{uid}", f"/home/{user}")
            shutil.rmtree(f"/run/user/{uid}", ignore_errors=True)
        if made_user:
            subprocess.run(["userdel", "--remove", user], capture_output=True)
        _del_netns(netns)
        shutil.rmtree(base, ignore_errors=True)


# ---- containerd --------------------------------------------------------------


CONTAINERD_CONF = """\
version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = [{cri_off}"io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{base}/containerd.sock"
[ttrpc]
  address = "{base}/containerd.sock.ttrpc"
[debug]
  address = "{base}/debug.sock"
"""

# The CRI plugin, as a kubelet would find it: its pause image is our busybox
# (no registry here), CNI from the test's conf dir and /usr/lib/cni, pod
# netns files under the state dir.
CRI_CONF = """\
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  netns_mounts_under_state_dir = true
  # no CAP_SYS_RESOURCE here: the pause container cannot get a lower OOM score
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{base}/cni"
    max_conf_num = 1
"""
PAUSE_IMAGE = "localhost/nsvtpause:latest"
CRI_NAMESPACE = "k8s.io"

CNI_CONFLIST = {
    "cniVersion": "1.0.0",
    "plugins": [
        {"type": "bridge", "isGateway": True, "ipMasq": True,
         "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}

CNI_STATE = Path("/var/lib/cni")
CONTAINERD_RUN = Path("/run/containerd")


@dataclass
class Containerd:
    base: Path
    netns: str
    namespace: str
    cni_networks: list[str] = field(default_factory=list)
    cri_sandboxes: list[str] = field(default_factory=list)
    cgroup_tops: list[str] = field(default_factory=list)  # removed in every hierarchy

    @property
    def address(self) -> str:
        return str(self.base / "containerd.sock")

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def cni_conf_dir(self) -> Path:
        return self.base / "cni"

    def ctr(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        argv = ["nsenter", f"--net=/run/netns/{self.netns}", "ctr", "-a", self.address,
                "-n", self.namespace, *args]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd="/", **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed ({proc.returncode}): "
                                 f"{proc.stderr.strip()}")
        return proc

    def cni_network(self, subnet: str | None = None) -> tuple[str, str, str]:
        """Write a bridge conflist of our own; (network name, bridge, subnet)."""
        name = unique("cni")
        bridge = unique("cb")
        subnet = subnet or _subnet()
        conf = json.loads(json.dumps(CNI_CONFLIST))
        conf["name"] = name
        conf["plugins"][0]["bridge"] = bridge
        conf["plugins"][0]["ipam"]["ranges"] = [[{"subnet": subnet}]]
        self.cni_conf_dir.mkdir(exist_ok=True)
        (self.cni_conf_dir / f"10-{name}.conflist").write_text(json.dumps(conf))
        self.cni_networks.append(name)
        return name, bridge, subnet

    def run_cni(self, container_id: str, *argv: str) -> None:
        """``ctr run -d --cni`` with our conf dir seen as /etc/cni/net.d (ctr 1.6
        reads only the default CNI dirs)."""
        script = (
            f"mount --bind {self.cni_conf_dir} /etc/cni/net.d && "
            "mount -t tmpfs nsvtopt /opt && mkdir -p /opt/cni/bin && "
            "mount --bind /usr/lib/cni /opt/cni/bin && "
            'exec ctr -a "$0" -n "$1" run -d --cni "$2" "$3" "${@:4}"'
        )
        argv = ["nsenter", f"--net=/run/netns/{self.netns}", "unshare", "--mount",
                "--propagation", "private", "bash", "-c", script, self.address,
                self.namespace, IMAGE, container_id, *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd="/")
        if proc.returncode != 0:
            raise AssertionError(f"ctr run --cni failed ({proc.returncode}): "
                                 f"{proc.stderr.strip()}")

    def cri(self):
        """(runtime stub, api_pb2) for the CRI plugin on our socket (the test
        extra container-runtime-interface-api has the generated CRI v1 code)."""
        import grpc
        from cri_api.v1 import api_pb2, api_pb2_grpc

        channel = grpc.insecure_channel(f"unix://{self.address}")
        return api_pb2_grpc.RuntimeServiceStub(channel), api_pb2

    def cri_pod(self, name: str, namespace: str, uid: str, containers: dict[str, list[str]],
                cgroup_top: str) -> tuple[str, dict[str, str]]:
        """A pod the way a kubelet makes one: RunPodSandbox (pause container, CNI),
        then each container created in it and started. (sandbox id, name -> id)"""
        runtime, pb = self.cri()
        self.cgroup_tops.append(cgroup_top)
        cgroup_parent = f"/{cgroup_top}/kubepods/besteffort/pod{uid}"
        logs = self.base / "pods" / uid
        logs.mkdir(parents=True)
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace),
            hostname=name, log_directory=str(logs),
            linux=pb.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent))
        sandbox = runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config),
                                        timeout=60).pod_sandbox_id
        self.cri_sandboxes.append(sandbox)
        ids = {}
        for cname, argv in containers.items():
            created = runtime.CreateContainer(pb.CreateContainerRequest(
                pod_sandbox_id=sandbox, sandbox_config=config,
                config=pb.ContainerConfig(
                    metadata=pb.ContainerMetadata(name=cname), image=pb.ImageSpec(image=IMAGE),
                    command=argv, log_path=f"{cname}.log",
                    linux=pb.LinuxContainerConfig())), timeout=60)
            runtime.StartContainer(pb.StartContainerRequest(container_id=created.container_id),
                                   timeout=60)
            ids[cname] = created.container_id
        return sandbox, ids

    def task_pid(self, container_id: str) -> int:
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == container_id:
                return int(fields[1])
        raise AssertionError(f"no task {container_id}")

    def teardown(self) -> None:
        if self.cri_sandboxes:
            runtime, pb = self.cri()
            for sandbox in self.cri_sandboxes:  # CNI DEL, then the pod's containers go
                with contextlib.suppress(Exception):
                    runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox),
                                           timeout=60)
                with contextlib.suppress(Exception):
                    runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox),
                                             timeout=60)
        tasks = [line.split()[0] for line in
                 self.ctr("task", "ls", check=False).stdout.splitlines()[1:] if line.strip()]
        for task in tasks:
            self.ctr("task", "kill", "-s", "SIGKILL", task, check=False)
        for task in tasks:
            for _ in range(50):
                if self.ctr("task", "delete", task, check=False).returncode == 0:
                    break
                time.sleep(0.1)
        for line in self.ctr("container", "ls", "-q", check=False).stdout.split():
            self.ctr("container", "delete", line, check=False)


@contextlib.contextmanager
def containerd_daemon(cri: bool = False) -> Iterator[Containerd]:
    """containerd with its own state; ``cri``: with the CRI plugin (namespace
    k8s.io), whose CNI network the caller writes with ``cni_network`` first."""
    with flocked(ENGINES_LOCK):
        base = Path(tempfile.mkdtemp(prefix="nsvtctrd"))
        netns = _netns("cd")
        had_run_dir = CONTAINERD_RUN.exists()
        daemon = None
        engine = Containerd(base=base, netns=netns,
                            namespace=CRI_NAMESPACE if cri else unique("ns"))
        try:
            conf = CONTAINERD_CONF.format(
                base=base, cri_off="" if cri else '"io.containerd.grpc.v1.cri", ')
            if cri:
                conf += CRI_CONF.format(base=base, pause=PAUSE_IMAGE)
                (base / "cni").mkdir()
            (base / "config.toml").write_text(conf)
            log = open(base / "containerd.log", "wb")  # noqa: SIM115 (closed in finally)
            daemon = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{netns}", "containerd", "--config",
                 str(base / "config.toml")],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd="/")
            log.close()
            _wait_serving(engine, daemon)
            rootfs = busybox_rootfs(base / "rootfs")
            engine.ctr("image", "import", str(oci_archive(rootfs, base / "image.tar")))
            if cri:
                engine.ctr("image", "import", str(oci_archive(
                    rootfs, base / "pause.tar", PAUSE_IMAGE, ["sleep", "infinity"])))
            yield engine
        finally:
            try:
                if daemon is not None and daemon.poll() is None:
                    engine.teardown()
            finally:
                if daemon is not None:
                    kill_pids([daemon.pid])
                    daemon.wait()
                kill_pids(_pids_matching(lambda pid: _cmdline_mentions(pid, str(base))))
                umount_under(str(base))
                for name in engine.cni_networks:
                    shutil.rmtree(CNI_STATE / "networks" / name, ignore_errors=True)
                    for cached in (CNI_STATE / "results").glob(f"{name}-*"):
                        cached.unlink(missing_ok=True)
                _rmdir_quietly(CONTAINERD_RUN / "runc" / engine.namespace)
                for top in engine.cgroup_tops:
                    remove_cgroup_tree(top)
                if not had_run_dir:
                    for sub in ("runc", "fifo", "s", ""):
                        _rmdir_quietly(CONTAINERD_RUN / sub)
                _del_netns(netns)
                shutil.rmtree(base, ignore_errors=True)


def _wait_serving(engine: Containerd, daemon: subprocess.Popen) -> None:
    """Until the daemon answers (a start-up wait, not a timed assertion)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            log = (engine.base / "containerd.log").read_text(errors="replace")
            raise AssertionError(f"containerd exited {daemon.returncode}: {log[-2000:]}")
        if engine.ctr("version", check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError("containerd did not start serving in 60 s")


def remove_cgroup_tree(top: str) -> None:
    """Remove ``/<top>`` and what is under it in every cgroup hierarchy (runc
    makes a container's cgroup in each v1 controller and removes only the leaf)."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        base = hierarchy / top
        if not base.is_dir():
            continue
        for directory in sorted((p for p in base.rglob("*") if p.is_dir()),
                                key=lambda p: len(p.parts), reverse=True):
            _rmdir_quietly(directory)
        _rmdir_quietly(base)


def _rmdir_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()
