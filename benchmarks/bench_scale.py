#!/usr/bin/env python3
"""nsview side by side with lsns and the shell loop, on hosts of several sizes.

Two modes, both as root, everything they make named nsvb… and removed on exit
(also on Ctrl-C or SIGTERM):

``host`` (default): the "1,000 mount namespaces" host. NETNS network namespaces
(default 100) on a hub bridge, each with a veth, an address, a default route
and two NAT rules (iptables), and PROCS processes (default 1,000) started
through ``ip netns exec``, which gives each its own mount namespace holding a
copy of the host's mount table (so each sees ~NETNS nsfs mounts). Then, in
ONE run, alternating who goes first, times every pair and prints medians,
peak memory and median ratios against the goals of issue 13:

    dump --json --no-net            vs lsns -J                   goal <= 1.0
    dump --json                     vs the shell loop            goal <= 0.8
    dump --json --no-net --type net vs lsns -J -t net
    dump --json --no-net --pid P    vs lsns -J -p P
    net NAME --json                 (one netns)                  goal <= 0.15 s
    dump (the readable tree)        vs dump --json               goal <= 1.5

``--containers``: instead of ``ip netns exec``, 100 container-like groups of
10 processes (each group its own net, uts, ipc, mount namespace), the host of
bench_collect.py, where the goal of ``dump --json --no-net`` is <= 0.5 of lsns.

``curve``: the scale curve. Time and peak memory of nsview (and of the tool it
is compared with) on 1k, 5k, 10k processes; 100, 500, 1,000 network
namespaces (full dump vs the shell loop); 100 and 1,000 mount namespaces.

nsview runs as users run it: a copy of this checkout laid out as
``pip install .`` leaves it (byte-compiled, no editable-install finder; the
third-party packages come from the dev venv).

    python benchmarks/bench_scale.py [host] [--netns 100] [--procs 1000] [--rounds 5]
    python benchmarks/bench_scale.py host --containers
    python benchmarks/bench_scale.py curve [--rounds 3] [--only processes,netns,mntns]
    python benchmarks/bench_scale.py hold      # build the host and keep it, for profiling
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEV_VENV = REPO / ".venv"
PREFIX = "nsvb"

# What pip writes as the `nsview` console script.
LAUNCHER = """#!{python}
import re
import sys
from nsview.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""

# The loop a user would write instead of a full `nsview dump --json`.
LOOP = r"""
for ns in $(ip netns list | awk '{print $1}'); do
  ip -n "$ns" -j -batch - >/dev/null <<EOF
link show
addr show
route show table all
rule show
EOF
  ip netns exec "$ns" iptables-save -t nat >/dev/null
done
"""

# ip's own netns names (the loop reads every named one; ours are the only ones made here).
NETNS_DIR = "/run/netns"


def sh(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)


def install_copy(target: Path) -> str:
    """An nsview laid out as `pip install .` leaves it, in a fresh venv; returns its script."""
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shutil.copytree(
        REPO / "nsview", Path(purelib) / "nsview", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        REPO / "themes", Path(purelib) / "nsview" / "themes",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    subprocess.run([python, "-m", "compileall", "-q", Path(purelib) / "nsview"], check=True)
    # rich, textual… from the dev venv, after this venv's own nsview on sys.path.
    dev_purelib = next((DEV_VENV / "lib").glob("python3*/site-packages"))
    (Path(purelib) / "nsview-bench-deps.pth").write_text(f"{dev_purelib}\n")
    exe = target / "bin" / "nsview"
    exe.write_text(LAUNCHER.format(python=python))
    exe.chmod(0o755)
    return str(exe)


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall s, cpu s) of ``argv`` and the children it waited for."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


def peak_rss(argv: list[str]) -> int:
    """Peak RSS in kB of the largest process of ``argv``'s tree, through GNU time.

    Not from our own wait4: a child forked from this Python starts with its
    parent's resident pages counted, and exec keeps that high-water mark.
    """
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return int(out.read().split()[-1])


class Host:
    """Network namespaces, processes and groups named nsvb…, removed by destroy()."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:4]
        self.hub = f"{PREFIX}h-{self.tag}"
        self.netns: list[str] = []
        self.sessions: list[subprocess.Popen] = []

    # -- network namespaces on a bridge, as bench_net.py builds them
    def add_netns(self, count: int) -> None:
        names = [f"{PREFIX}{i:04d}-{self.tag}" for i in range(len(self.netns), count)]
        first = not self.netns
        batch = ([self.hub] if first else []) + names
        sh("ip", "-batch", "-", stdin="".join(f"netns add {n}\n" for n in batch))
        self.netns += names
        if first:
            sh("ip", "-n", self.hub, "-batch", "-", stdin=(
                "link add br0 type bridge\naddr add 100.64.0.1/10 dev br0\nlink set br0 up\n"
                "link set lo up\n"
            ))
        start = len(self.netns) - len(names)

        def one(i: int) -> None:
            ns = self.netns[i]
            addr = f"100.64.{1 + i // 250}.{1 + i % 250}"
            sh("ip", "-n", ns, "-batch", "-", stdin=(
                f"link add eth0 type veth peer name v{i:04d} netns {self.hub}\n"
                f"addr add {addr}/10 dev eth0\nlink set eth0 up\nlink set lo up\n"
                "route add default via 100.64.0.1\n"
            ))
            sh("ip", "netns", "exec", ns, "iptables-restore", "--noflush", stdin=(
                "*nat\n-A POSTROUTING -o eth0 -j MASQUERADE\n"
                f"-A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination {addr}:80\n"
                "COMMIT\n"
            ))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(start, len(self.netns))))
        sh("ip", "-n", self.hub, "-batch", "-", stdin="".join(
            f"link set v{i:04d} master br0\nlink set v{i:04d} up\n"
            for i in range(start, len(self.netns))
        ))

    # -- processes
    def _session(self, argv: list[str]) -> None:
        self.sessions.append(
            subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL)
        )

    def add_netns_exec_processes(self, count: int) -> None:
        """``count`` sleeps, each through ``ip netns exec`` (its own mount namespace)."""
        for i in range(count):
            self._session(["ip", "netns", "exec", self.netns[i % len(self.netns)],
                           "sleep", "100000"])

    def add_plain_processes(self, count: int, per_session: int = 250) -> None:
        """``count`` sleeps in the host's namespaces, in sessions of ``per_session``."""
        while count > 0:
            n = min(count, per_session)
            self._session(["sh", "-c",
                           f"for i in $(seq {n - 1}); do sleep 100000 & done; exec sleep 100000"])
            count -= n

    def add_mount_namespaces(self, count: int) -> None:
        """``count`` sleeps, each in its own mount namespace (a copy of the host's table)."""
        for _ in range(count):
            self._session(["unshare", "--mount", "sleep", "100000"])

    def add_containers(self, groups: int, per_group: int) -> None:
        script = f"for i in $(seq {per_group - 1}); do sleep 100000 & done; exec sleep 100000"
        for _ in range(groups):
            self._session(["unshare", "--net", "--uts", "--ipc", "--mount", "sh", "-c", script])

    def wait_settled(self, want: int, timeout: float = 120) -> int:
        """Wait until the sessions hold ``want`` sleeps in all; returns how many."""
        deadline = time.monotonic() + timeout
        have = 0
        while time.monotonic() < deadline:
            have = self.count_sleeps()
            if have >= want:
                return have
            time.sleep(0.3)
        raise SystemExit(f"only {have} of {want} processes started")

    def count_sleeps(self) -> int:
        sids = {p.pid for p in self.sessions}
        have = 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) in sids and fields[0] != "Z":  # field 6: session id
                with contextlib.suppress(OSError), open(f"/proc/{name}/comm") as f:
                    have += f.read().strip() == "sleep"
        return have

    def stop_processes(self) -> None:
        for p in self.sessions:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in self.sessions:
            p.wait()
        self.sessions = []

    def destroy(self) -> None:
        self.stop_processes()
        names = [*self.netns, self.hub] if self.netns else []
        if names:
            subprocess.run(
                ["ip", "-force", "-batch", "-"], text=True, capture_output=True,
                input="".join(f"netns del {n}\n" for n in names),
            )
        self.netns = []


def leftovers() -> list[str]:
    """nsvb network namespaces of an earlier run that died without cleaning up."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(PREFIX))
    except FileNotFoundError:
        return []


class Table:
    """Side-by-side rounds: every command once per round, the order rotated each round."""

    rt = False  # run each command under chrt -f 10 (set from --rt)

    def __init__(self, commands: dict[str, list[str]]) -> None:
        if self.rt:
            commands = {name: ["chrt", "-f", "10", *argv] for name, argv in commands.items()}
        self.commands = commands
        self.wall: dict[str, list[float]] = {n: [] for n in commands}
        self.cpu: dict[str, list[float]] = {n: [] for n in commands}
        self.rss: dict[str, int] = {}

    def run(self, rounds: int) -> None:
        names = list(self.commands)
        for name in names:  # warms the page and dentry caches too
            self.rss[name] = peak_rss(self.commands[name])
        for i in range(rounds):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                wall, cpu = timed(self.commands[name])
                self.wall[name].append(wall)
                self.cpu[name].append(cpu)

    def median(self, name: str) -> float:
        return statistics.median(self.wall[name])

    def ratio(self, a: str, b: str) -> float:
        """Median of the per-round ratios a/b (both ran in the same round)."""
        return statistics.median(x / y for x, y in zip(self.wall[a], self.wall[b], strict=True))

    def print_rows(self) -> None:
        for name in self.commands:
            print(
                f"  {name:34s} median {self.median(name) * 1000:7.1f} ms"
                f"  min {min(self.wall[name]) * 1000:7.1f}"
                f"  cpu {statistics.median(self.cpu[name]) * 1000:7.1f} ms"
                f"  peak {self.rss[name] / 1024:6.1f} MB"
            )


def check_goal(label: str, value: float, goal: float, unit: str = "") -> None:
    verdict = "met" if value <= goal else "NOT met"
    print(f"  {label:48s} {value:6.2f}{unit}  goal <= {goal}{unit}: {verdict}")


def host_mode(args, exe: str) -> int:
    host = Host()
    try:
        t0 = time.perf_counter()
        if args.containers:
            host.add_containers(args.procs // 10, 10)
            want = args.procs
        else:
            host.add_netns(args.netns)
            host.add_netns_exec_processes(args.procs)
            want = args.procs
        have = host.wait_settled(want)
        how = ("container-like groups" if args.containers
               else "each process through ip netns exec, its own mount namespace")
        print(f"built in {time.perf_counter() - t0:.1f} s: {have} processes,"
              f" {len(host.netns)} netns ({how})")
        found = json.loads(subprocess.run([exe, "dump", "--json", "--no-net"],
                                          capture_output=True, check=True).stdout)
        lsns_found = json.loads(subprocess.run(["lsns", "-J"], capture_output=True,
                                               check=True).stdout)
        print(f"nsview finds {len(found['namespaces'])} namespaces and"
              f" {len(found['processes'])} processes; lsns {len(lsns_found['namespaces'])}")
        pid = host.sessions[len(host.sessions) // 2].pid
        commands = {
            "nsview dump --json --no-net": [exe, "dump", "--json", "--no-net"],
            "lsns -J": ["lsns", "-J"],
            "nsview dump --json --no-net --type net": [exe, "dump", "--json", "--no-net",
                                                       "--type", "net"],
            "lsns -J -t net": ["lsns", "-J", "-t", "net"],
            "nsview dump --json --no-net --pid P": [exe, "dump", "--json", "--no-net",
                                                    "--pid", str(pid)],
            "lsns -J -p P": ["lsns", "-J", "-p", str(pid)],
            "floor: every mount table, read only": [sys.executable, "-S", "-c", MOUNT_TABLES_ONLY],
        }
        if host.netns:
            commands |= {
                "nsview dump --json": [exe, "dump", "--json"],
                "shell loop (ip -j -batch + iptables-save)": ["bash", "-c", LOOP],
                "nsview net NAME --json": [exe, "net", host.netns[len(host.netns) // 2],
                                           "--json"],
                "nsview dump (readable tree)": [exe, "dump"],
            }
        table = Table(commands)
        table.run(args.rounds)
        print(f"{args.rounds} rounds, order rotated each round; median wall, min, cpu;"
              " peak RSS of the largest process:")
        table.print_rows()
        print("median of the per-round ratios:")
        goal = 0.5 if args.containers else 1.0
        check_goal("dump --json --no-net / lsns -J", table.ratio(
            "nsview dump --json --no-net", "lsns -J"), goal)
        print(f"  {'dump --type net / lsns -t net':48s} "
              f"{table.ratio('nsview dump --json --no-net --type net', 'lsns -J -t net'):6.2f}")
        print(f"  {'dump --pid P / lsns -p P':48s} "
              f"{table.ratio('nsview dump --json --no-net --pid P', 'lsns -J -p P'):6.2f}")
        floor = table.ratio("floor: every mount table, read only", "lsns -J")
        print(f"  {'floor: reading every mount table / lsns -J':48s} {floor:6.2f}"
              "  (2 processes, nothing parsed: the least any collector that finds bind"
              " mounts in every mount namespace pays)")
        if host.netns:
            check_goal("dump --json / shell loop", table.ratio(
                "nsview dump --json", "shell loop (ip -j -batch + iptables-save)"), 0.8)
            check_goal("net NAME (median seconds)", table.median("nsview net NAME --json"),
                       0.15, " s")
            check_goal("readable tree / dump --json", table.ratio(
                "nsview dump (readable tree)", "nsview dump --json"), 1.5)
        if args.tui:
            report_tui(str(Path(exe).parent / "python"), args.tui_seconds)
        return 0
    finally:
        host.destroy()


# The TUI as `nsview` starts it (make_app, live source, default interval), headless:
# time to the first snapshot shown, then the CPU it uses while refreshing.
TUI_PROBE = r"""
import asyncio, json, resource, sys, time
t0 = time.perf_counter()
from nsview.cli.tui_options import DEFAULT_INTERVAL
from nsview.tui.factory import AppOptions, SnapshotSource, make_app

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime

async def main(seconds):
    app = make_app(AppOptions(source=SnapshotSource.host(), interval=DEFAULT_INTERVAL))
    async with app.run_test(size=(160, 50)) as pilot:
        while app.collections < 1:
            await asyncio.sleep(0.005)
        first = time.perf_counter() - t0  # the quick first look (processes, namespaces)
        while app.collections < 2:
            await asyncio.sleep(0.005)
        full = time.perf_counter() - t0  # the full collection
        await pilot.pause()
        start_cpu, start = cpu(), time.perf_counter()
        seen = app.collections
        while time.perf_counter() - start < seconds:
            await asyncio.sleep(0.1)
        used = cpu() - start_cpu
        wall = time.perf_counter() - start
        print(json.dumps({"first": first, "full": full, "cpu": used, "wall": wall,
                          "refreshes": app.collections - seen,
                          "interval": DEFAULT_INTERVAL}))

asyncio.run(main(float(sys.argv[1])))
"""

# One collection cold, then refreshes of an unchanged host, in this process, timed
# by CPU (what a refresh costs the node), as the TUI's worker thread runs them.
REFRESH_PROBE = r"""
import json, sys, threading, time
from nsview.collect import CollectOptions, collect_snapshot
from nsview.collect.incremental import IncrementalCollector

out = {}
def run():
    cold = []
    for _ in range(3):
        t = time.process_time()
        collect_snapshot(CollectOptions())
        cold.append(time.process_time() - t)
    c = IncrementalCollector(CollectOptions())
    c.collect()
    refresh = []
    for _ in range(int(sys.argv[1])):
        t = time.process_time()
        c.collect()
        refresh.append(time.process_time() - t)
    out.update(cold=sorted(cold)[1], refresh=sorted(refresh)[len(refresh) // 2],
               netns_read=len(c.network.last_read), reread=c.walk.reread)
th = threading.Thread(target=run); th.start(); th.join()
print(json.dumps(out))
"""


def probe(python: str, script: str, arg: float) -> dict:
    # cwd "/": "python -c" would import the checkout in the current directory instead
    done = subprocess.run([python, "-c", script, str(arg)], capture_output=True, text=True,
                          cwd="/")
    if done.returncode != 0:
        raise SystemExit(f"probe failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_tui(python: str, seconds: float) -> None:
    refresh = probe(python, REFRESH_PROBE, 5)
    print("TUI (the live source, as `nsview` runs it):")
    print(f"  cold collection {refresh['cold'] * 1000:.0f} ms cpu; refresh of an unchanged host"
          f" {refresh['refresh'] * 1000:.0f} ms cpu ({refresh['netns_read']} netns and"
          f" {refresh['reread']} processes read again)")
    check_goal("refresh / cold collection (cpu)", refresh["refresh"] / refresh["cold"], 0.2)
    tui = probe(python, TUI_PROBE, seconds)
    check_goal("first paint with data (s, from start)", tui["first"], 1.0, " s")
    print(f"  (processes and namespaces; the full collection, network too, at {tui['full']:.2f} s)")
    share = tui["cpu"] / tui["wall"] * 100
    print(f"  {tui['refreshes']} refreshes in {tui['wall']:.0f} s at the default"
          f" {tui['interval']:.0f} s interval")
    check_goal("TUI share of one core, refreshing (%)", share, 3.0, " %")


# The floor of finding bind mounts in every mount namespace: read each mount
# namespace's table once, split over two processes as nsview does, nothing else.
MOUNT_TABLES_ONLY = r"""
import os
seen, pids = set(), []
for name in os.listdir("/proc"):
    if name.isdigit():
        try:
            inode = os.stat(f"/proc/{name}/ns/mnt").st_ino
        except OSError:
            continue
        if inode not in seen:
            seen.add(inode)
            pids.append(name)
def read(names):
    for name in names:
        try:
            fd = os.open(f"/proc/{name}/mountinfo", os.O_RDONLY)
        except OSError:
            continue
        try:
            while os.read(fd, 65536):
                pass
        except OSError:
            pass
        os.close(fd)
half = len(pids) // 2
if os.fork() == 0:
    read(pids[half:])
    os._exit(0)
read(pids[:half])
os.wait()
"""


def hold_mode(args) -> int:
    """Build the host of ``host`` mode and keep it until interrupted (for profiling)."""
    host = Host()
    try:
        host.add_netns(args.netns)
        host.add_netns_exec_processes(args.procs)
        host.wait_settled(args.procs)
        print(f"holding {args.procs} processes, {len(host.netns)} netns; Ctrl-C or SIGTERM"
              " removes them", flush=True)
        signal.pause()
    finally:
        host.destroy()
    return 0


CURVES = {
    # name: (sizes, how to build, nsview argv tail, the alternative)
    "processes": ((1000, 5000, 10000), "plain", ["dump", "--json", "--no-net"], ["lsns", "-J"]),
    "netns": ((100, 500, 1000), "netns", ["dump", "--json"], ["bash", "-c", LOOP]),
    "mntns": ((100, 1000), "mntns", ["dump", "--json", "--no-net"], ["lsns", "-J"]),
}


def curve_mode(args, exe: str) -> int:
    only = args.only.split(",") if args.only else list(CURVES)
    rows = []
    for name in only:
        sizes, kind, tail, other = CURVES[name]
        host = Host()
        try:
            if kind == "mntns":  # mount namespaces each seeing the nsfs mounts of 100 netns
                host.add_netns(100)
            for size in sizes:
                host.stop_processes()
                if kind == "plain":
                    host.add_plain_processes(size)
                    host.wait_settled(size)
                elif kind == "mntns":
                    host.add_netns_exec_processes(size)
                    host.wait_settled(size)
                else:
                    host.add_netns(size)
                    host.add_netns_exec_processes(size)
                    host.wait_settled(size)
                table = Table({"nsview": [exe, *tail], "other": other})
                table.run(args.rounds)
                row = (name, size, table.median("nsview"), table.rss["nsview"],
                       table.median("other"), table.rss["other"],
                       table.ratio("nsview", "other"))
                rows.append(row)
                print(f"{name:9s} {size:6d}  nsview {row[2]:7.3f} s {row[3] / 1024:6.1f} MB"
                      f"  {' '.join(other[:2]):10s} {row[4]:7.3f} s {row[5] / 1024:6.1f} MB"
                      f"  ratio {row[6]:.2f}", flush=True)
        finally:
            host.destroy()
    print("\n| curve | size | nsview | peak | alternative | its peak | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, size, t, rss, ot, orss, ratio in rows:
        print(f"| {name} | {size:,} | {t * 1000:.0f} ms | {rss / 1024:.0f} MB |"
              f" {ot * 1000:.0f} ms | {orss / 1024:.0f} MB | {ratio:.2f} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=("host", "curve", "hold"), default="host")
    parser.add_argument("--netns", type=int, default=100)
    parser.add_argument("--procs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--containers", action="store_true",
                        help="host: 100 container-like groups instead of ip netns exec")
    parser.add_argument("--only", help="curve: a comma-separated subset of " + ",".join(CURVES))
    parser.add_argument("--tui", action="store_true",
                        help="host: also the TUI's first paint, refresh cost and CPU share")
    parser.add_argument("--tui-seconds", type=float, default=31.0,
                        help="how long the TUI's CPU share is measured (default 31 s)")
    parser.add_argument("--rt", action="store_true",
                        help="run every timed command under SCHED_FIFO (chrt): less noise from"
                        " other jobs on a shared machine")
    parser.add_argument("--editable", action="store_true",
                        help="time the dev venv's editable nsview instead of an installed copy")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the benchmark creates namespaces", file=sys.stderr)
        return 2
    if leftovers():
        print(f"remove the netns of an earlier run first: {' '.join(leftovers()[:5])} …",
              file=sys.stderr)
        return 2

    def interrupted(*_):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    Table.rt = args.rt
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as tmp:
        exe = str(DEV_VENV / "bin" / "nsview") if args.editable else install_copy(
            Path(tmp) / "venv")
        try:
            if args.mode == "hold":
                return hold_mode(args)
            return host_mode(args, exe) if args.mode == "host" else curve_mode(args, exe)
        except KeyboardInterrupt:
            print("interrupted; cleaned up", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
