#!/usr/bin/env python3
"""nsview dump --json --no-net vs lsns -J on a host with many containers.

Builds GROUPS groups of PER_GROUP processes, each group in its own net, uts,
ipc and mount namespaces (like containers), then times both tools side by side
for several rounds and prints the medians and the ratio. Goal: nsview at most
half of lsns's time while also finding fd- and mount-held namespaces.

Run as root: python benchmarks/bench_collect.py [--groups 100] [--per-group 10] [--rounds 7]
Everything it starts is killed on exit (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path


def nsview_command() -> list[str]:
    exe = Path(sys.executable).parent / "nsview"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nsview"]


def start_groups(groups: int, per_group: int) -> list[subprocess.Popen]:
    script = "for i in $(seq %d); do sleep 100000 & done; exec sleep 100000" % (per_group - 1)
    procs = []
    for _ in range(groups):
        procs.append(
            subprocess.Popen(
                ["unshare", "--net", "--uts", "--ipc", "--mount", "sh", "-c", script],
                start_new_session=True,
                stdin=subprocess.DEVNULL,
            )
        )
    return procs


def wait_for_processes(procs: list[subprocess.Popen], per_group: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    want = len(procs) * per_group
    while time.monotonic() < deadline:
        have = 0
        for p in procs:
            out = subprocess.run(["pgrep", "-s", str(p.pid)], capture_output=True, text=True)
            have += len(out.stdout.split())
        if have >= want:
            return
        time.sleep(0.2)
    raise SystemExit(f"only started {have} of {want} processes")


def stop_groups(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in procs:
        p.wait()


def time_command(argv: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, check=True).stdout
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--per-group", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the benchmark creates namespaces", file=sys.stderr)
        return 2
    if not shutil.which("lsns"):
        print("lsns not found (util-linux)", file=sys.stderr)
        return 2
    # SIGTERM/SIGHUP unwind through the finally below, so no sleeper is left behind.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    nsview = [*nsview_command(), "dump", "--json", "--no-net"]
    lsns = ["lsns", "-J"]
    procs = start_groups(args.groups, args.per_group)
    try:
        wait_for_processes(procs, args.per_group)
        runs: dict[str, list[float]] = {"nsview": [], "lsns": []}
        outputs: dict[str, bytes] = {}
        time_command(nsview)  # warm the page cache for both
        time_command(lsns)
        for _ in range(args.rounds):
            for name, argv in (("nsview", nsview), ("lsns", lsns)):
                seconds, outputs[name] = time_command(argv)
                runs[name].append(seconds)
        nsview_found = len(json.loads(outputs["nsview"])["namespaces"])
        lsns_found = len(json.loads(outputs["lsns"])["namespaces"])
    finally:
        stop_groups(procs)
    med = {name: statistics.median(times) for name, times in runs.items()}
    ratio = med["nsview"] / med["lsns"]
    print(f"host: {args.groups} groups x {args.per_group} processes, {args.rounds} rounds")
    print(f"nsview dump --json --no-net  median {med['nsview'] * 1000:7.1f} ms  namespaces {nsview_found}")
    print(f"lsns -J                      median {med['lsns'] * 1000:7.1f} ms  namespaces {lsns_found}")
    print(f"ratio nsview/lsns: {ratio:.2f} (goal <= 0.50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
