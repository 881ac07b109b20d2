#!/usr/bin/env python3
"""nsview dump --json --no-net vs lsns -J on a host with many containers.

Builds GROUPS groups of PER_GROUP processes, each group in its own net, uts,
ipc and mount namespaces (like containers), then times both tools side by side
for several rounds (alternating who goes first) and prints the medians, the
minimums and the ratio. Goal: nsview at most half of lsns's time while also
finding fd- and mount-held namespaces.

nsview is timed as users run it: a copy installed as `pip install .` leaves
it (byte-compiled, no editable-install finder); --editable times the dev
venv's console script instead (~20 ms slower to start). The machine is shared:
--rt runs both tools under SCHED_FIFO (chrt) so other jobs disturb less, and
--syscalls counts each tool's system calls once (strace -f -c).

Where the time goes (this 2-vCPU VM, ~1,070 processes, 408 namespaces; a
/proc system call costs ~4-10 us and a page fault ~2.4 us here, and other
jobs often hold a core; medians of quiet runs):
  lsns -J      ~63k system calls (a stat, open, ioctl, close per namespace link
               of every process): ~260-290 ms, nearly all of it in the kernel.
  nsview dump  ~28k system calls, ~23 per process: status, cmdline and cgroup
               (open/read/close each), 8 namespace links + pid/time_for_children
               (10 readlinks), the fd count (Linux 6.2+) and one readlink per
               fd. Timeline from the interpreter's start:
                 0-15 ms   interpreter and site;
                 ~19 ms    nsview.cli forks the walk's helper (collect.parallel),
                           which reads /proc from the front of the pid list;
                 ~19-60    the parent imports argparse, the model (dataclasses,
                           typing), json, and parses the command line;
                 ~60-125   the parent reads from the back until the two meet;
                 +5-8      merge; +5-8 mountinfo once per mount namespace (112);
                 +10-14    the nsfs ioctls (408 namespaces);
                 +25-35    JSON (to_dict ~10, json.dumps ~20: ~770 KB, in
                           memory the process touches for the first time).
               ~295 ms of CPU in all: the reads themselves ~143 (see --floor),
               the rest CPython (start, imports, parsing the files, objects,
               JSON) and ~6k page faults.
  --floor      the reads alone, no parsing or output, in `python -S`: ~0.48-0.54
               of lsns in one process, ~0.33 in two.
  Half of lsns (~135-145 ms) cannot be reached this way: even if all ~295 ms
  of CPU were spread perfectly over both cores after the 15 ms start, the run
  would take ~155 ms (~0.55). It needs about 70 ms less CPU than the reads plus
  CPython's own costs above, i.e. a collector that is not a CPython program.
  Tried without a gain measurable here: describing namespaces and reading
  mountinfo inside the two walk processes (the post-walk work shrinks, the
  walk grows about as much); dirfd-relative readlinks (~6% of the link reads);
  encoding the JSON in pieces or through json's default= hook; a shared cache
  of holder dicts (~1 ms).

Run as root: python benchmarks/bench_collect.py [--groups 100] [--per-group 10]
[--rounds 7] [--editable] [--rt] [--syscalls] [--floor] [--containers]
Everything it starts is killed on exit (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
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


# --floor: only the system calls nsview's walk makes for each process (status,
# cmdline, cgroup, the 8 namespace links and pid/time_for_children, the fd
# count and each fd link), with no parsing, model, merge or JSON, in a bare
# interpreter (-S: no site). argv[1] = "2" splits the pids over two processes
# as nsview does. What it takes is the least any Python collector reporting
# these fields can take here.
READS_ONLY = r"""
import os, sys
LINKS = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts",
         "pid_for_children", "time_for_children")
def read(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.read(fd, 65536)
    except OSError:
        pass
    os.close(fd)
def walk(pids):
    for pid in pids:
        base = "/proc/" + pid
        read(base + "/status")
        read(base + "/cmdline")
        read(base + "/cgroup")
        for name in LINKS:
            try:
                os.readlink(base + "/ns/" + name)
            except OSError:
                pass
        try:
            for fd in range(os.stat(base + "/fd").st_size):
                os.readlink(base + "/fd/" + str(fd))
        except OSError:
            pass
pids = [name for name in os.listdir("/proc") if name.isdigit()]
if sys.argv[1] == "2":
    half = len(pids) // 2
    child = os.fork()
    if child == 0:
        walk(pids[half:])
        os._exit(0)
    walk(pids[:half])
    os.waitpid(child, 0)
else:
    walk(pids)
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


def start_groups(
    groups: int, per_group: int, cgroups: list[Path] | None = None
) -> list[subprocess.Popen]:
    """``cgroups``: one per group, each group's processes start in it (--containers)."""
    script = f"for i in $(seq {per_group - 1}); do sleep 100000 & done; exec sleep 100000"
    procs = []
    for i in range(groups):
        enter = f"echo $$ > {cgroups[i]}/cgroup.procs && " if cgroups else ""
        procs.append(
            subprocess.Popen(
                ["unshare", "--net", "--uts", "--ipc", "--mount", "sh", "-c", enter + script],
                start_new_session=True,
                stdin=subprocess.DEVNULL,
            )
        )
    return procs


FIXTURE_ROOT = REPO / "tests" / "fixtures" / "docker-20.10"
FIXTURE_WEB = "4f78f02ede87054b556c46948a6bfbc338ea37c3545ca9a5746452dfacd31bd4"


def docker_like_groups(groups: int, base: Path) -> tuple[Path, list[Path]]:
    """--containers: a Docker data root (config.v2.json, hostconfig.json per
    container, the fixture's local-kv.db) and one docker-<id>.scope cgroup per
    group. Returns (data root, cgroups); the cgroups' parent is removed by
    remove_cgroups."""
    root = base / "docker"
    (root / "network" / "files").mkdir(parents=True)
    shutil.copy(FIXTURE_ROOT / "network" / "files" / "local-kv.db", root / "network" / "files")
    config = (FIXTURE_ROOT / "containers" / FIXTURE_WEB / "config.v2.json").read_text()
    host = (FIXTURE_ROOT / "containers" / FIXTURE_WEB / "hostconfig.json").read_text()
    unified = Path("/sys/fs/cgroup/unified")
    top = (unified if unified.is_dir() else Path("/sys/fs/cgroup")) / f"nsvtbench{os.getpid()}"
    top.mkdir()
    cgroups = []
    for i in range(groups):
        cid = hashlib.sha256(f"nsvt-bench-{i}".encode()).hexdigest()
        directory = root / "containers" / cid
        directory.mkdir(parents=True)
        (directory / "config.v2.json").write_text(
            config.replace(FIXTURE_WEB, cid).replace("/nsvtweb", f"/bench{i}")
        )
        (directory / "hostconfig.json").write_text(host)
        cgroup = top / f"docker-{cid}.scope"
        cgroup.mkdir()
        cgroups.append(cgroup)
    return root, cgroups


def remove_cgroups(cgroups: list[Path]) -> None:
    for path in [*cgroups, *({c.parent for c in cgroups})]:
        for _ in range(50):  # a killed process leaves its cgroup a moment later
            try:
                path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
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


def count_syscalls(argv: list[str]) -> int | None:
    """System calls made by ``argv`` and its children (strace -f -c), or None without strace."""
    if not shutil.which("strace"):
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as summary:
        subprocess.run(
            ["strace", "-f", "-c", "-o", summary.name, *argv], capture_output=True, check=True
        )
        for line in summary.read().splitlines():
            fields = line.split()
            if fields and fields[-1] == "total":
                return int(fields[3])  # % time, seconds, usecs/call, calls, [errors,] total
    return None


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
    parser.add_argument(
        "--rt", action="store_true", help="run both tools under SCHED_FIFO (less noise)"
    )
    parser.add_argument(
        "--syscalls", action="store_true", help="also count each tool's system calls (strace)"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time only the /proc reads nsview makes, in a bare interpreter (1 and 2 "
        "processes): the least a Python collector of these fields can take",
    )
    parser.add_argument(
        "--containers",
        action="store_true",
        help="make each group a Docker-like container (a docker-<id>.scope cgroup and its "
        "config.v2.json); dump --no-containers is always timed too: what attribution costs",
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
    # "plain": without container attribution, to show what attribution costs.
    commands = {"nsview": nsview, "lsns": lsns, "start": version,
                "plain": [*nsview, "--no-containers"]}
    cgroups: list[Path] = []
    if args.containers:
        data_root, cgroups = docker_like_groups(args.groups, Path(tmp.name))
        os.environ["NSVIEW_DOCKER_ROOTS"] = str(data_root)
    if args.floor:
        reads_only = [sys.executable, "-S", "-c", READS_ONLY]
        commands["reads1"] = [*reads_only, "1"]
        commands["reads2"] = [*reads_only, "2"]
    if args.rt:
        commands = {name: ["chrt", "-f", "10", *argv] for name, argv in commands.items()}
    syscalls: dict[str, int | None] = {}
    procs = start_groups(args.groups, args.per_group, cgroups or None)
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
            for name in [*order, *(name for name in commands if name not in order)]:
                seconds, cpu_seconds, outputs[name] = time_command(commands[name])
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
            ratios.append(wall["nsview"][-1] / wall["lsns"][-1])
        if args.syscalls:
            syscalls = {"nsview": count_syscalls(nsview), "lsns": count_syscalls(lsns)}
        processes = len(json.loads(outputs["nsview"])["processes"])
        containers = len(json.loads(outputs["nsview"]).get("containers", ()))
        nsview_found = len(json.loads(outputs["nsview"])["namespaces"])
        lsns_found = len(json.loads(outputs["lsns"])["namespaces"])
    finally:
        stop_groups(procs)
        remove_cgroups(cgroups)
        tmp.cleanup()
    med = {name: statistics.median(times) for name, times in wall.items()}
    best = {name: min(times) for name, times in wall.items()}
    cpu_med = {name: statistics.median(times) for name, times in cpu.items()}
    ratio = med["nsview"] / med["lsns"]
    print(f"host: {args.groups} groups x {args.per_group} processes ({processes} in all),"
          f" {args.rounds} rounds")
    kind = "editable dev install" if args.editable else "a copy installed as `pip install .` does"
    print(f"nsview: {kind}, byte-compiled{'; both under SCHED_FIFO' if args.rt else ''}")
    rows = [
        ("nsview dump --json --no-net", "nsview", f"  namespaces {nsview_found}"),
        ("lsns -J", "lsns", f"  namespaces {lsns_found}"),
        ("nsview --version (start-up)", "start", ""),
    ]
    if "plain" in med:
        rows.insert(1, ("  ... --no-containers", "plain",
                        f"  attribution +{(med['nsview'] / med['plain'] - 1) * 100:.1f}%"
                        f" ({containers} containers)"))
    if args.floor:
        for processes_used in (1, 2):
            name = f"reads{processes_used}"
            label = f"reads only, {processes_used} process{'es' if processes_used > 1 else ''}"
            rows.append((label, name, f"  ({med[name] / med['lsns']:.2f} of lsns)"))
    for label, name, extra in rows:
        if syscalls.get(name):
            extra += f"  syscalls {syscalls[name]}"
        print(f"{label:28s} median {med[name] * 1000:6.1f} ms  min {best[name] * 1000:6.1f} ms"
              f"  cpu {cpu_med[name] * 1000:6.1f} ms{extra}")
    print(f"per-round ratios: {' '.join(f'{r:.2f}' for r in ratios)}")
    print(f"ratio nsview/lsns: {ratio:.2f} (median wall times; goal <= 0.50);"
          f" of the minimums: {best['nsview'] / best['lsns']:.2f}")
    print(f"cpu ratio nsview/lsns: {cpu_med['nsview'] / cpu_med['lsns']:.2f} (nsview uses 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
