"""``nsview doctor``: a catalogue of checks over one Snapshot (docs/doctor.md).

Each family of checks is a module (link, routing, forwarding, namespaces);
each check registers itself under a stable id with
:func:`nsview.analyze.doctor.base.check`. :func:`run_doctor` runs them all (or
some) and returns their findings, worst first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nsview.analyze.doctor import (  # noqa: F401 (they register their checks)
    containers,
    forwarding,
    link,
    namespaces,
    routing,
)
from nsview.analyze.doctor.base import (
    REGISTRY,
    SEVERITIES,
    SEVERITY_RANK,
    Check,
    Context,
    Finding,
    Subject,
)
from nsview.model import Snapshot

__all__ = [
    "REGISTRY",
    "SEVERITIES",
    "Check",
    "DoctorReport",
    "Finding",
    "Subject",
    "at_or_above",
    "run_doctor",
    "unknown_checks",
]

FAMILIES = ("link", "routing", "forwarding", "namespaces", "containers")


@dataclass(slots=True)
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # ids run, in catalogue order
    failed: dict[str, str] = field(default_factory=dict)  # id -> the error (a bug in a check)

    def to_dict(self) -> dict:
        return {"findings": [f.to_dict() for f in self.findings], "checked": list(self.checked),
                "failed": dict(self.failed)}


def catalogue() -> list[Check]:
    """Every check, by family then id (the order of docs/doctor.md)."""
    return sorted(REGISTRY.values(), key=lambda c: (FAMILIES.index(c.family), c.id))


def unknown_checks(names: list[str]) -> list[str]:
    return [n for n in names if n not in REGISTRY]


def at_or_above(findings: list[Finding], severity: str) -> list[Finding]:
    floor = SEVERITY_RANK[severity]
    return [f for f in findings if SEVERITY_RANK[f.severity] >= floor]


def run_doctor(snapshot: Snapshot, only: list[str] | None = None) -> DoctorReport:
    """Run the checks (all, or those in ``only``) over ``snapshot``.

    A check that raises is a bug in nsview: it is named in ``failed`` and the
    others still run.
    """
    ctx = Context(snapshot)
    report = DoctorReport()
    for chk in catalogue():
        if only is not None and chk.id not in only:
            continue
        report.checked.append(chk.id)
        try:
            report.findings.extend(chk.run(ctx))
        except Exception as exc:  # one broken check must not hide the others' findings
            report.failed[chk.id] = f"{type(exc).__name__}: {exc}"
    order = {c.id: n for n, c in enumerate(catalogue())}
    report.findings.sort(key=lambda f: (-SEVERITY_RANK[f.severity], order[f.check], f.message))
    return report
