"""Runs ON the node (shipped by nsview.fleet.bundle): collect, print one JSON
document on stdout. Kept to the collector's own imports."""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from nsview.collect import CollectOptions, collect_snapshot
    from nsview.model.serial import paused_gc, to_dict

    net = "--no-net" not in argv
    snapshot = collect_snapshot(CollectOptions(net=net))
    with paused_gc():
        tree = {"identity": _identity(snapshot), "snapshot": to_dict(snapshot)}
    out = sys.stdout
    out.write(json.dumps(tree, ensure_ascii=False, check_circular=False))
    out.write("\n")
    out.flush()
    return 0


def _identity(snapshot) -> dict[str, str]:
    return {
        "hostname": snapshot.host.hostname,
        "machine_id": _read("/etc/machine-id"),
        "boot_id": getattr(snapshot.host, "boot_id", "")
        or _read("/proc/sys/kernel/random/boot_id"),
    }


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""
