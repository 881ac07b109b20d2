"""Doctor over a fleet: every host's own checks, and the checks only a fleet can
make, across hosts (an overlay's ends on different nodes).

Cross-host checks register in FLEET_REGISTRY with the same ``check`` shape as
the single-host ones, but take the fleet's matched overlays
(:func:`nsview.analyze.overlay.match_overlays`) instead of one snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from nsview.analyze.doctor import DoctorReport, run_doctor
from nsview.analyze.doctor.base import SEVERITY_RANK, Finding, Subject
from nsview.analyze.overlay import FleetOverlays, VxlanEnd, match_overlays
from nsview.model.fleet import Fleet


@dataclass(frozen=True, slots=True)
class FleetCheck:
    id: str
    severity: str
    summary: str
    run: Callable[[FleetOverlays], Iterable[Finding]]


FLEET_REGISTRY: dict[str, FleetCheck] = {}


def fleet_check(check_id: str, severity: str, summary: str):
    def register(func: Callable[[FleetOverlays], Iterable[Finding]]):
        FLEET_REGISTRY[check_id] = FleetCheck(check_id, severity, summary, func)
        return func

    return register


@dataclass(slots=True)
class HostReport:
    target: str
    status: str
    error: str | None
    report: DoctorReport | None  # None when the host was not collected


@dataclass(slots=True)
class FleetDoctorReport:
    hosts: list[HostReport] = field(default_factory=list)
    cross_host: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def findings(self) -> list[Finding]:
        """Every finding, each subject naming its host, worst first."""
        out = list(self.cross_host)
        for host in self.hosts:
            if host.report is not None:
                out.extend(_on_host(f, host.target) for f in host.report.findings)
        out.sort(key=lambda f: -SEVERITY_RANK[f.severity])
        return out


def _on_host(finding: Finding, target: str) -> Finding:
    subjects = [
        replace(s, host=target) for s in finding.subjects
    ]
    return Finding(
        finding.check,
        finding.severity,
        subjects,
        finding.message,
        list(finding.evidence),
        finding.fix,
    )


def run_fleet_doctor(fleet: Fleet, only: list[str] | None = None) -> FleetDoctorReport:
    result = FleetDoctorReport()
    host_only = None if only is None else [c for c in only if c not in FLEET_REGISTRY]
    for host in fleet.hosts:
        if host.status != "ok" or host.snapshot is None:
            result.hosts.append(HostReport(host.target, host.status, host.error, None))
            continue
        # --only naming cross-host checks alone: no host check runs.
        report = DoctorReport() if host_only == [] else run_doctor(host.snapshot, host_only)
        result.hosts.append(HostReport(host.target, host.status, None, report))
        for check_id in report.checked:
            if check_id not in result.checked:
                result.checked.append(check_id)
    overlays = match_overlays(fleet)
    for chk in sorted(FLEET_REGISTRY.values(), key=lambda c: c.id):
        if only is not None and chk.id not in only:
            continue
        result.checked.append(chk.id)
        result.cross_host.extend(chk.run(overlays))
    return result


def _subject(end: VxlanEnd) -> Subject:
    return Subject(netns=end.netns, interface=end.interface, host=end.host)


@fleet_check(
    "overlay-vni-mismatch",
    "error",
    "two VXLAN ends on different hosts point at each other with different VNIs",
)
def _vni_mismatch(overlays: FleetOverlays) -> Iterable[Finding]:
    for a, b, why in overlays.mismatched:
        if why.startswith("VNI"):
            yield Finding(
                "overlay-vni-mismatch",
                "error",
                [_subject(a), _subject(b)],
                f"{a.label} sends to {b.label}'s address, but their VNIs differ: nothing "
                "gets through.",
                [
                    why,
                    f"{a.label} remotes {', '.join(sorted(a.remotes))}",
                    f"{b.label} sends from {', '.join(sorted(b.locals))}",
                ],
                f"ip -d link show {a.interface}  # on {a.host}; and {b.interface} on {b.host}",
            )


@fleet_check(
    "overlay-port-mismatch", "error", "the two ends of a VXLAN tunnel use different UDP ports"
)
def _port_mismatch(overlays: FleetOverlays) -> Iterable[Finding]:
    for a, b, why in overlays.mismatched:
        if why.startswith("UDP"):
            yield Finding(
                "overlay-port-mismatch",
                "error",
                [_subject(a), _subject(b)],
                f"{a.label} and {b.label} carry VNI {a.vni} but send to different UDP "
                "ports, so each drops the other's packets.",
                [why],
                f"ip -d link show {a.interface}  # dstport on {a.host}; and on {b.host}",
            )


@fleet_check(
    "overlay-mtu-mismatch", "warning", "the members of one overlay network have different MTUs"
)
def _mtu_mismatch(overlays: FleetOverlays) -> Iterable[Finding]:
    for overlay in overlays.overlays:
        mtus = {end.mtu for end in overlay.ends if end.mtu is not None}
        if len(mtus) > 1:
            yield Finding(
                "overlay-mtu-mismatch",
                "warning",
                [_subject(e) for e in overlay.ends],
                f"Overlay VNI {overlay.vni} has MTU {' and '.join(map(str, sorted(mtus)))} on "
                "different hosts: large packets from the bigger side are dropped.",
                [f"{end.label}: mtu {end.mtu}" for end in overlay.ends],
                f"ip link set {overlay.ends[0].interface} mtu {min(mtus)}  # on every host",
            )


@fleet_check(
    "overlay-remote-unknown", "warning", "a VXLAN end sends to an address no collected host owns"
)
def _remote_unknown(overlays: FleetOverlays) -> Iterable[Finding]:
    for end, remote in overlays.unknown_remotes:
        yield Finding(
            "overlay-remote-unknown",
            "warning",
            [_subject(end)],
            f"{end.label} sends VNI {end.vni} to {remote}, which no collected host owns "
            "(a node that is gone, or one not collected).",
            [f"remote {remote}", f"hosts collected: {len({e.host for e in overlays.ends})}"],
            f"bridge fdb show dev {end.interface}  # on {end.host}",
        )
