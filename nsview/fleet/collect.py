"""Collect a fleet: run the shipped collector on every target, a few at a time,
each bounded by a timeout; a host that fails says why and the rest still load."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nsview.errors import NsviewError
from nsview.fleet import transport
from nsview.fleet.bundle import EXIT_OLD_PYTHON, stdin_payload
from nsview.fleet.targets import KubeTarget, SshTarget, Target
from nsview.model.fleet import FAILED, OK, Fleet, FleetHost, HostIdentity

DEFAULT_PARALLEL = 8
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Job:
    target: str  # the host's entry in the fleet file
    argv: list[str]
    via: str  # "ssh" | "kubectl"


# Progress: (target, "start" | "ok" | "failed", detail)
Progress = Callable[[str, str, str], None]


def plan(
    targets: list[Target],
    *,
    sudo: bool,
    timeout: float,
    ssh: str = "ssh",
    ssh_config: str | None = None,
    kubectl: str = "kubectl",
    k8s_daemonset: bool = False,
    net: bool = True,
) -> tuple[list[Job], list[FleetHost]]:
    """One job per host; a Kubernetes target becomes one job per node. A target
    that cannot even be planned (kubectl missing) is a failed host, not an error."""
    jobs: list[Job] = []
    failed: list[FleetHost] = []
    extra = () if net else ("--no-net",)
    for target in targets:
        if isinstance(target, SshTarget):
            argv = transport.ssh_argv(
                target,
                sudo=sudo,
                connect_timeout=min(timeout, 15),
                ssh=ssh,
                config=ssh_config,
                collector_args=extra,
            )
            jobs.append(Job(target.text, argv, "ssh"))
            continue
        assert isinstance(target, KubeTarget)
        try:
            nodes = transport.kube_nodes(target, timeout, kubectl)
        except NsviewError as exc:
            failed.append(FleetHost(target=target.text, status=FAILED, error=str(exc)))
            continue
        if not nodes:
            failed.append(FleetHost(target=target.text, status=FAILED, error="no nodes"))
        base = target.text.split("/", 3)
        context = base[2] if len(base) > 2 else ""
        for node in nodes:
            name = f"k8s://{context}/{node}"
            if not k8s_daemonset:
                jobs.append(
                    Job(
                        name,
                        transport.kubectl_argv(target, node, kubectl=kubectl, collector_args=extra),
                        "kubectl",
                    )
                )
                continue
            try:
                pod = transport.daemonset_pod(target, node, timeout, kubectl)
            except NsviewError as exc:
                failed.append(FleetHost(target=name, status=FAILED, error=str(exc)))
                continue
            jobs.append(
                Job(name, transport.kubectl_exec_argv(target, pod, kubectl, extra), "kubectl")
            )
    return jobs, failed


def collect_fleet(
    targets: list[Target],
    *,
    parallel: int = DEFAULT_PARALLEL,
    timeout: float = DEFAULT_TIMEOUT,
    sudo: bool = False,
    progress: Progress | None = None,
    ssh: str = "ssh",
    ssh_config: str | None = None,
    kubectl: str = "kubectl",
    k8s_daemonset: bool = False,
    net: bool = True,
) -> Fleet:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    jobs, failed = plan(
        targets,
        sudo=sudo,
        timeout=timeout,
        ssh=ssh,
        ssh_config=ssh_config,
        kubectl=kubectl,
        k8s_daemonset=k8s_daemonset,
        net=net,
    )
    report = progress or (lambda *_: None)
    for host in failed:
        report(host.target, "failed", host.error or "")
    results: dict[str, FleetHost] = {}
    stop = threading.Event()

    def one(job: Job) -> None:
        report(job.target, "start", job.via)
        host = run_job(job, timeout, stop)
        results[job.target] = host
        report(job.target, host.status, host.error or "")

    with ThreadPoolExecutor(
        max_workers=max(1, parallel), thread_name_prefix="nsview-fleet"
    ) as pool:
        futures = [pool.submit(one, job) for job in jobs]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()  # Ctrl-C: every running collection is killed, none is left behind
            raise
    hosts = failed + [results[job.target] for job in jobs]
    hosts.sort(key=lambda h: _given_order(targets, h.target))
    return Fleet(collected_at=started, hosts=hosts)


def _given_order(targets: list[Target], name: str) -> int:
    """Hosts in the order their targets were given (a cluster's nodes by name)."""
    for i, target in enumerate(targets):
        if name == target.text or (
            isinstance(target, KubeTarget)
            and name.startswith("k8s://")
            and name.split("/")[2] == (target.context or "")
        ):
            return i
    return len(targets)


def run_job(job: Job, timeout: float, stop: threading.Event | None = None) -> FleetHost:
    """Run one node's collection to the end, its timeout, or ``stop``."""
    begin = time.monotonic()
    host = FleetHost(target=job.target)
    try:
        proc = subprocess.Popen(
            job.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # the whole ssh/kubectl tree is killed as one
        )
    except FileNotFoundError:
        host.error = f"{job.argv[0]} not found on PATH"
        return host
    payload = stdin_payload()
    deadline = begin + timeout
    out = err = b""
    timed_out = False
    try:
        while True:
            wait = min(0.5, max(0.0, deadline - time.monotonic()))
            try:
                out, err = proc.communicate(payload, timeout=wait)
                break
            except subprocess.TimeoutExpired:
                payload = None  # sent already; communicate keeps it
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt from None
                if time.monotonic() >= deadline:
                    timed_out = True
                    _kill(proc)
                    out, err = proc.communicate()
                    break
    except BaseException:
        _kill(proc)
        proc.communicate()
        raise
    host.seconds = round(time.monotonic() - begin, 3)
    if timed_out:
        host.error = f"timed out after {timeout:g} s"
        return host
    _read_result(host, job, proc.returncode, out, err.decode("utf-8", "replace"))
    return host


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _read_result(host: FleetHost, job: Job, status: int, out: bytes, err: str) -> None:
    if status == 0:
        try:
            data = json.loads(out)
            snapshot_data = data["snapshot"]
            identity = data.get("identity") or {}
        except (ValueError, KeyError, TypeError):
            host.error = "the collector's output was not a snapshot (" + _last_line(err) + ")"
            return
        from nsview.model import SchemaError
        from nsview.model.core import SCHEMA_VERSION, Snapshot
        from nsview.model.serial import from_dict

        if snapshot_data.get("schema_version") != SCHEMA_VERSION:
            host.error = f"snapshot schema_version {snapshot_data.get('schema_version')!r}"
            return
        try:
            host.snapshot = from_dict(Snapshot, snapshot_data)
        except (TypeError, ValueError, SchemaError) as exc:
            host.error = f"malformed snapshot: {exc}"
            return
        host.identity = HostIdentity(
            hostname=str(identity.get("hostname", "")),
            machine_id=str(identity.get("machine_id", "")),
            boot_id=str(identity.get("boot_id", "")),
        )
        host.status = OK
        return
    host.error = explain_failure(job.via, status, err)


def explain_failure(via: str, status: int, err: str) -> str:
    """One line a person can act on, from the exit status and stderr."""
    line = _last_line(err)
    lowered = err.lower()
    if status == EXIT_OLD_PYTHON and "nsview-fleet:" in err:
        return line.replace("nsview-fleet: ", "")
    if (
        "python3: command not found" in lowered
        or "python3: not found" in lowered
        or (status == 127 and "python3" in lowered)
    ):
        return "no python3 on the node"
    if "sudo:" in lowered and (
        "password is required" in lowered or "not in the sudoers" in lowered
    ):
        return f"sudo -n refused: {line}"
    if via == "ssh" and status == 255:
        if "permission denied" in lowered:
            return f"refused: {line}"
        if "host key verification failed" in lowered:
            return f"host key not trusted: {line}"
        return f"unreachable: {line}"
    if status < 0:
        return f"the collector was killed (signal {-status}) before it finished"
    if status in (128 + 9, 128 + 15):
        return f"the collector was killed (signal {status - 128}) before it finished"
    if "traceback" in lowered:
        return f"the collector failed: {line}"
    return f"{via} exited with status {status}: {line}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
