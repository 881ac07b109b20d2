"""Build the lab (``nsview lab up``). docs/lab.md describes the result.

Every object is recorded in the state file before it is made (see state.py).
Nothing is ever added to the namespace ``lab up`` runs in: links, addresses,
routes and iptables rules are made inside lab namespaces only (``nsenter
--net=…`` / ``ip … netns``), and container processes start by unsharing a
fresh, empty network namespace.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from nsview.errors import NsviewError
from nsview.lab import engine_state
from nsview.lab import system as sysx
from nsview.lab import topology as topo
from nsview.lab.state import StateFile
from nsview.lab.topology import ContainerSpec

PAYLOAD = str(Path(__file__).with_name("_payload.py"))


def _veth_name(container: str) -> str:
    return "veth" + hashlib.sha1(container.encode()).hexdigest()[:7]


class Builder:
    def __init__(self, st: StateFile, *, nodes: bool = False) -> None:
        self.st = st
        self.nodes = nodes  # lab hosts as ssh-reachable nodes (nsview.lab.nodes)
        self.lab_id: str = st.data["lab_id"]
        self.containers: dict[str, dict] = st.data.setdefault("containers", {})
        self.cg_root: str | None = None
        self.log_fd: int | None = None

    # -- recorded primitives -------------------------------------------------
    def mkdir(self, path: str) -> None:
        if os.path.isdir(path):
            return
        entry = self.st.record("dir", path=path)
        os.makedirs(path)
        self.st.done(entry)

    def write_file(self, path: str, text: str) -> None:
        entry = self.st.record("file", path=path)
        with open(path, "w") as f:
            f.write(text)
        self.st.done(entry)

    def named_netns(self, name: str) -> str:
        entry = self.st.record("netns", name=name, path=sysx.named_netns(name))
        sysx.run(["ip", "netns", "add", name])
        self.st.done(entry)
        return sysx.named_netns(name)

    def bind_netns(self, path: str, source: str | None = None) -> str:
        """A netns file held by a bind mount: a new empty netns, or ``source``'s."""
        entry = self.st.record("nsmount", path=path)
        Path(path).touch()
        if source is None:
            sysx.run(["unshare", f"--net={path}", "--", "true"])
        else:
            sysx.run(["mount", "--bind", source, path])
        self.st.done(entry)
        return path

    def cgroup(self, *parts: str) -> str | None:
        if self.cg_root is None:
            return None
        path = self.cg_root
        for part in parts:
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                entry = self.st.record("cgroup", path=path)
                os.mkdir(path)
                self.st.done(entry)
        return path

    def ip(self, nspath: str, *args: str) -> None:
        sysx.run(sysx.in_netns(nspath, "ip", *args))

    def sysctl(self, nspath: str, setting: str) -> None:
        sysx.run(sysx.in_netns(nspath, "sysctl", "-q", "-w", setting))

    def iptables_restore(self, nspath: str, rules: str) -> None:
        sysx.run(sysx.in_netns(nspath, "iptables-restore", "-w", "--noflush"), input=rules)

    # -- the build -----------------------------------------------------------
    def build(self) -> None:
        self.mkdir(topo.RUN_DIR)
        self.mkdir(topo.DOCKER_NETNS_DIR)
        self.mkdir(topo.HIDDEN_NETNS_DIR)
        self.mkdir(topo.CNI_CONF_DIR)
        self.log_fd = os.open(topo.LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._setup_cgroups()
        self._hosts()
        self.mkdir(os.path.dirname(topo.CONTAINERD_CONFIG))
        self.write_file(topo.CONTAINERD_CONFIG, engine_state.containerd_config())
        for spec in topo.CONTAINERS:
            if spec.mode == "daemon":
                self._container(spec)
        self._fd_only_netns()
        self._bind_only_netns()
        self._docker_host()
        self._overlay()
        self._gwbridges()
        self._kube_node()
        for spec in topo.CONTAINERS:
            if spec.mode != "daemon":
                self._container(spec)
        engine_state.write(self)
        if self.nodes:
            self._nodes()
        os.close(self.log_fd)
        self.log_fd = None

    def _setup_cgroups(self) -> None:
        root = sysx.cgroup2_root()
        if root is None:
            self.st.data["warnings"].append(
                "no writable cgroup v2 mount: lab processes stay in the caller's cgroup")
            self.st.save()
            return
        self.cg_root = root
        try:
            self.cgroup(topo.CGROUP_DIR_NAME)
            probe = os.path.join(root, topo.CGROUP_DIR_NAME, "cgroup.procs")
            if not os.access(probe, os.W_OK):
                raise PermissionError(f"{probe} is not writable")
        except OSError as exc:
            self.cg_root = None
            self.st.data["warnings"].append(f"cgroup v2 at {root} refused the lab ({exc}): "
                                            "lab processes stay in the caller's cgroup")
            self.st.save()
            return
        self.cg_root = os.path.join(root, topo.CGROUP_DIR_NAME)
        self.st.data["cgroup_root"] = self.cg_root
        self.st.save()

    def _hosts(self) -> None:
        for host in topo.HOSTS:
            path = self.named_netns(host.netns)
            self.ip(path, "link", "set", "lo", "up")
            self.sysctl(path, "net.ipv4.ip_forward=1")
        h1, h2 = (sysx.named_netns(h.netns) for h in topo.HOSTS)
        if self.nodes:
            self._underlay_bridge()
        else:
            # The underlay: one veth between the two lab hosts, eth0 on both ends.
            self.ip(h1, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                    "netns", topo.HOST2.netns)
        for host, path in ((topo.HOST1, h1), (topo.HOST2, h2)):
            self.ip(path, "addr", "add", f"{host.underlay_ip}/{topo.UNDERLAY_PREFIXLEN}",
                    "dev", "eth0")
            self.ip(path, "link", "set", "eth0", "up")

    def _underlay_bridge(self) -> None:
        """The underlay as a switch (a bridge in its own netns): the two hosts' eth0
        and the operator's netns are its ports."""
        under = self.named_netns(topo.UNDERLAY_NETNS)
        self.ip(under, "link", "set", "lo", "up")
        self.ip(under, "link", "add", topo.UNDERLAY_BRIDGE, "type", "bridge")
        self.ip(under, "link", "set", topo.UNDERLAY_BRIDGE, "up")
        ops = self.named_netns(topo.OPS_NETNS)
        self.ip(ops, "link", "set", "lo", "up")
        for netns in (topo.HOST1.netns, topo.HOST2.netns, topo.OPS_NETNS):
            port = f"u-{netns.removeprefix(topo.PREFIX + '-')}"
            self.ip(under, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                    "netns", netns)
            self.ip(under, "link", "set", port, "master", topo.UNDERLAY_BRIDGE, "up")
        self.ip(ops, "addr", "add", f"{topo.OPS_IP}/{topo.UNDERLAY_PREFIXLEN}", "dev", "eth0")
        self.ip(ops, "link", "set", "eth0", "up")

    def _nodes(self) -> None:
        """Each lab host becomes a node: sshd as PID 1 of its own pid, mount and uts
        namespaces, in the host's netns, seeing only that host's lab mounts."""
        from nsview.lab import nodes

        self.mkdir(topo.SSH_DIR)
        keys = nodes.make_keys(topo.SSH_DIR)
        nodes.ssh_config(keys, {h.hostname: h.underlay_ip for h in topo.HOSTS}, topo.SSH_CONFIG)
        for host in topo.HOSTS:
            keep = (sysx.named_netns(host.netns),
                    f"{topo.DOCKER_NETNS_DIR}/{topo.OVERLAY_NETNS[host.key]}",
                    topo.SSH_DIR)  # its sshd config and keys
            entry = self.st.record("process", name=f"node-{host.key}", comm="sshd")
            node = nodes.start_node(host.hostname, sysx.named_netns(host.netns),
                                    host.underlay_ip, keys, keep=keep,
                                    env={topo.ENV_MARKER: self.lab_id})
            init = nodes.node_init_pid(node)
            self.st.done(entry, pid=node.pid, start=sysx.start_time(node.pid), init=init)
            self.st.data.setdefault("nodes", {})[host.key] = {
                "hostname": host.hostname, "address": host.underlay_ip, "pid": node.pid,
                "init": init, "start": sysx.start_time(node.pid),
            }
            self.st.save()

    def _docker_host(self) -> None:
        h1 = sysx.named_netns(topo.HOST1.netns)
        for bridge, gw, subnet in ((topo.DOCKER0, topo.DOCKER0_GW, topo.DOCKER0_SUBNET),
                                   (topo.USER_BRIDGE, topo.USER_GW, topo.USER_SUBNET)):
            self.ip(h1, "link", "add", bridge, "type", "bridge")
            self.ip(h1, "addr", "add", f"{gw}/{subnet.split('/')[1]}", "dev", bridge)
            self.ip(h1, "link", "set", bridge, "up")
        web = topo.container("web")
        # Docker relies on br_netfilter so that bridged replies pass conntrack (the
        # hairpin: container -> host:8080 -> DNAT -> container on the same bridge).
        # Without it, masquerade DNAT'ed bridge-local traffic so replies come back
        # through the host.
        hairpin = ""
        try:
            self.sysctl(h1, "net.bridge.bridge-nf-call-iptables=1")
        except NsviewError:
            self.st.data["warnings"].append(
                "br_netfilter not loaded: hairpin NAT uses an extra MASQUERADE rule")
            self.st.save()
            hairpin = (f"-A POSTROUTING -s {topo.DOCKER0_SUBNET} -o {topo.DOCKER0} "
                       "-m conntrack --ctstate DNAT -j MASQUERADE\n")
        d0, ub = topo.DOCKER0, topo.USER_BRIDGE
        port = topo.PUBLISHED_PORT
        rules = f"""*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s {topo.DOCKER0_SUBNET} ! -o {d0} -j MASQUERADE
-A POSTROUTING -s {topo.USER_SUBNET} ! -o {ub} -j MASQUERADE
-A POSTROUTING -o {d0} -m addrtype --src-type LOCAL -j MASQUERADE
-A POSTROUTING -s {web.ip}/32 -d {web.ip}/32 -p tcp -m tcp --dport {web.port} -j MASQUERADE
{hairpin}-A DOCKER -i {ub} -j RETURN
-A DOCKER -p tcp -m tcp --dport {port} -j DNAT --to-destination {web.ip}:{web.port}
COMMIT
*filter
:FORWARD DROP [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o {d0} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o {d0} -j DOCKER
-A FORWARD -i {d0} ! -o {d0} -j ACCEPT
-A FORWARD -i {d0} -o {d0} -j ACCEPT
-A FORWARD -o {ub} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o {ub} -j DOCKER
-A FORWARD -i {ub} ! -o {ub} -j ACCEPT
-A FORWARD -i {ub} -o {ub} -j ACCEPT
-A DOCKER -d {web.ip}/32 ! -i {d0} -o {d0} -p tcp -m tcp --dport {web.port} -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i {d0} ! -o {d0} -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -i {ub} ! -o {ub} -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o {d0} -j DROP
-A DOCKER-ISOLATION-STAGE-2 -o {ub} -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
COMMIT
"""
        self.iptables_restore(h1, rules)

    def _overlay(self) -> None:
        peers = {"host1": topo.HOST2.underlay_ip, "host2": topo.HOST1.underlay_ip}
        for host in topo.HOSTS:
            hpath = sysx.named_netns(host.netns)
            ovl = self.bind_netns(f"{topo.DOCKER_NETNS_DIR}/{topo.OVERLAY_NETNS[host.key]}")
            self.ip(ovl, "link", "set", "lo", "up")
            self.ip(ovl, "link", "add", "br0", "mtu", str(topo.OVERLAY_MTU), "type", "bridge")
            self.ip(ovl, "link", "set", "br0", "up")
            # Made in the host's netns (its UDP socket stays there, on the underlay),
            # then moved into the overlay netns, as Docker's overlay driver does.
            self.ip(hpath, "link", "add", "vxlan0", "mtu", str(topo.OVERLAY_MTU), "type", "vxlan",
                    "id", str(topo.OVERLAY_VNI), "dstport", str(topo.VXLAN_PORT),
                    "local", host.underlay_ip, "dev", "eth0")
            self.ip(hpath, "link", "set", "vxlan0", "netns", ovl)
            self.ip(ovl, "link", "set", "vxlan0", "master", "br0", "up")
            sysx.run(sysx.in_netns(ovl, "bridge", "fdb", "append", "00:00:00:00:00:00",
                                   "dev", "vxlan0", "dst", peers[host.key]))

    def _gwbridges(self) -> None:
        """docker_gwbridge on each host: the overlay containers' NAT'ed way out (eth1)."""
        for host in topo.HOSTS:
            hpath = sysx.named_netns(host.netns)
            g = topo.GWBRIDGE
            self.ip(hpath, "link", "add", g, "type", "bridge")
            self.ip(hpath, "addr", "add", f"{topo.GWBRIDGE_GW}/16", "dev", g)
            self.ip(hpath, "link", "set", g, "up")
            rules = f"""*nat
-A POSTROUTING -s {topo.GWBRIDGE_SUBNET} ! -o {g} -j MASQUERADE
COMMIT
*filter
-I FORWARD 1 -i {g} ! -o {g} -j ACCEPT
-I FORWARD 1 -o {g} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
"""
            self.iptables_restore(hpath, rules)

    def _kube_node(self) -> None:
        h2 = sysx.named_netns(topo.HOST2.netns)
        self.ip(h2, "link", "add", topo.CNI_BRIDGE, "type", "bridge")
        self.ip(h2, "addr", "add", f"{topo.POD_GW}/24", "dev", topo.CNI_BRIDGE)
        self.ip(h2, "link", "set", topo.CNI_BRIDGE, "up")
        chain = "CNI-" + hashlib.sha1(self.lab_id.encode()).hexdigest()[:24]
        pod_uid = topo.POD_UID
        self.st.data["pod"] = {"uid": pod_uid, "name": topo.POD_NAME,
                               "namespace": topo.POD_NAMESPACE, "cni_chain": chain}
        self.st.save()
        comment = f"name: nsvlab-pod-net id: {pod_uid}"
        rules = f"""*nat
:{chain} - [0:0]
-A POSTROUTING -s {topo.POD_IP}/32 -m comment --comment "{comment}" -j {chain}
-A {chain} -d {topo.POD_SUBNET} -j ACCEPT
-A {chain} ! -d 224.0.0.0/4 -j MASQUERADE
COMMIT
"""
        self.iptables_restore(h2, rules)
        conf = {
            "cniVersion": "1.0.0",
            "name": "nsvlab-pod-net",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": topo.CNI_BRIDGE,
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": topo.POD_SUBNET, "gateway": topo.POD_GW}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": topo.CNI_DATA_DIR,
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        self.write_file(f"{topo.CNI_CONF_DIR}/10-nsvlab-pod-net.conflist",
                        json.dumps(conf, indent=2) + "\n")

    def _fd_only_netns(self) -> None:
        d = self.containers["dockerd"]
        path = f"/proc/{d['pid']}/fd/{d['netns_fd']}"
        self.ip(path, "link", "set", "lo", "up")
        self.ip(path, "addr", "add", f"{topo.FD_ONLY_ADDR}/32", "dev", "lo")
        self.st.data["fd_only_netns"] = {"pid": d["pid"], "fd": d["netns_fd"],
                                         "inode": sysx.netns_inode(path)}
        self.st.save()

    def _bind_only_netns(self) -> None:
        path = self.bind_netns(f"{topo.HIDDEN_NETNS_DIR}/{topo.BIND_ONLY_NETNS}")
        self.ip(path, "link", "set", "lo", "up")
        self.ip(path, "addr", "add", f"{topo.BIND_ONLY_ADDR}/32", "dev", "lo")
        self.st.data["bind_only_netns"] = {"path": path, "inode": sysx.netns_inode(path)}
        self.st.save()

    # -- containers ----------------------------------------------------------
    def _cgroup_for(self, spec: ContainerSpec, cid: str) -> str | None:
        if spec.runtime == "docker":
            return self.cgroup("system.slice", f"docker-{cid}.scope")
        if spec.runtime == "cri":
            uid = self.st.data["pod"]["uid"].replace("-", "_")
            return self.cgroup("kubepods.slice", "kubepods-besteffort.slice",
                               f"kubepods-besteffort-pod{uid}.slice",
                               f"cri-containerd-{cid}.scope")
        return self.cgroup("system.slice", f"{spec.comm}.service")

    def _container(self, spec: ContainerSpec) -> None:
        host = topo.host(spec.host)
        cid = topo.container_id(spec.name)
        if spec.mode == "daemon" or spec.mode == "host":
            hostname = host.hostname
        elif spec.runtime == "cri":
            hostname = topo.POD_NAME
        else:
            hostname = cid[:12]
        prefix: list[str] = []
        if spec.join_net == "host":
            prefix = ["nsenter", f"--net={sysx.named_netns(host.netns)}", "--"]
        elif spec.join_net:
            owner = self.containers[spec.join_net]["pid"]
            prefix = ["nsenter", f"--net=/proc/{owner}/ns/net"]
            if spec.join_ipc_uts:
                prefix += [f"--ipc=/proc/{owner}/ns/ipc", f"--uts=/proc/{owner}/ns/uts"]
            prefix.append("--")
        cgroup = self._cgroup_for(spec, cid)
        payload = {"name": spec.name, "comm": spec.comm, "hostname": hostname,
                   "unshare": list(spec.unshare), "role": spec.role, "port": spec.port,
                   "banner": spec.banner, "cgroup": cgroup, "hold_netns_fd": spec.hold_netns_fd}
        entry = self.st.record("process", name=spec.name, comm=spec.comm)
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               topo.ENV_MARKER: self.lab_id}
        argv = [*prefix, sys.executable, "-I", PAYLOAD, spec.name, *spec.args]
        try:
            proc = subprocess.run(argv, input=json.dumps(payload), stdout=subprocess.PIPE,
                                  stderr=self.log_fd, text=True, env=env, timeout=30)
        except subprocess.TimeoutExpired as exc:
            raise NsviewError(f"lab: container '{spec.name}' did not start within 30s") from exc
        try:
            msg = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            msg = {"ok": False, "error": f"exit {proc.returncode}, see {topo.LOG_FILE}"}
        if not msg.get("ok"):
            raise NsviewError(f"lab: container '{spec.name}' failed to start: "
                              f"{msg.get('error', 'unknown error')}")
        pid = int(msg["pid"])
        self.st.tick()  # crash window: running but not yet in the state file
        info = {"name": spec.name, "comm": spec.comm, "mode": spec.mode, "host": spec.host,
                "id": cid, "hostname": hostname, "pid": pid, "start": sysx.start_time(pid),
                "ip": spec.ip, "cgroup": cgroup, "runtime": spec.runtime}
        if "netns_fd" in msg:
            info["netns_fd"] = msg["netns_fd"]
        self.containers[spec.name] = info
        self.st.done(entry, pid=pid, start=info["start"])
        self._wire(spec, pid)

    def _wire(self, spec: ContainerSpec, pid: int) -> None:
        cns = f"/proc/{pid}/ns/net"
        host = topo.host(spec.host)
        hpath = sysx.named_netns(host.netns)
        if "net" in spec.unshare:
            self.ip(cns, "link", "set", "lo", "up")
        if spec.mode in ("bridge", "user-bridge", "overlay") or spec.name == "pause":
            if spec.mode == "bridge":
                side, bridge, gw, plen, mtu = hpath, topo.DOCKER0, topo.DOCKER0_GW, 16, 1500
            elif spec.mode == "user-bridge":
                side, bridge, gw, plen, mtu = hpath, topo.USER_BRIDGE, topo.USER_GW, 16, 1500
            elif spec.mode == "overlay":
                side = f"{topo.DOCKER_NETNS_DIR}/{topo.OVERLAY_NETNS[host.key]}"
                bridge, gw, plen, mtu = "br0", None, 24, topo.OVERLAY_MTU
            else:
                side, bridge, gw, plen, mtu = hpath, topo.CNI_BRIDGE, topo.POD_GW, 24, 1500
            veth = _veth_name(spec.name)
            self.ip(side, "link", "add", veth, "mtu", str(mtu), "type", "veth",
                    "peer", "name", "eth0", "mtu", str(mtu), "netns", str(pid))
            self.ip(side, "link", "set", veth, "master", bridge, "up")
            self.ip(cns, "addr", "add", f"{spec.ip}/{plen}", "dev", "eth0")
            self.ip(cns, "link", "set", "eth0", "up")
            if gw:
                self.ip(cns, "route", "add", "default", "via", gw)
            if spec.gw_ip:
                veth = _veth_name(spec.name + "-gw")
                self.ip(hpath, "link", "add", veth, "type", "veth", "peer", "name", "eth1",
                        "netns", str(pid))
                self.ip(hpath, "link", "set", veth, "master", topo.GWBRIDGE, "up")
                self.ip(cns, "addr", "add", f"{spec.gw_ip}/16", "dev", "eth1")
                self.ip(cns, "link", "set", "eth1", "up")
                self.ip(cns, "route", "add", "default", "via", topo.GWBRIDGE_GW)
        elif spec.mode == "macvlan":
            self.ip(hpath, "link", "add", "mv0", "link", "eth0", "type", "macvlan",
                    "mode", "bridge")
            self.ip(hpath, "link", "set", "mv0", "netns", str(pid))
            self.ip(cns, "link", "set", "mv0", "name", "eth0")
            self.ip(cns, "addr", "add", f"{spec.ip}/{topo.UNDERLAY_PREFIXLEN}", "dev", "eth0")
            self.ip(cns, "link", "set", "eth0", "up")
        if spec.name == "pause":
            # containerd's CNI netns: a bind mount named cni-<uuid> in /run/netns
            name = topo.CNI_NETNS
            os.makedirs(topo.NAMED_NETNS_DIR, exist_ok=True)
            self.bind_netns(sysx.named_netns(name), source=cns)
            self.st.data["pod"]["netns"] = sysx.named_netns(name)
            self.st.save()
