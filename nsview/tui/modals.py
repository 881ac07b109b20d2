"""Confirmation dialogs for the actions: join (``x``), create (``n``), delete (``d``).

Each modal shows the equivalent plain command (nsenter, unshare, ip netns)
as it is edited and changes nothing itself: it dismisses with a plan from
:mod:`nsview.actions` (a :class:`~nsview.actions.targets.JoinPlan`, an
:class:`~nsview.actions.plans.UnsharePlan`, :class:`~nsview.actions.plans.NetnsAddPlan`
or :class:`~nsview.actions.plans.NetnsDelPlan`) or ``None`` on cancel. The rules
and the equivalent command are the plan's; the modal only renders them. The app
turns a plan into an ``nsview exec|unshare|netns`` child process (see
:mod:`nsview.tui.actions_mixin`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Mapping
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, RadioButton, RadioSet, Static

from nsview.actions.create import NetnsUsers
from nsview.actions.names import NETNS_DIR
from nsview.actions.plans import (
    NetnsAddPlan,
    UnsharePlan,
    plan_netns_add,
    plan_netns_del,
    plan_unshare,
)
from nsview.actions.targets import NS_ORDER, JoinPlan, Target, default_command, plan_join
from nsview.errors import NsviewError

MODAL_CSS = """
.action-box {
    width: 84;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: thick $primary;
    background: $surface;
    padding: 0 1;
}
.action-title { text-style: bold; margin-bottom: 1; }
.action-types { height: auto; layout: grid; grid-size: 4; grid-gutter: 0 1; }
.action-types Checkbox { width: 1fr; height: 1; border: none; padding: 0 1; }
.action-box Input { height: 1; border: none; padding: 0 1; background: $boost; }
.action-box Input:focus { border: none; background: $panel; }
.action-box RadioSet { border: none; height: auto; width: 100%; padding: 0; }
.action-box RadioSet:focus { border: none; }
.action-label { color: $text-muted; margin-top: 1; }
.action-equivalent { background: $boost; padding: 0 1; margin-top: 1; }
.action-problem { color: $error; height: auto; }
.action-note { color: $warning; height: auto; }
.action-buttons { height: auto; align-horizontal: right; margin-top: 1; }
.action-buttons Button { margin-left: 2; }
.hidden { display: none; }
"""


COMMAND_LABEL = "command (runs on the terminal; exit it to come back to nsview)"


def _parse_command(text: str) -> tuple[str, ...]:
    """The command field as an argv list (shell-like quoting, never run by a shell)."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise NsviewError(f"command: {exc}") from None


class _ActionModal(ModalScreen):
    """Shared look and keys: escape cancels, the confirm button is disabled while invalid."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def _show(self, equivalent: str | None, problem: str | None, notes: str = "") -> None:
        self.query_one("#equivalent", Static).update(f"$ {equivalent}" if equivalent else "")
        self.query_one("#problem", Static).update(problem or "")
        self.query_one("#notes", Static).update(notes)
        self.query_one("#confirm", Button).disabled = problem is not None

    def _footer(self, confirm: str, variant: str = "primary") -> ComposeResult:
        yield Static("equivalent command", classes="action-label")
        yield Static(id="equivalent", classes="action-equivalent", markup=False)
        yield Static(id="problem", classes="action-problem", markup=False)
        yield Static(id="notes", classes="action-note", markup=False)
        with Horizontal(classes="action-buttons"):
            yield Button(confirm, variant=variant, id="confirm")
            yield Button("Cancel", id="cancel")


class JoinModal(_ActionModal):
    """Pick the namespaces to join and the command; dismisses with a JoinPlan or None."""

    def __init__(
        self,
        target: Target,
        types: tuple[str, ...] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.target = target
        self.env = dict(os.environ if env is None else env)
        try:
            initial = plan_join(target, types, None, self.env).types
        except NsviewError:
            initial = ()  # nothing differs: let the user tick what they want
        self.initial = initial
        self.plan: JoinPlan | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="action-box"):
            yield Static(f"Join {self.target.describe()}", classes="action-title", markup=False)
            yield Static("namespaces to join (= already nsview's own)", classes="action-label")
            with Vertical(classes="action-types"):
                for t in NS_ORDER:
                    if t not in self.target.namespaces:
                        continue
                    same = self.target.namespaces[t] == self.target.own.get(t)
                    label = f"{t} =" if same and self.target.kind == "pid" else t
                    yield Checkbox(label, t in self.initial, id=f"type-{t}")
            yield Static(COMMAND_LABEL, classes="action-label")
            yield Input(shlex.join(default_command(self.env)), id="command")
            yield from self._footer("Join")

    def on_mount(self) -> None:
        self.query_one("#command", Input).focus()
        self._update()

    def chosen_types(self) -> tuple[str, ...]:
        return tuple(
            t
            for t in NS_ORDER
            if t in self.target.namespaces and self.query_one(f"#type-{t}", Checkbox).value
        )

    @on(Checkbox.Changed)
    @on(Input.Changed)
    def _update(self) -> None:
        self.plan = None
        try:
            types = self.chosen_types()
            if not types:
                raise NsviewError("tick at least one namespace")
            argv = _parse_command(self.query_one("#command", Input).value)
            if argv == default_command(self.env):
                argv = ()  # the default shell: nsview exec falls back to /bin/sh inside
            plan = plan_join(self.target, types, argv or None, self.env)
        except NsviewError as exc:
            self._show(None, str(exc))
            return
        self.plan = plan
        self._show(plan.equivalent_line(), None, "\n".join(plan.notes))

    @on(Input.Submitted)
    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        if self.plan is not None:
            self.dismiss(self.plan)


class CreateModal(_ActionModal):
    """Create a named netns, or run a command in new namespaces.

    Dismisses with a NetnsAddPlan or an UnsharePlan (None: cancelled).
    """

    UNSHARE_DEFAULT = ("net",)

    def __init__(self, env: Mapping[str, str] | None = None, netns_dir: str = NETNS_DIR) -> None:
        super().__init__()
        self.env = dict(os.environ if env is None else env)
        self.netns_dir = netns_dir
        self.plan: NetnsAddPlan | UnsharePlan | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="action-box"):
            yield Static("Create namespaces", classes="action-title")
            with RadioSet(id="kind"):
                yield RadioButton(
                    "a named netns, empty with lo up (ip netns add)", True, id="kind-netns"
                )
                yield RadioButton("new namespaces running a command (unshare)", id="kind-unshare")
            yield Static("netns name", classes="action-label", id="name-label")
            yield Input(placeholder="e.g. scratch", id="name")
            yield Static("new namespaces", classes="action-label unshare-only")
            with Vertical(classes="action-types unshare-only"):
                for t in NS_ORDER:
                    yield Checkbox(t, t in self.UNSHARE_DEFAULT, id=f"type-{t}")
            yield Static(COMMAND_LABEL, classes="action-label unshare-only")
            yield Input(shlex.join(default_command(self.env)), id="command", classes="unshare-only")
            yield from self._footer("Create")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self._update()

    @property
    def kind(self) -> str:
        return "unshare" if self.query_one("#kind-unshare", RadioButton).value else "netns"

    @on(RadioSet.Changed)
    @on(Checkbox.Changed)
    @on(Input.Changed)
    def _update(self) -> None:
        unshare = self.kind == "unshare"
        for widget in self.query(".unshare-only"):
            widget.set_class(not unshare, "hidden")
        self.query_one("#name-label", Static).update(
            "keep the new netns as (optional: /run/netns/NAME)" if unshare else "netns name"
        )
        self.plan = None
        try:
            plan = self._build()
        except NsviewError as exc:
            self._show(None, str(exc))
            return
        self.plan = plan
        self._show(plan.equivalent_line(), None, "\n".join(plan.notes))

    def _build(self) -> NetnsAddPlan | UnsharePlan:
        name = self.query_one("#name", Input).value.strip() or None
        if self.kind == "netns":
            if name is None:
                raise NsviewError("type a name for the new netns")
            return plan_netns_add(name, self.netns_dir)
        types = tuple(t for t in NS_ORDER if self.query_one(f"#type-{t}", Checkbox).value)
        argv = _parse_command(self.query_one("#command", Input).value)
        if argv == default_command(self.env):
            argv = None  # the default shell: nsview unshare falls back to /bin/sh inside
        return plan_unshare(types, argv, name, self.env, self.netns_dir)

    @on(Input.Submitted)
    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        if self.plan is not None:
            self.dismiss(self.plan)


class DeleteConfirmModal(_ActionModal):
    """Confirm ``ip netns del NAME``, listing processes still inside (force needed then).

    Dismisses with a NetnsDelPlan (None: cancelled).
    """

    SHOW_PROCESSES = 12

    def __init__(self, name: str, users: NetnsUsers, stale: bool = False) -> None:
        super().__init__()
        self.netns_name = name
        self.users = users
        self.stale = stale

    def compose(self) -> ComposeResult:
        busy = bool(self.users.processes)
        with VerticalScroll(classes="action-box"):
            yield Static(f"Delete netns {self.netns_name}", classes="action-title", markup=False)
            if self.stale:
                text = f"{NETNS_DIR}/{self.netns_name} is a stale file (no namespace mounted)."
            elif busy:
                lines = [f"  {pid:>8}  {comm}" for pid, comm in self.users.processes]
                more = len(lines) - self.SHOW_PROCESSES
                lines = lines[: self.SHOW_PROCESSES]
                if more > 0:
                    lines.append(f"  … and {more} more")
                text = "\n".join(["Processes still inside:", *lines])
            elif self.users.others:
                text = "No process is inside."
            else:
                text = "No process is inside: the netns goes away with its name."
            if self.users.others and not self.stale:
                text += (
                    f"\nAlso held by {self.users.others_summary()}:"
                    " the netns outlives its name while they do."
                )
            yield Static(text, id="inside", markup=False)
            if busy:
                yield Checkbox(
                    "force: delete the name anyway (they keep running in an anonymous netns)",
                    id="force",
                )
            yield from self._footer("Delete", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        self._update()

    @on(Checkbox.Changed)
    def _update(self) -> None:
        try:
            equivalent = plan_netns_del(self.netns_name, self.force).equivalent_line()
        except NsviewError as exc:  # a name ip netns made but nsview refuses to handle
            self._show(None, str(exc))
            return
        if self.users.processes and not self.force:
            self._show(equivalent, "processes are inside: tick force, or stop them first")
        else:
            self._show(equivalent, None)

    @property
    def force(self) -> bool:
        boxes = self.query("#force")
        return bool(boxes) and self.query_one("#force", Checkbox).value

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        if self.users.processes and not self.force:
            return
        with contextlib.suppress(NsviewError):  # shown by _update; confirm is disabled then
            self.dismiss(plan_netns_del(self.netns_name, force=self.force))
