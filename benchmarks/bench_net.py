#!/usr/bin/env python3
"""nsview dump --json against the shell loop a user would write, on 100 netns.

Builds (inside test namespaces only; the root netns is not touched):

    nsvtbh-TAG: bridge br0 10.200.0.1/16
    nsvtb000-TAG … nsvtb099-TAG: eth0 (veth, peer is a br0 port), 10.200.x.y/16,
        default route via br0, two NAT rules (iptables, nft backend: a MASQUERADE
        and a DNAT), one `sleep` process inside.

Then, for several rounds, times
  - nsview:  .venv/bin/nsview dump --json >/dev/null          (every namespace on the host)
  - loop:    for each `ip netns` name: ip -n NS -j -batch (links, addresses, routes
             of all tables, rules) + ip netns exec NS iptables-save -t nat
and prints the medians and their ratio. Everything is removed in `finally`,
also on Ctrl-C or SIGTERM.

With ``--filter`` every benchmark netns also gets a filter table (FORWARD
policy DROP, a conntrack and a commented rule) and its process listens on TCP
port 80 (python instead of sleep), so sockets and filter rules have something
to read. ``--against OTHER_CHECKOUT`` times that checkout's
``.venv/bin/nsview dump --json`` too, alternating with this one's on the same
topology, and prints the ratio (how much a change costs).

Run as root:  .venv/bin/python benchmarks/bench_net.py [--netns 100] [--rounds 5]
              [--filter] [--against /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NSVIEW = REPO / ".venv" / "bin" / "nsview"

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


FILTER_RULES = (
    "*filter\n"
    ":FORWARD DROP [0:0]\n"
    "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
    '-A INPUT -p tcp -m tcp --dport 80 -m comment --comment "web" -j ACCEPT\n'
    "COMMIT\n"
)
LISTENER = (
    "import socket, time\n"
    "s = socket.socket(); s.bind(('0.0.0.0', 80)); s.listen()\n"
    "time.sleep(3600)\n"
)


def sh(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)


class Topology:
    def __init__(self, count: int, filter_rules: bool = False) -> None:
        self.filter_rules = filter_rules
        tag = uuid.uuid4().hex[:4]
        self.hub = f"nsvtbh-{tag}"
        self.names = [f"nsvtb{i:03d}-{tag}" for i in range(count)]
        self.sleepers: list[subprocess.Popen] = []

    def build(self) -> None:
        sh("ip", "-batch", "-", stdin="".join(f"netns add {n}\n" for n in [self.hub, *self.names]))
        sh(
            "ip",
            "-n",
            self.hub,
            "-batch",
            "-",
            stdin=(
                "link add br0 type bridge\naddr add 10.200.0.1/16 dev br0\nlink set br0 up\n"
                "link set lo up\n"
            ),
        )

        def one(i: int) -> None:
            ns = self.names[i]
            addr = f"10.200.{1 + i // 250}.{1 + i % 250}"
            sh(
                "ip",
                "-n",
                ns,
                "-batch",
                "-",
                stdin=(
                    f"link add eth0 type veth peer name v{i:03d} netns {self.hub}\n"
                    f"addr add {addr}/16 dev eth0\nlink set eth0 up\nlink set lo up\n"
                    "route add default via 10.200.0.1\n"
                ),
            )
            sh(
                "ip",
                "netns",
                "exec",
                ns,
                "iptables-restore",
                "--noflush",
                stdin=(
                    "*nat\n"
                    "-A POSTROUTING -o eth0 -j MASQUERADE\n"
                    f"-A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination {addr}:80\n"
                    "COMMIT\n"
                )
                + (FILTER_RULES if self.filter_rules else ""),
            )

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(len(self.names))))
        sh(
            "ip",
            "-n",
            self.hub,
            "-batch",
            "-",
            stdin="".join(
                f"link set v{i:03d} master br0\nlink set v{i:03d} up\n"
                for i in range(len(self.names))
            ),
        )
        inside = [sys.executable, "-c", LISTENER] if self.filter_rules else ["sleep", "3600"]
        for ns in self.names:
            self.sleepers.append(
                subprocess.Popen(["ip", "netns", "exec", ns, *inside], start_new_session=True)
            )

    def destroy(self) -> None:
        for p in self.sleepers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        subprocess.run(
            ["ip", "-force", "-batch", "-"],
            text=True,
            capture_output=True,
            input="".join(f"netns del {n}\n" for n in [*self.names, self.hub]),
        )


def time_it(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--netns", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--filter", action="store_true", help="filter rules and a listener too")
    parser.add_argument("--against", type=Path, help="another checkout to time alternately")
    args = parser.parse_args()
    other = args.against / ".venv" / "bin" / "nsview" if args.against else None
    if other is not None and not other.exists():
        print(f"bench_net: {other} missing", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench_net: needs root", file=sys.stderr)
        return 2
    if not NSVIEW.exists():
        print(f"bench_net: {NSVIEW} missing (pip install -e . in .venv)", file=sys.stderr)
        return 2

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    topo = Topology(args.netns, args.filter)
    try:
        t0 = time.perf_counter()
        topo.build()
        print(f"built {args.netns} netns on a bridge in {time.perf_counter() - t0:.1f}s")
        # Sanity: the topology is what we claim, as nsview sees it.
        out = subprocess.run(
            [str(NSVIEW), "dump", "--json"], capture_output=True, text=True, check=True
        )
        data = json.loads(out.stdout)
        nets = [ns for ns in data["namespaces"] if ns["type"] == "net" and ns.get("net")]
        our_inodes = {os.stat(f"/run/netns/{n}").st_ino for n in topo.names}
        ours = [ns for ns in nets if ns["inode"] in our_inodes]
        nat_rules = sum(
            len(c["rules"]) for ns in ours for t in ns["net"]["nat"] for c in t["chains"]
        )
        peers = sum(
            1
            for ns in ours
            for i in ns["net"]["interfaces"]
            if i.get("peer") and i["peer"]["status"] == "resolved"
        )
        named = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        ).stdout.count("\n")
        print(
            f"nsview reads {len(nets)} netns ({len(ours)} of the benchmark's; "
            f"{nat_rules} NAT rules, {peers} resolved peers); the loop reads {named} named"
        )
        nsview_times, loop_times, other_times = [], [], []
        for _ in range(args.rounds):
            nsview_times.append(time_it([str(NSVIEW), "dump", "--json"]))
            if other is not None:
                other_times.append(time_it([str(other), "dump", "--json"]))
            loop_times.append(time_it(["bash", "-c", LOOP]))
        n_med, l_med = statistics.median(nsview_times), statistics.median(loop_times)
        print(
            "nsview dump --json: "
            + " ".join(f"{t:.2f}" for t in nsview_times)
            + f"  median {n_med:.2f}s"
        )
        print(
            "shell loop:         "
            + " ".join(f"{t:.2f}" for t in loop_times)
            + f"  median {l_med:.2f}s"
        )
        print(f"ratio nsview/loop = {n_med / l_med:.2f} (goal: <= 1.0)")
        if other is not None:
            o_med = statistics.median(other_times)
            print(
                f"{args.against}: "
                + " ".join(f"{t:.2f}" for t in other_times)
                + f"  median {o_med:.2f}s; this checkout / that one = {n_med / o_med:.2f}"
            )
        return 0
    except KeyboardInterrupt:
        print("bench_net: interrupted, cleaning up", file=sys.stderr)
        return 130
    finally:
        topo.destroy()


if __name__ == "__main__":
    sys.exit(main())
