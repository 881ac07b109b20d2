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
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# What pip writes as the `nsview` console script.
LAUNCHER = """#!{python}
import re
import sys
from nsview.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def editable_command() -> list[str]:
    exe = Path(sys.executable).parent / "nsview"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nsview"]


def install_copy(target: Path) -> list[str]:
    """A copy of nsview laid out as `pip install .` leaves it, in a fresh venv.

    The dev venv's editable install adds a meta-path finder whose imports
    (pathlib, fnmatch, urllib…) cost ~20 ms per start; users run the plain
    install of the README. The package is byte-compiled as pip does: with
    PYTHONDONTWRITEBYTECODE=1 (this machine's default) a source-only copy would
    recompile nsview on every run. `dump --no-net` needs no third-party package.
    """
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    shutil.copytree(REPO / "nsview", Path(purelib) / "nsview",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([python, "-m", "compileall", "-q", Path(purelib) / "nsview"], check=True)
    exe = target / "bin" / "nsview"
    exe.write_text(LAUNCHER.format(python=python))
    exe.chmod(0o755)
    return [str(exe)]


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


def time_command(argv: list[str]) -> tuple[float, float, bytes]:
    """(wall seconds, CPU seconds (user + system, its waited-for children too), stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, check=True).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def compile_editable() -> None:
    """Byte-compile the checkout an editable install runs from (see install_copy)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", REPO / "nsview"], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--per-group", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--editable",
        action="store_true",
        help="time the dev venv's editable nsview (slower start) instead of an installed copy",
    )
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
    tmp = tempfile.TemporaryDirectory(prefix="nsview-bench-")
    if args.editable:
        compile_editable()
        exe = editable_command()
    else:
        exe = install_copy(Path(tmp.name) / "venv")
    nsview = [*exe, "dump", "--json", "--no-net"]
    version = [*exe, "--version"]
    lsns = ["lsns", "-J"]
    commands = {"nsview": nsview, "lsns": lsns, "start": version}
    procs = start_groups(args.groups, args.per_group)
    try:
        wait_for_processes(procs, args.per_group)
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        ratios: list[float] = []
        outputs: dict[str, bytes] = {}
        for argv in commands.values():  # warm the page and dentry caches
            time_command(argv)
        for i in range(args.rounds):
            # Alternate who goes first: the machine's load drifts within a round too.
            order = ["nsview", "lsns"] if i % 2 == 0 else ["lsns", "nsview"]
            for name in [*order, "start"]:
                seconds, cpu_seconds, outputs[name] = time_command(commands[name])
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
            ratios.append(wall["nsview"][-1] / wall["lsns"][-1])
        processes = len(json.loads(outputs["nsview"])["processes"])
        nsview_found = len(json.loads(outputs["nsview"])["namespaces"])
        lsns_found = len(json.loads(outputs["lsns"])["namespaces"])
    finally:
        stop_groups(procs)
        tmp.cleanup()
    med = {name: statistics.median(times) for name, times in wall.items()}
    cpu_med = {name: statistics.median(times) for name, times in cpu.items()}
    ratio = med["nsview"] / med["lsns"]
    print(f"host: {args.groups} groups x {args.per_group} processes ({processes} in all),"
          f" {args.rounds} rounds")
    kind = "editable dev install" if args.editable else "a copy installed as `pip install .` does"
    print(f"nsview: {kind}, byte-compiled")
    rows = (
        ("nsview dump --json --no-net", "nsview", f"  namespaces {nsview_found}"),
        ("lsns -J", "lsns", f"  namespaces {lsns_found}"),
        ("nsview --version (start-up)", "start", ""),
    )
    for label, name, extra in rows:
        print(f"{label:28s} median {med[name] * 1000:7.1f} ms  cpu {cpu_med[name] * 1000:6.1f} ms"
              + extra)
    print(f"per-round ratios: {' '.join(f'{r:.2f}' for r in ratios)}")
    print(f"ratio nsview/lsns: {ratio:.2f} (median wall times; goal <= 0.50)")
    print(f"cpu ratio nsview/lsns: {cpu_med['nsview'] / cpu_med['lsns']:.2f} (nsview uses 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
