"""``nsview exec``, ``nsview unshare`` and ``nsview netns add|del``: join, create, delete.

Each prints the equivalent plain command (nsenter, unshare, ip netns) on
stderr as a ``# …`` comment line before acting, so it can be learnt and
copied; ``-q`` silences it. The work is done by :mod:`nsview.actions`.
"""

from __future__ import annotations

import argparse
import sys

EXEC_EPILOG = """\
TARGET is a PID, an 'ip netns' name (/run/netns/NAME) or the path of a
namespace file (/proc/PID/ns/net, /var/run/docker/netns/...). Default types:
for a PID, every namespace of it that differs from nsview's own; for a name
or path, the namespace it is. CMD defaults to $SHELL (else /bin/sh). The exit
status is CMD's (128+N when killed by signal N); 125: nsview could not set
up, 126: CMD not executable, 127: CMD not found.
"""

QUIET_HELP = "don't print the equivalent command"

UNSHARE_EPILOG = """\
user: root inside is mapped to your uid (like unshare -r). pid: CMD is pid 1
of the new pid namespace (with mnt too, a fresh /proc is mounted). mnt: mount
propagation is private. net: lo is brought up. --netns-name NAME also
bind-mounts the new netns at /run/netns/NAME (like 'ip netns add'), so it
outlives CMD; remove it with 'nsview netns del NAME'.
"""


def register(sub: argparse._SubParsersAction) -> None:
    types_help = "comma-separated: user,cgroup,ipc,uts,net,pid,mnt,time"
    p = sub.add_parser(
        "exec",
        help="run a command inside a process's or a named netns's namespaces (like nsenter)",
        description="Run CMD inside the namespaces of TARGET.",
        epilog=EXEC_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-t", "--target", required=True, help="PID, ip netns name, or nsfs file path")
    p.add_argument("--types", metavar="TYPES", help=f"namespaces to join, {types_help}")
    p.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="[--] CMD [ARGS...]")
    p.set_defaults(handler=run_exec)

    p = sub.add_parser(
        "unshare",
        help="run a command in new namespaces (like unshare), optionally as a named netns",
        description="Run CMD in new namespaces of the given types.",
        epilog=UNSHARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--types",
        metavar="TYPES",
        help=f"new namespaces, {types_help} (default with --netns-name: net)",
    )
    p.add_argument(
        "--netns-name", metavar="NAME", help="also keep the new netns as /run/netns/NAME"
    )
    p.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="[--] CMD [ARGS...]")
    p.set_defaults(handler=run_unshare)

    p = sub.add_parser(
        "netns",
        help="create or delete a named network namespace (like ip netns add/del)",
        description="Create or delete a named network namespace under /run/netns.",
    )
    p.set_defaults(handler=_netns_usage)
    netns_sub = p.add_subparsers(dest="netns_command", metavar="add|del", parser_class=type(p))
    add = netns_sub.add_parser("add", help="create an empty named netns with lo up")
    add.add_argument("name", metavar="NAME")
    add.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    add.set_defaults(handler=run_netns_add)
    delete = netns_sub.add_parser(
        "del",
        aliases=["delete"],
        help="delete a named netns (refused while processes are in it)",
        description=(
            "Remove /run/netns/NAME. Refused while processes are in the netns, unless --force:"
            " then only the name goes and the processes keep the netns alive, unnamed."
        ),
    )
    delete.add_argument("name", metavar="NAME")
    delete.add_argument(
        "--force",
        action="store_true",
        help="remove the name even if processes are inside (they keep the netns, unnamed)",
    )
    delete.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    delete.set_defaults(handler=run_netns_del)


def _command(args: argparse.Namespace) -> list[str]:
    argv = list(args.command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    return argv


def _show(args: argparse.Namespace, line: str) -> None:
    if not args.quiet:
        print(f"# {line}", file=sys.stderr, flush=True)


def _show_plan(args: argparse.Namespace, plan) -> None:
    """The plan's equivalent command, then its notes."""
    _show(args, plan.equivalent_line())
    for note in plan.notes:
        _show(args, f"note: {note}")


def run_exec(args: argparse.Namespace) -> int:
    from nsview.actions.join import run_join
    from nsview.actions.targets import parse_types, plan_join, resolve_target

    types = parse_types(args.types) if args.types is not None else None
    target = resolve_target(args.target)
    plan = plan_join(target, types, _command(args))
    _show_plan(args, plan)
    return run_join(plan)


def run_unshare(args: argparse.Namespace) -> int:
    from nsview.actions.create import run_unshare as do_unshare
    from nsview.actions.plans import plan_unshare
    from nsview.actions.targets import parse_types

    types = parse_types(args.types) if args.types is not None else None
    plan = plan_unshare(types, _command(args) or None, args.netns_name)
    _show_plan(args, plan)
    return do_unshare(plan)


def _netns_usage(args: argparse.Namespace) -> int:
    from nsview.errors import UsageError

    raise UsageError("netns needs a sub-command: add NAME or del NAME")


def run_netns_add(args: argparse.Namespace) -> int:
    from nsview.actions.create import add_netns
    from nsview.actions.plans import plan_netns_add

    plan = plan_netns_add(args.name)
    _show(args, plan.equivalent_line())  # its note is the "lo up" below
    path = add_netns(plan.name)
    print(f"created netns {plan.name} ({path}), lo up")
    return 0


def run_netns_del(args: argparse.Namespace) -> int:
    from nsview.actions.create import delete_netns
    from nsview.actions.plans import plan_netns_del

    plan = plan_netns_del(args.name, force=args.force)
    name = plan.name
    _show(args, plan.equivalent_line())
    result = delete_netns(name, force=plan.force)
    if result.stale:
        print(f"removed stale {result.path} (it was not a mounted namespace)")
        return 0
    print(f"deleted netns {name}")
    users = result.users
    keepers = []
    if users.processes:
        count = len(users.processes)
        keepers.append(f"{count} process{'es' if count > 1 else ''} ({users.summary()})")
    if users.others:
        keepers.append(users.others_summary())
    if keepers:
        print(
            f"nsview: warning: still held by {'; '.join(keepers)}: the network namespace"
            " lives on, unnamed, until they let go (see 'nsview dump --type net')",
            file=sys.stderr,
        )
    return 0
