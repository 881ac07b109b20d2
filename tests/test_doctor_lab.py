"""nsview doctor on the real lab: quiet when healthy, each planted fault found, fix undoes it.

One lab for the module (it is a singleton on the machine: lab tests take
turns, see conftest.lab_turn), taken down in the fixture's finally.
"""

from __future__ import annotations

import contextlib
import json
import subprocess

import pytest

from nsview.analyze.doctor import at_or_above, run_doctor
from nsview.lab import faults

from .conftest import lab_turn, nsview_bin

pytestmark = pytest.mark.privileged

@pytest.fixture(scope="module")
def lab():
    from nsview.lab import lab_down, lab_status, lab_up

    with lab_turn():
        started = lab_status().status != "up"
        try:
            state = lab_up()
            if state.faults:
                for name in state.faults:
                    faults.fix_fault(name)
            yield state
        finally:
            for name in faults.planted(faults.StateFile.load()):
                with contextlib.suppress(Exception):  # the lab goes down anyway
                    faults.fix_fault(name)
            if started:
                lab_down()


def snapshot():
    from nsview.collect import CollectOptions, collect_snapshot

    return collect_snapshot(CollectOptions(net=True, conntrack=True))


def lab_findings(snap, severity="warning", only=None):
    """Findings about lab namespaces only (other engineers' namespaces share the host)."""
    from nsview.lab import lab_status

    lab = lab_status()
    inodes = {h["inode"] for h in lab.hosts} | {c.netns_inode for c in lab.containers}
    inodes |= {n["inode"] for n in lab.netns}
    names = ("nsvlab",)
    for ns in snap.namespaces:
        if ns.type == "net" and any(n.startswith(names) for n in ns.names):
            inodes.add(ns.inode)
    inodes.discard(None)
    # processes the lab's faults started (and the zombies they keep)
    pids = {c.pid for c in lab.containers}
    for info in (faults.StateFile.load().data.get("faults") or {}).values():
        pids |= {info.get("pid"), *info.get("more", [])}
    report = run_doctor(snap, only)
    assert not report.failed, report.failed
    return [f for f in at_or_above(report.findings, severity)
            if any(s.netns in inodes or (s.pid is not None and s.pid in pids)
                   for s in f.subjects)]


def test_healthy_lab_is_quiet(lab):
    found = lab_findings(snapshot())
    assert found == [], "\n".join(f"{f.check}: {f.message}" for f in found)


@pytest.mark.parametrize("name", [f.name for f in faults.FAULTS])
def test_planted_fault_is_found_and_fixed(lab, name):
    fault = faults.fault(name)
    assert faults.break_fault(name)
    try:
        from nsview.lab import lab_status

        assert name in lab_status().faults
        snap = snapshot()
        if name == "forward-drop-published" and not any(
                ns.net.filter for ns in snap.namespaces if ns.type == "net" and ns.net):
            pytest.skip("this build does not read filter tables")
        found = lab_findings(snap, "warning", [fault.check])
        assert found, f"{fault.check} found nothing at warning or above for the planted {name}"
    finally:
        assert faults.fix_fault(name)
    assert name not in lab_status().faults
    again = lab_findings(snapshot(), "warning", [fault.check])
    assert again == [], [f.message for f in again]


def test_cli_break_list_status_and_exit_codes(lab):
    def nsview(*args):
        return subprocess.run([nsview_bin(), *args], capture_output=True, text=True,
                              timeout=120)

    out = nsview("lab", "break", "--list")
    assert out.returncode == 0 and "duplicate-ipv4" in out.stdout
    assert nsview("lab", "break", "nope").returncode == 2
    assert nsview("lab", "break", "duplicate-ipv4").returncode == 0
    try:
        status = nsview("lab", "status")
        assert "planted faults: duplicate-ipv4" in status.stdout
        assert "planted" in nsview("lab", "break", "--list").stdout
        doc = nsview("doctor", "--only", "duplicate-ipv4", "--json")
        assert doc.returncode == 1, doc.stderr
        out = json.loads(doc.stdout)
        hits = [f for f in out["findings"] if "172.17.0.2" in f["message"]]
        assert hits and {"netns", "interface"} <= set(hits[0]["subjects"][0])
    finally:
        assert nsview("lab", "fix", "all").returncode == 0
    assert "planted" not in nsview("lab", "status").stdout
