"""Regenerate tests/fixtures/{podman-4.3,containerd-1.6}: run the real engines
(tests/real_engines.py), then copy the state files the readers read.

    sudo .venv/bin/python -m tests.capture_engine_state

The copies keep the engines' own paths inside them (temp dirs that are gone
now); the unit tests read them as state roots and put real processes in real
cgroups named after the ids (tests/engines_util.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import unique
from tests.real_engines import IMAGE, containerd_daemon, rootful_podman, rootless_podman

FIXTURES = Path(__file__).parent / "fixtures"
PODMAN = FIXTURES / "podman-4.3"
CONTAINERD = FIXTURES / "containerd-1.6"
CRI_POD_UID = "5f1c2b6e-7a3d-4e0f-9b8a-2c4d6e8f0a1b"


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)


def _copy_podman_storage(graphroot: Path, dest: Path, networks: Path | None) -> dict[str, str]:
    _copy(graphroot / "libpod" / "bolt_state.db", dest / "libpod" / "bolt_state.db")
    names = {}
    for listing in graphroot.glob("*-containers/containers.json"):
        rel = listing.relative_to(graphroot)
        _copy(listing, dest / rel)
        for entry in json.loads(listing.read_text()):
            names[entry["names"][0]] = entry["id"]
            bundle = listing.parent / entry["id"] / "userdata" / "config.json"
            _copy(bundle, dest / bundle.relative_to(graphroot))
    if networks is not None:
        for definition in networks.glob("*.json"):
            _copy(definition, dest / "networks" / definition.name)
    return names


def capture_podman() -> dict:
    for old in ("rootful", "rootless"):  # README.md stays
        shutil.rmtree(PODMAN / old, ignore_errors=True)
    ids: dict = {}
    with rootful_podman() as podman:
        podman.networks.append("nsvtappnet")
        podman("network", "create", "--disable-dns", "--subnet", "198.18.210.0/24", "nsvtappnet")
        podman("run", "-d", "--name", "nsvtweb", "--network", "nsvtappnet", "-p", "18080:80",
               IMAGE, "httpd", "-f", "-p", "80")
        podman("pod", "create", "--name", "nsvtpod", "--network", "nsvtappnet",
               "--infra-image", IMAGE, "--infra-command", "sleep infinity")
        podman("run", "-d", "--pod", "nsvtpod", "--name", "nsvtapp", IMAGE, "sleep", "600")
        podman("run", "-d", "--name", "nsvtjoin", "--network", "container:nsvtweb", IMAGE,
               "sleep", "600")
        podman("run", "-d", "--name", "nsvthost", "--network", "host", IMAGE, "sleep", "600")
        podman("run", "-d", "--name", "nsvtnone", "--network", "none", IMAGE, "sleep", "600")
        podman("run", "-d", "--name", "nsvtdefault", IMAGE, "sleep", "600")
        ids["rootful"] = _copy_podman_storage(podman.graphroot, PODMAN / "rootful",
                                              podman.base / "networks")
        ids["pod"] = json.loads(podman("pod", "inspect", "nsvtpod").stdout)
    with rootless_podman() as podman:
        podman("run", "-d", "--name", "nsvtrl", "-p", "18081:80", IMAGE, "httpd", "-f",
               "-p", "80")
        ids["rootless"] = _copy_podman_storage(podman.graphroot, PODMAN / "rootless", None)
    return ids


def capture_containerd() -> dict:
    for old in ("state", "root", "cni", "cni-conf"):  # README.md stays
        shutil.rmtree(CONTAINERD / old, ignore_errors=True)
    with containerd_daemon() as engine:
        engine.namespace = "nsvt"  # stable names in the copies
        engine.ctr("image", "import", str(engine.base / "image.tar"))
        net, bridge, subnet = engine.cni_network("198.18.220.0/24")
        engine.run_cni("nsvtweb", "httpd", "-f", "-p", "80")
        engine.ctr("run", "-d", "--with-ns",
                   f"network:/proc/{engine.task_pid('nsvtweb')}/ns/net", IMAGE, "nsvtjoin",
                   "sleep", "600")
        engine.ctr("run", "-d", "--net-host", IMAGE, "nsvthost", "sleep", "600")
        tasks = engine.state / "io.containerd.runtime.v2.task"
        for name in ("config.json", "init.pid"):
            for path in tasks.glob(f"*/*/{name}"):
                _copy(path, CONTAINERD / "state" / path.relative_to(engine.state))
        meta = engine.root / "io.containerd.metadata.v1.bolt" / "meta.db"
        _copy(meta, CONTAINERD / "root" / meta.relative_to(engine.root))
        for path in Path("/var/lib/cni/results").glob(f"{net}-*"):
            _copy(path, CONTAINERD / "cni" / "results" / path.name)
        for path in (Path("/var/lib/cni/networks") / net).iterdir():
            _copy(path, CONTAINERD / "cni" / "networks" / net / path.name)
        for path in engine.cni_conf_dir.iterdir():
            _copy(path, CONTAINERD / "cni-conf" / path.name)
    out = {"network": net, "bridge": bridge, "subnet": subnet}
    with containerd_daemon(cri=True) as engine:
        net, bridge, subnet = engine.cni_network("198.18.221.0/24")
        sandbox, ids = engine.cri_pod("web-7f9c", "nsvtns", CRI_POD_UID,
                                      {"app": ["httpd", "-f", "-p", "80"],
                                       "side": ["sleep", "600"]}, unique("cri"))
        tasks = engine.state / "io.containerd.runtime.v2.task"
        for name in ("config.json", "init.pid"):
            for path in tasks.glob(f"k8s.io/*/{name}"):
                _copy(path, CONTAINERD / "state" / path.relative_to(engine.state))
        for path in Path("/var/lib/cni/results").glob(f"*-{sandbox}-*"):
            _copy(path, CONTAINERD / "cni" / "results" / path.name)
        for path in (Path("/var/lib/cni/networks") / net).iterdir():
            _copy(path, CONTAINERD / "cni" / "networks" / net / path.name)
        for path in engine.cni_conf_dir.iterdir():
            _copy(path, CONTAINERD / "cni-conf" / path.name)
        out["cri"] = {"network": net, "bridge": bridge, "sandbox": sandbox, **ids}
    return out


if __name__ == "__main__":
    import sys

    which = sys.argv[1:] or ["podman", "containerd"]
    out = {}
    if "podman" in which:
        out["podman"] = capture_podman()
    if "containerd" in which:
        out["containerd"] = capture_containerd()
    print(json.dumps(out, indent=1))
