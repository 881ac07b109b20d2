"""Keys ``x`` (join), ``n`` (create) and ``d`` (delete netns) for the nsview App.

:class:`NamespaceActions` is an App base class: ``class NsviewApp(NamespaceActions)``
adds its bindings (the footer, ``?`` and the palette read them) and actions.
What it needs of the app is :class:`ActionHost`: ``selected_target()``,
``refresh_now()``, ``say()`` and ``source`` (None for a snapshot loaded from
a file: actions need a live view).

Every action asks for confirmation in a modal (:mod:`nsview.tui.modals`), which
dismisses with a plan of :mod:`nsview.actions`, and
runs as a separate ``nsview exec|unshare|netns`` process: the TUI's own
process never changes namespace. Interactive commands run on the real
terminal while the app is suspended; quick ones are captured and reported
as notifications. The app refreshes afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Any, ClassVar, Protocol, runtime_checkable

from textual import work
from textual.app import App, SuspendNotSupported
from textual.binding import Binding

from nsview.actions._child import keep_terminal, parent_ignores_interrupts
from nsview.actions.plans import NetnsAddPlan, NetnsDelPlan, UnsharePlan
from nsview.actions.targets import JoinPlan
from nsview.errors import NsviewError


@runtime_checkable
class ActionHost(Protocol):
    """What the actions need of the app that mixes them in."""

    source: object | None  # the live collector; None: a snapshot loaded from a file

    def selected_target(self) -> object | None:
        """The process or namespace under the cursor."""
        ...

    def refresh_now(self) -> None:
        """Collect again (after an action changed the namespaces)."""
        ...

    def say(self, message: str, **kwargs: Any) -> None:
        """A notification in plain text (paths and "net:[…]" are not markup)."""
        ...


class NamespaceActions(App[None]):
    BINDINGS: ClassVar = [
        Binding(
            "x",
            "join",
            "Join",
            id="join",
            tooltip="run a shell or command inside the selected process's or namespace's"
            " namespaces (like nsenter)",
        ),
        Binding(
            "n",
            "create",
            "New ns",
            show=False,  # the footer keeps room for the app's keys; ? and ctrl+p list it
            id="create",
            tooltip="create a named netns, or new namespaces running a command"
            " (like ip netns add / unshare)",
        ),
        Binding(
            "d",
            "delete_netns",
            "Delete netns",
            show=False,
            id="delete_netns",
            tooltip="delete the selected named netns (like ip netns del)",
        ),
    ]

    # -- hooks (tests replace these) -------------------------------------------------

    def nsview_command(self) -> list[str]:
        """How to start nsview itself: the same interpreter and package as this TUI."""
        return [sys.executable, "-m", "nsview"]

    def run_on_terminal(self, args: list[str], banner: str, pause: bool = True) -> int | None:
        """Suspend the app, run ``nsview ARGS`` on the real terminal, resume. None: no terminal.

        ``pause``: wait for Enter before coming back, so the output can be read
        (not for a shell, which the user leaves on purpose, unless it failed to
        start: 125-127).
        """
        argv = [*self.nsview_command(), *args]
        try:
            with self.suspend():
                _tty_write(f"\r\nnsview: {banner}\r\n")
                # Ctrl-C is for the command, not the TUI; and the terminal comes back to us.
                with parent_ignores_interrupts(), keep_terminal(_terminal_fd()):
                    code = subprocess.run(argv, check=False).returncode
                if pause or code in (125, 126, 127):
                    _tty_write(f"nsview: exit status {code}; press Enter to return to nsview ")
                    _wait_enter()
        except SuspendNotSupported:
            self._say("this terminal cannot be handed over; use the CLI", severity="error")
            return None
        return code

    # -- actions ---------------------------------------------------------------------

    @property
    def actions_host(self) -> ActionHost:
        """This app, as the actions see it (a TypeError names a missing hook)."""
        if not isinstance(self, ActionHost):
            missing = [
                name
                for name in ("source", "selected_target", "refresh_now", "say")
                if not hasattr(self, name)
            ]
            raise TypeError(f"{type(self).__name__} lacks {', '.join(missing)} for the actions")
        return self

    def _say(self, message: str, **kwargs: Any) -> None:
        self.actions_host.say(message, **kwargs)

    def _live(self) -> bool:
        if self.actions_host.source is None:
            self._say(
                "actions need a live view (this snapshot was loaded from a file)",
                severity="warning",
            )
            return False
        return True

    def action_join(self) -> None:
        from nsview.actions.targets import resolve_target, spec_for
        from nsview.model import Namespace
        from nsview.tui.modals import JoinModal

        if not self._live():
            return
        item = self.actions_host.selected_target()
        found = spec_for(item) if item is not None else None
        if found is None:
            self._say("select a process or a namespace to join", severity="warning")
            return
        spec, types = found
        try:
            target = resolve_target(spec)
        except NsviewError as exc:
            self._say(str(exc), title="cannot join", severity="error")
            return
        if isinstance(item, Namespace) and target.namespaces.get(item.type) != item.inode:
            self._say(
                f"{target.describe()} is no longer in {item.type}:[{item.inode}];"
                " refresh (r) and try again",
                title="cannot join",
                severity="error",
            )
            return
        self.push_screen(JoinModal(target, types), self._join_confirmed)

    def _join_confirmed(self, plan: JoinPlan | None) -> None:
        if plan is None:
            return
        code = self.run_on_terminal(
            plan.nsview_args(),
            f"joining {plan.target.describe()}; exit the command to return",
            pause=not plan.interactive,
        )
        self._after_terminal(code)

    def action_create(self) -> None:
        from nsview.tui.modals import CreateModal

        if self._live():
            self.push_screen(CreateModal(), self._create_confirmed)

    def _create_confirmed(self, plan: NetnsAddPlan | UnsharePlan | None) -> None:
        match plan:
            case NetnsAddPlan():
                self.run_captured(plan.nsview_args())
            case UnsharePlan():
                code = self.run_on_terminal(
                    plan.nsview_args(),
                    "in new namespaces; exit the command to return",
                    pause=not plan.interactive,
                )
                self._after_terminal(code)

    def action_delete_netns(self) -> None:
        from nsview.actions.create import NetnsUsers, inspect_named, netns_users
        from nsview.model import Namespace
        from nsview.tui.modals import DeleteConfirmModal

        if not self._live():
            return
        item = self.actions_host.selected_target()
        if not isinstance(item, Namespace) or item.type != "net" or not item.names:
            self._say("select a named network namespace (ip netns) to delete", severity="warning")
            return
        name = item.names[0]
        try:
            path, ns_type = inspect_named(name)
            users = netns_users(path) if ns_type is not None else NetnsUsers()
        except NsviewError as exc:
            self._say(str(exc), title="cannot delete", severity="error")
            self.actions_host.refresh_now()
            return
        modal = DeleteConfirmModal(name, users, stale=ns_type is None)
        self.push_screen(modal, self._delete_confirmed)

    def _delete_confirmed(self, plan: NetnsDelPlan | None) -> None:
        if plan is not None:
            self.run_captured(plan.nsview_args())

    # -- running ---------------------------------------------------------------------

    def _after_terminal(self, code: int | None) -> None:
        if code is not None and code != 0:
            self._say(f"command ended with exit status {code}", severity="warning")
        self.actions_host.refresh_now()

    @work(thread=True, group="nsview-actions", exit_on_error=False)
    def run_captured(self, args: list[str]) -> None:
        """Run a quick, non-interactive ``nsview ARGS``; report its result as a notification."""
        argv = [*self.nsview_command(), *args]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.call_from_thread(self._say, f"{exc}", title="nsview failed", severity="error")
            return
        self.call_from_thread(self._captured_done, res.returncode, res.stdout, res.stderr)

    def _captured_done(self, code: int, out: str, err: str) -> None:
        equivalent = [ln[2:] for ln in err.splitlines() if ln.startswith("# ")]
        messages = [ln for ln in err.splitlines() if ln and not ln.startswith("# ")]
        hint = f"\n$ {equivalent[0]}" if equivalent else ""
        if code == 0:
            self._say(out.strip() + hint, title="done")
            for line in messages:
                self._say(line.removeprefix("nsview: "), severity="warning", timeout=15)
        else:
            text = "\n".join(m.removeprefix("nsview: ") for m in messages) or f"exit status {code}"
            self._say(text, title="failed", severity="error", timeout=15)
        self.actions_host.refresh_now()


def _terminal_fd() -> int:
    stream = sys.__stdin__
    try:
        return stream.fileno() if stream is not None else 0
    except (OSError, ValueError):
        return 0


def _tty_write(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(sys.__stderr__.fileno() if sys.__stderr__ else 2, text.encode())


def _wait_enter() -> None:
    with contextlib.suppress(OSError), open("/dev/tty", "rb", buffering=0) as tty:
        tty.readline()
