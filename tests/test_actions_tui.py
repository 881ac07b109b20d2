"""Pilot tests of the action modals (join, create, delete) and the x/n/d keys."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest
from textual.app import ComposeResult
from textual.widgets import Button, Checkbox, Input, Static

from nsview.actions.create import NetnsUsers
from nsview.actions.plans import NetnsAddPlan, NetnsDelPlan, UnsharePlan
from nsview.actions.targets import JoinPlan, Target
from nsview.model import Namespace, Process
from nsview.tui.actions_mixin import NamespaceActions
from nsview.tui.modals import CreateModal, DeleteConfirmModal, JoinModal
from tests.conftest import unique

OWN = {"cgroup": 1, "ipc": 2, "mnt": 3, "net": 4, "pid": 5, "time": 6, "user": 7, "uts": 8}
ENV = {"SHELL": "/bin/bash"}
LIVE = object()  # stands for the app's snapshot source (None: a loaded file)


class Host(NamespaceActions):
    """A minimal app with the actions mixin: records what would run."""

    def __init__(self, selected=None, source=LIVE) -> None:
        super().__init__()
        self.selected = selected
        self.source = source
        self.refreshes = 0
        self.ran: list[tuple[str, list[str]]] = []

    def compose(self) -> ComposeResult:
        yield Static("host")

    def selected_target(self):
        return self.selected

    def refresh_now(self) -> None:
        self.refreshes += 1

    def say(self, message, **kwargs):
        self.notify(message, markup=False, **kwargs)

    def run_on_terminal(self, args, banner, pause=True):
        self.ran.append(("terminal" if pause else "terminal-shell", args))
        return 0

    def run_captured(self, args):
        self.ran.append(("captured", args))


def drive(app, body):
    async def main():
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.pause()
            await body(pilot)

    asyncio.run(main())


def show(app: Host, modal):
    """Push ``modal``; returns a list that receives its result."""
    results: list = []
    app.push_screen(modal, results.append)
    return results


def equivalent(app) -> str:
    return str(app.screen.query_one("#equivalent", Static).render())


def test_join_modal_prefills_defaults_and_builds_plan():
    target = Target("pid", "42", {**OWN, "net": 40, "uts": 80}, OWN, pid=42, comm="sleep")
    app = Host()

    async def body(pilot):
        results = show(app, JoinModal(target, None, env=ENV))
        await pilot.pause()
        screen = app.screen
        ticked = {t for t in OWN if screen.query_one(f"#type-{t}", Checkbox).value}
        assert ticked == {"net", "uts"}
        assert equivalent(app) == "$ nsenter -t 42 -u -n -- /bin/bash"
        await pilot.click("#type-pid")  # shared with nsview, but may be asked for
        screen.query_one("#command", Input).value = "ip -br addr"
        await pilot.pause()
        assert equivalent(app) == "$ nsenter -t 42 -u -n -p -- ip -br addr"
        screen.query_one("#command", Input).focus()
        await pilot.press("enter")  # in the command field: confirm
        await pilot.pause()
        (plan,) = results
        assert isinstance(plan, JoinPlan)
        assert plan.types == ("uts", "net", "pid") and plan.argv == ("ip", "-br", "addr")
        assert plan.nsview_args() == [
            "exec", "--target", "42", "--types", "uts,net,pid", "--", "ip", "-br", "addr"
        ]  # fmt: skip

    drive(app, body)


def test_join_modal_refuses_nothing_ticked_and_bad_quoting():
    target = Target("name", "blue", {"net": 99}, OWN, path="/run/netns/blue")
    app = Host()

    async def body(pilot):
        results = show(app, JoinModal(target, ("net",), env=ENV))
        await pilot.pause()
        screen = app.screen
        assert equivalent(app) == "$ nsenter --net=/run/netns/blue -- /bin/bash"
        screen.query_one("#command", Input).value = "sh -c 'unterminated"
        await pilot.pause()
        assert screen.query_one("#confirm", Button).disabled
        assert "quotation" in str(screen.query_one("#problem", Static).render())
        screen.query_one("#command", Input).value = "true"
        await pilot.click("#type-net")
        await pilot.pause()
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("escape")
        await pilot.pause()
        assert results == [None]

    drive(app, body)


def test_create_modal_named_netns_and_unshare():
    app = Host()
    name = unique("c")

    async def body(pilot):
        results = show(app, CreateModal(env=ENV))
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#confirm", Button).disabled  # no name yet
        await pilot.press(*name)
        await pilot.pause()
        assert equivalent(app) == f"$ ip netns add {name} && ip -n {name} link set lo up"
        await pilot.press("enter")
        await pilot.pause()
        assert results == [NetnsAddPlan(name)]

        results = show(app, CreateModal(env=ENV))
        await pilot.pause()
        screen = app.screen
        await pilot.click("#kind-unshare")
        await pilot.click("#type-uts")
        screen.query_one("#command", Input).value = "hostname"
        await pilot.pause()
        assert equivalent(app) == "$ unshare --uts --net -- hostname"
        screen.query_one("#name", Input).value = "bad name"
        await pilot.pause()
        assert "whitespace" in str(screen.query_one("#problem", Static).render())
        screen.query_one("#name", Input).value = name
        await pilot.pause()
        assert equivalent(app) == (
            f"$ touch /run/netns/{name} && unshare --uts --net=/run/netns/{name} -- hostname"
        )
        await pilot.click("#confirm")
        await pilot.pause()
        (request,) = results
        assert isinstance(request, UnsharePlan)
        assert request.nsview_args() == [
            "unshare", "--types", "uts,net", "--netns-name", name, "--", "hostname"
        ]  # fmt: skip

    drive(app, body)


def test_delete_modal_needs_force_when_busy():
    app = Host()
    users = NetnsUsers(processes=[(123, "sleep"), (456, "bash")])

    async def body(pilot):
        results = show(app, DeleteConfirmModal("blue", users))
        await pilot.pause()
        screen = app.screen
        inside = str(screen.query_one("#inside", Static).render())
        assert "123  sleep" in inside and "456  bash" in inside
        assert equivalent(app) == "$ ip netns del blue"
        assert screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")  # focus is on Cancel: enter cancels
        await pilot.pause()
        assert results == [None]

        results = show(app, DeleteConfirmModal("blue", users))
        await pilot.pause()
        await pilot.click("#force")
        await pilot.click("#confirm")
        await pilot.pause()
        assert results == [NetnsDelPlan("blue", force=True)]
        assert results[0].nsview_args() == ["netns", "del", "blue", "--force"]

    drive(app, body)


def test_delete_modal_says_what_else_holds_the_netns():
    app = Host()
    users = NetnsUsers(others=["fd 7 of pid 321 (runc)", "mount /var/run/docker/netns/x"])

    async def body(pilot):
        results = show(app, DeleteConfirmModal("blue", users))
        await pilot.pause()
        inside = str(app.screen.query_one("#inside", Static).render())
        assert "Also held by fd 7 of pid 321 (runc), mount /var/run/docker/netns/x" in inside
        assert not app.screen.query_one("#confirm", Button).disabled  # no force needed
        await pilot.click("#confirm")
        await pilot.pause()
        assert results == [NetnsDelPlan("blue", force=False)]

    drive(app, body)


def test_keys_without_a_live_view_or_selection_only_notify():
    app = Host(selected=None, source=None)

    async def body(pilot):
        for key in ("x", "n", "d"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, (JoinModal, CreateModal, DeleteConfirmModal))
        app.source = LIVE
        app.selected = Process(pid=os.getpid())  # not a netns: d only explains
        await pilot.press("d")
        await pilot.pause()
        assert app.ran == [] and not isinstance(app.screen, DeleteConfirmModal)

    drive(app, body)


@pytest.mark.privileged
def test_x_on_a_process_runs_nsview_exec_with_defaults(proc_factory):
    p = proc_factory(
        ["unshare", "--uts", "sh", "-c", "echo ready; exec sleep 300"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "ready"
    app = Host(selected=Process(pid=p.pid))

    async def body(pilot):
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, JoinModal)
        assert equivalent(app).startswith(f"$ nsenter -t {p.pid} -u -- ")
        app.screen.query_one("#command", Input).value = "hostname"
        await pilot.click("#confirm")
        await pilot.pause()
        assert app.ran == [
            ("terminal", ["exec", "--target", str(p.pid), "--types", "uts", "--", "hostname"])
        ]
        assert app.refreshes == 1

    drive(app, body)


@pytest.mark.privileged
def test_d_on_a_busy_named_netns_lists_its_processes(netns_factory, proc_factory):
    name = netns_factory("d")
    inode = os.stat(f"/run/netns/{name}").st_ino
    member = proc_factory(["ip", "netns", "exec", name, "sleep", "300"])
    for _ in range(500):
        if os.stat(f"/proc/{member.pid}/ns/net").st_ino == inode:
            break
        subprocess.run(["sleep", "0.01"])
    app = Host(selected=Namespace("net", inode, names=[name]))

    async def body(pilot):
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DeleteConfirmModal)
        assert f"{member.pid}  sleep" in str(app.screen.query_one("#inside", Static).render())
        await pilot.click("#force")
        await pilot.click("#confirm")
        await pilot.pause()
        assert app.ran == [("captured", ["netns", "del", name, "--force"])]

    drive(app, body)


@pytest.mark.privileged
def test_x_on_a_namespace_joins_only_that_type_and_checks_it_is_current(proc_factory):
    from nsview.model import Holder

    p = proc_factory(
        ["unshare", "--uts", "--ipc", "sh", "-c", "echo ready; exec sleep 300"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "ready"
    inode = os.stat(f"/proc/{p.pid}/ns/uts").st_ino
    holder = Holder("process", pid=p.pid)
    app = Host(selected=Namespace("uts", inode, holders=[holder]))

    async def body(pilot):
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, JoinModal)
        assert equivalent(app).startswith(f"$ nsenter -t {p.pid} -u -- ")  # not -i
        await pilot.press("enter")  # the default shell, unchanged
        await pilot.pause()
        assert app.ran == [("terminal-shell", ["exec", "--target", str(p.pid), "--types", "uts"])]
        app.ran.clear()
        app.selected = Namespace("uts", inode + 1, holders=[holder])  # an outdated row
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, JoinModal)
        assert app.ran == []

    drive(app, body)


def test_an_app_without_the_action_hooks_is_told_what_it_lacks():
    class Bare(NamespaceActions):
        source = LIVE

    with pytest.raises(TypeError, match="selected_target, refresh_now, say"):
        _ = Bare().actions_host
    assert Host().actions_host is not None
