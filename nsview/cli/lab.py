"""``nsview lab up|down|status|check``: the demo topology (see docs/lab.md)."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lab",
        help="build/tear down a Docker- and Kubernetes-like lab from real namespaces",
        description="A lab of real namespaces: two lab hosts, docker0 with NAT and a "
        "published port, host/container/none modes, a user-defined bridge, a vxlan "
        "overlay, macvlan, a Kubernetes pod, and hidden (bind-mount/fd-held) netns. "
        "Needs root; never touches the namespace it is started from. See docs/lab.md.",
    )
    p.set_defaults(handler=lambda args: p.error(
        "choose one of: up, down, status, check, break, fix"))
    lab_sub = p.add_subparsers(dest="lab_command", metavar="ACTION", parser_class=type(p))
    up = lab_sub.add_parser("up", help="build the lab (idempotent)")
    up.add_argument("--json", action="store_true", help="print the lab state as JSON")
    up.add_argument("--nodes", action="store_true",
                    help="make each lab host a node reachable by ssh (own pid/mount/uts "
                    "namespaces, a real sshd) for 'nsview fleet collect'; needs openssh-server")
    up.set_defaults(handler=_up)
    down = lab_sub.add_parser("down", help="remove everything the lab made (also after a crash)")
    down.set_defaults(handler=_down)
    status = lab_sub.add_parser("status", help="show what of the lab exists")
    status.add_argument("--json", action="store_true", help="JSON instead of text")
    status.set_defaults(handler=_status)
    check = lab_sub.add_parser("check", help="probe every lab path with real traffic")
    check.add_argument("--json", action="store_true", help="JSON instead of text")
    check.set_defaults(handler=_check)
    brk = lab_sub.add_parser("break", help="plant a fault for nsview doctor to find")
    brk.add_argument("fault", nargs="?", metavar="FAULT", help="the fault (see --list)")
    brk.add_argument("--list", action="store_true", help="list the faults and exit")
    brk.set_defaults(handler=_break)
    fix = lab_sub.add_parser("fix", help="undo a planted fault ('all': every one)")
    fix.add_argument("fault", metavar="FAULT", help="the fault, or 'all'")
    fix.set_defaults(handler=_fix)


def _print_state(lab, as_json: bool) -> None:
    if as_json:
        print(json.dumps(lab.to_dict(), indent=2))
        return
    print(f"lab: {lab.status}" + (f" (id {lab.lab_id}, since {lab.started})" if lab.lab_id
                                  else ""))
    for h in lab.hosts:
        print(f"  host {h['name']:6} netns {h['netns']}  hostname {h['hostname']}  "
              f"underlay {h['underlay_ip']}")
    if lab.containers:
        print(f"  {'NAME':11} {'COMM':14} {'MODE':12} {'HOST':6} {'PID':>7}  {'IP':15} STATE")
    for c in lab.containers:
        print(f"  {c.name:11} {c.comm:14} {c.mode:12} {c.host:6} {c.pid or '-':>7}  "
              f"{c.ip or '-':15} {'running' if c.alive else 'GONE'}")
    for ns in lab.netns:
        print(f"  netns held by {ns['holder']:10} {ns['path']}")
    if lab.pod and lab.pod.get("netns"):
        print(f"  pod {lab.pod['namespace']}/{lab.pod['name']} uid {lab.pod['uid']} "
              f"netns {lab.pod['netns']}")
    for key, node in lab.nodes.items():
        print(f"  node {key:6} sshd on {node['address']}:22  pid {node['pid']}  "
              f"{'running' if node['alive'] else 'GONE'}")
    if lab.nodes:
        from nsview.lab import topology as topo

        hosts = " ".join(n["hostname"] for n in lab.nodes.values())
        print(f"  collect them: ip netns exec {topo.OPS_NETNS} nsview fleet collect "
              f"--ssh-config {topo.SSH_CONFIG} {hosts}")
    if lab.cgroup_root:
        print(f"  cgroups under {lab.cgroup_root}")
    if lab.faults:
        print(f"  planted faults: {', '.join(lab.faults)} (undo: nsview lab fix FAULT)")
    for w in lab.warnings:
        print(f"  warning: {w}")
    for p in lab.problems:
        print(f"  problem: {p}")


def _up(args: argparse.Namespace) -> int:
    import signal

    from nsview.lab import lab_up

    def _stop(signum, _frame):
        raise SystemExit(128 + signum)  # lab_up rolls back on the way out

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        lab = lab_up(nodes=args.nodes)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if not args.json:
        print("lab built" if lab.changed else "lab already up; nothing changed")
    _print_state(lab, args.json)
    return 0


def _down(args: argparse.Namespace) -> int:
    from nsview.lab import _down as down

    rep = down()
    if rep.removed_anything:
        print(f"lab removed: {rep.processes} processes, {rep.mounts} mounts, "
              f"{rep.cgroups} cgroups, {rep.files} files/dirs")
    else:
        print("lab is not up; nothing to remove")
    if rep.exiting:
        print(f"still exiting: {', '.join(rep.exiting)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from nsview.lab import lab_status

    lab = lab_status()
    _print_state(lab, args.json)
    return 0 if lab.status != "partial" else 1


def _check(args: argparse.Namespace) -> int:
    from nsview.lab import lab_check

    results = lab_check()
    failed = [r for r in results if not r.ok]
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        width = max(len(r.name) for r in results)
        for r in results:
            print(f"{'PASS' if r.ok else 'FAIL'}  {r.name:{width}}  {r.path}")
            print(f"      {'expected ' + r.expect + ': ' if not r.ok else ''}{r.detail}")
        print(f"{len(results) - len(failed)}/{len(results)} paths as expected")
    return 1 if failed else 0


def _break(args: argparse.Namespace) -> int:
    from nsview.errors import UsageError
    from nsview.lab import faults

    if args.list:
        planted = set(faults.planted(faults.StateFile.load()))
        width = max(len(f.name) for f in faults.FAULTS)
        for f in faults.FAULTS:
            mark = "planted" if f.name in planted else "       "
            print(f"{f.name:{width}}  {mark}  {f.summary}")
        return 0
    if not args.fault:
        raise UsageError("name a fault to plant (see 'nsview lab break --list')")
    if faults.break_fault(args.fault):
        print(f"planted {args.fault}; 'nsview doctor --only {faults.fault(args.fault).check}' "
              "finds it, 'nsview lab fix' undoes it")
    else:
        print(f"{args.fault} is planted already")
    return 0


def _fix(args: argparse.Namespace) -> int:
    from nsview.lab import faults

    names = faults.planted(faults.StateFile.load()) if args.fault == "all" else [args.fault]
    for name in names:
        print(f"fixed {name}" if faults.fix_fault(name) else f"{name} is not planted")
    if not names:
        print("no fault is planted")
    return 0
