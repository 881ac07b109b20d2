"""What creating or deleting namespaces will do, checked before anything is done.

A plan holds the rules ("a netns name needs a new net namespace", "lo comes
up"), its equivalent plain command and the ``nsview`` command line that
carries it out. The CLI parses its arguments into a plan and runs it
(:mod:`nsview.actions.create`); the TUI's modals build one from their fields,
show it, and hand it to an ``nsview`` child. Joining has its own plan,
:class:`nsview.actions.targets.JoinPlan`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nsview.actions import commands
from nsview.actions.names import NETNS_DIR, validate_netns_name
from nsview.actions.targets import NS_ORDER, default_command, is_shell
from nsview.errors import NsviewError, UsageError
from nsview.model import NS_TYPES

LO_UP_NOTE = "nsview also brings lo up in the new netns (ip link set lo up)"


@dataclass(frozen=True)
class UnsharePlan:
    """New namespaces of ``types`` running ``argv``; with ``netns_name`` the new
    netns is also kept at /run/netns/NAME (``argv`` None: no command, the child
    just exits, as for ``netns add``)."""

    types: tuple[str, ...]  # in NS_ORDER
    argv: tuple[str, ...] | None
    netns_name: str | None = None
    default_shell: bool = False  # argv is $SHELL: left out of nsview_args, /bin/sh inside
    notes: tuple[str, ...] = ()

    @property
    def interactive(self) -> bool:
        """CMD is a shell of its own (nothing to read once it exits)."""
        return self.default_shell or (self.argv is not None and is_shell(self.argv))

    def equivalent(self) -> list[list[str]]:
        return commands.unshare_commands(self.types, self.argv or (), self.netns_name)

    def equivalent_line(self) -> str:
        return commands.shell_line(self.equivalent())

    def nsview_args(self) -> list[str]:
        """The same as an ``nsview unshare`` command line (argv after 'nsview')."""
        named = ["--netns-name", self.netns_name] if self.netns_name else []
        args = ["unshare", "--types", ",".join(self.types), *named]
        return args if self.default_shell else [*args, "--", *(self.argv or ())]


@dataclass(frozen=True)
class NetnsAddPlan:
    """``ip netns add NAME`` and lo up."""

    name: str
    notes: tuple[str, ...] = (LO_UP_NOTE,)
    interactive = False

    def equivalent(self) -> list[list[str]]:
        return commands.netns_add_commands(self.name)

    def equivalent_line(self) -> str:
        return commands.shell_line(self.equivalent())

    def nsview_args(self) -> list[str]:
        return ["netns", "add", self.name]


@dataclass(frozen=True)
class NetnsDelPlan:
    """``ip netns del NAME``; ``force``: even while processes are inside."""

    name: str
    force: bool = False
    interactive = False

    def equivalent(self) -> list[list[str]]:
        return commands.netns_del_commands(self.name)

    def equivalent_line(self) -> str:
        return commands.shell_line(self.equivalent())

    def nsview_args(self) -> list[str]:
        return ["netns", "del", self.name, *(["--force"] if self.force else [])]


def _new_name(name: str, netns_dir: str) -> str:
    validate_netns_name(name)
    path = f"{netns_dir}/{name}"
    if os.path.lexists(path):
        raise NsviewError(f"netns {name!r} already exists ({path})")
    return name


def plan_unshare(
    types: Sequence[str] | None,
    argv: Sequence[str] | None,
    netns_name: str | None = None,
    env: Mapping[str, str] | None = None,
    netns_dir: str = NETNS_DIR,
) -> UnsharePlan:
    """Check what to create and settle the command.

    ``types`` None: just a net namespace, when it is to be named. ``argv``
    None: the user's shell ($SHELL, else /bin/sh); an empty command is refused.
    """
    if types is None:
        if netns_name is None:
            raise UsageError("--types is required (e.g. --types net,uts)")
        types = ("net",)
    unknown = sorted(set(types) - set(NS_TYPES))
    if unknown:
        raise UsageError(f"unknown namespace type {unknown[0]!r}")
    chosen = tuple(t for t in NS_ORDER if t in types)
    if not chosen:
        raise UsageError("choose at least one namespace to create")
    if netns_name is not None:
        _new_name(netns_name, netns_dir)
        if "net" not in chosen:
            raise UsageError("a netns name needs 'net' among the new namespaces")
    if argv is not None and not argv:
        raise UsageError("type a command to run")
    env = os.environ if env is None else env
    command = tuple(argv) if argv else default_command(env)
    notes = (LO_UP_NOTE,) if "net" in chosen else ()
    return UnsharePlan(chosen, command, netns_name, default_shell=argv is None, notes=notes)


def plan_netns_add(name: str, netns_dir: str = NETNS_DIR) -> NetnsAddPlan:
    return NetnsAddPlan(_new_name(name, netns_dir))


def plan_netns_del(name: str, force: bool = False) -> NetnsDelPlan:
    return NetnsDelPlan(validate_netns_name(name), force)
