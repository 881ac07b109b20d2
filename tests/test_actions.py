"""Pure logic of nsview.actions: names, targets, type selection, equivalent commands."""

from __future__ import annotations

import os

import pytest

from nsview.actions import commands
from nsview.actions.names import validate_netns_name
from nsview.actions.targets import (
    Target,
    classify,
    default_command,
    default_types,
    parse_types,
    plan_join,
    resolve_target,
)
from nsview.errors import NsviewError, UsageError

ENV = {"SHELL": "/bin/bash"}
OWN = {"cgroup": 1, "ipc": 2, "mnt": 3, "net": 4, "pid": 5, "time": 6, "user": 7, "uts": 8}


def pid_target(**diff: int) -> Target:
    return Target("pid", "42", {**OWN, **diff}, OWN, pid=42, comm="sleep")


@pytest.mark.parametrize("name", ["blue", "nsvt-1", "a.b", "x" * 255, "é" * 127, "_", "1"])
def test_good_names(name):
    assert validate_netns_name(name) == name


@pytest.mark.parametrize(
    "name, why",
    [
        ("", "empty"),
        ("a/b", "'/'"),
        ("..", "'..'"),
        (".", "'..'"),
        ("a..b", "'..'"),
        ("a b", "whitespace"),
        ("a\tb", "whitespace"),
        ("a\nb", "whitespace"),
        ("a\0b", "NUL"),
        ("a\x07b", "control"),
        ("-n", "'-'"),
        ("x" * 256, "256 bytes"),
        ("é" * 128, "256 bytes"),
    ],
)
def test_bad_names(name, why):
    with pytest.raises(UsageError) as info:
        validate_netns_name(name)
    message = str(info.value)
    assert why in message
    assert "\n" not in message and "\0" not in message


def test_classify():
    assert classify("123") == ("pid", "123")
    assert classify("blue") == ("name", "blue")
    assert classify("/run/netns/123") == ("path", "/run/netns/123")
    assert classify("rel/path") == ("path", "rel/path")
    assert classify("١٢") == ("name", "١٢")  # non-ASCII digits are not a PID
    with pytest.raises(UsageError):
        classify("")


def test_parse_types_orders_like_nsenter():
    assert parse_types("mnt, net,user") == ("user", "net", "mnt")
    with pytest.raises(UsageError, match="unknown namespace type 'nett'"):
        parse_types("net,nett")
    with pytest.raises(UsageError):
        parse_types(" , ")


def test_default_types_pid_target_only_what_differs():
    assert default_types(pid_target(net=40, uts=80, mnt=30)) == ("uts", "net", "mnt")
    assert default_types(pid_target()) == ()


def test_default_types_file_target_is_its_type():
    target = Target("name", "blue", {"net": 99}, OWN, path="/run/netns/blue")
    assert default_types(target) == ("net",)


def test_plan_join_defaults_and_shell():
    plan = plan_join(pid_target(net=40, pid=50), None, None, env={"SHELL": "/bin/zsh"})
    assert plan.types == ("net", "pid")
    assert plan.argv == ("/bin/zsh",)
    assert plan.default_shell and plan.fork and plan.workdir is None
    assert plan.equivalent() == ["nsenter", "-t", "42", "-n", "-p", "--", "/bin/zsh"]
    assert plan_join(pid_target(net=40), None, None, env={}).argv == ("/bin/sh",)


def test_plan_join_mnt_keeps_working_directory():
    plan = plan_join(pid_target(mnt=30), None, ["ls"], env={})
    assert plan.workdir == "target"
    assert plan.equivalent() == ["nsenter", "-t", "42", "-m", "-w", "--", "ls"]
    assert not plan.default_shell


def test_plan_join_nothing_differs_is_an_error():
    with pytest.raises(NsviewError, match="shares all of nsview's namespaces"):
        plan_join(pid_target(), None, ["true"], env={})


def test_plan_join_explicit_types_may_be_shared_but_not_user():
    plan = plan_join(pid_target(), ["net", "user"], ["true"], env={})
    assert plan.types == ("net",)
    assert plan.notes
    with pytest.raises(NsviewError, match="user namespace"):
        plan_join(pid_target(), ["user"], ["true"], env={})


def test_plan_join_file_target_only_its_type():
    target = Target("path", "/x", {"net": 99}, OWN, path="/x")
    assert plan_join(target, None, ["ip", "link"], env={}).equivalent() == [
        "nsenter",
        "--net=/x",
        "--",
        "ip",
        "link",
    ]
    with pytest.raises(UsageError, match="is a net namespace"):
        plan_join(target, ["uts"], ["true"], env={})


def test_plan_join_pid_without_time_namespace():
    target = Target("pid", "42", {k: v for k, v in OWN.items() if k != "time"}, OWN, pid=42)
    with pytest.raises(NsviewError, match="no time namespace"):
        plan_join(target, ["time"], ["true"], env={})


def test_default_command_needs_absolute_shell():
    assert default_command({"SHELL": "bash"}) == ("/bin/sh",)
    assert default_command({"SHELL": "/bin/bash"}) == ("/bin/bash",)


def test_unshare_commands():
    cmds = commands.unshare_commands(("user", "net", "pid", "mnt"), ["sh"], "blue")
    assert cmds == [
        ["touch", "/run/netns/blue"],
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--net=/run/netns/blue",
            "--pid",
            "--mount",
            "--fork",
            "--mount-proc",
            "--",
            "sh",
        ],
    ]
    assert commands.unshare_commands(("uts",), ["hostname"]) == [
        ["unshare", "--uts", "--", "hostname"]
    ]


def test_shell_line_quotes_for_display():
    line = commands.shell_line([["nsenter", "-t", "1", "-n", "--", "sh", "-c", "echo $HOME; ls"]])
    assert line == "nsenter -t 1 -n -- sh -c 'echo $HOME; ls'"
    assert commands.shell_line(commands.netns_add_commands("b")) == (
        "ip netns add b && ip -n b link set lo up"
    )


def _fake_proc(tmp_path, pid: int, links: dict[str, int]):
    for who, table in (("self", OWN), (str(pid), links)):
        ns = tmp_path / who / "ns"
        ns.mkdir(parents=True)
        for t, inode in table.items():
            os.symlink(f"{t}:[{inode}]", ns / t)
    (tmp_path / str(pid) / "comm").write_text("sleep\n")
    return str(tmp_path)


def test_resolve_pid_target_from_fake_proc(tmp_path):
    proc = _fake_proc(tmp_path, 42, {**OWN, "net": 40, "uts": 80})
    target = resolve_target("42", proc=proc)
    assert target.kind == "pid" and target.comm == "sleep"
    assert default_types(target) == ("uts", "net")
    assert target.describe() == "PID 42 (sleep)"


def test_resolve_missing_pid(tmp_path):
    proc = _fake_proc(tmp_path, 42, OWN)
    with pytest.raises(NsviewError, match="no process with PID 43"):
        resolve_target("43", proc=proc)


def test_resolve_path_that_is_not_nsfs(tmp_path):
    f = tmp_path / "plain"
    f.write_text("x")
    with pytest.raises(NsviewError, match="not a namespace file"):
        resolve_target(str(f))
    with pytest.raises(NsviewError, match="not a namespace file"):
        resolve_target(str(tmp_path))  # a directory
    with pytest.raises(NsviewError, match="no such file"):
        resolve_target(str(tmp_path / "missing"))


def test_resolve_path_of_own_netns():
    target = resolve_target("/proc/self/ns/net")
    assert target.kind == "path" and set(target.namespaces) == {"net"}


def test_spec_for_snapshot_items():
    from nsview.actions.targets import spec_for
    from nsview.model import Holder, Namespace, Process

    def ns(t, *holders, names=()):
        return Namespace(t, 1, holders=list(holders), names=list(names))

    main = Holder("process", pid=3)
    thread = Holder("thread", pid=4, tid=5)
    assert spec_for(Process(pid=7)) == ("7", None)
    assert spec_for(ns("net", main, names=["blue"])) == ("blue", ("net",))
    assert spec_for(ns("uts", thread, main)) == ("3", ("uts",))
    # only a thread of PID 4 is in it: /proc/4/ns/uts would be another namespace
    assert spec_for(ns("uts", thread)) == ("/proc/4/task/5/ns/uts", ("uts",))
    fd = Holder("fd", pid=9, fd=5)
    assert spec_for(ns("net", fd)) == ("/proc/9/fd/5", ("net",))
    kids = Holder("for_children", pid=9)
    assert spec_for(ns("pid", kids)) == ("/proc/9/ns/pid_for_children", ("pid",))
    mount = Holder("bind_mount", pid=9, path="/var/run/x")
    assert spec_for(ns("ipc", mount)) == ("/proc/9/root/var/run/x", ("ipc",))
    assert spec_for(ns("user")) is None
    assert spec_for("something else") is None


def test_resolve_zombie_pid(tmp_path):
    proc = _fake_proc(tmp_path, 42, {})
    (tmp_path / "42" / "comm").write_text("defunct\n")
    with pytest.raises(NsviewError, match=r"PID 42 \(defunct\) has exited \(a zombie\)"):
        resolve_target("42", proc=proc)


def test_nsview_args_leave_a_default_shell_to_nsview_exec():
    from nsview.actions.targets import is_shell

    target = pid_target(net=40)
    default = plan_join(target, None, None, env={"SHELL": "/bin/zsh"})
    assert default.nsview_args() == ["exec", "--target", "42", "--types", "net"]
    assert default.interactive
    explicit = plan_join(target, None, ["ip", "-br", "link"], env={})
    assert explicit.nsview_args()[-4:] == ["--", "ip", "-br", "link"]
    assert not explicit.interactive
    assert is_shell(["/bin/bash"]) and is_shell(["sh"])
    assert not is_shell(["bash", "-c", "ip link"]) and not is_shell(["/usr/bin/top"])


# ---- plans for creating and deleting (one set of rules for the CLI and the TUI)


def test_plan_unshare_a_named_netns_needs_net(tmp_path):
    from nsview.actions.plans import plan_unshare

    with pytest.raises(UsageError, match="needs 'net'"):
        plan_unshare(("uts",), ("true",), "nsvtq", ENV, str(tmp_path))
    plan = plan_unshare(None, ("true",), "nsvtq", ENV, str(tmp_path))  # a name alone: net
    assert plan.types == ("net",)
    assert plan.equivalent_line() == (
        "touch /run/netns/nsvtq && unshare --net=/run/netns/nsvtq -- true"
    )
    with pytest.raises(UsageError, match="--types is required"):
        plan_unshare(None, ("true",), None, ENV, str(tmp_path))


def test_plan_unshare_says_lo_comes_up_only_with_net(tmp_path):
    from nsview.actions.plans import LO_UP_NOTE, plan_unshare

    assert plan_unshare(("net", "uts"), ("true",), env=ENV).notes == (LO_UP_NOTE,)
    assert plan_unshare(("uts",), ("true",), env=ENV).notes == ()


def test_plan_unshare_orders_types_and_defaults_the_shell():
    from nsview.actions.plans import plan_unshare

    plan = plan_unshare(("net", "user"), None, env=ENV)
    assert plan.types == ("user", "net") and plan.argv == ("/bin/bash",)
    assert plan.default_shell and plan.interactive
    assert plan.nsview_args() == ["unshare", "--types", "user,net"]  # nsview picks the shell
    with pytest.raises(UsageError, match="command"):
        plan_unshare(("net",), (), env=ENV)
    with pytest.raises(UsageError, match="at least one"):
        plan_unshare((), ("true",), env=ENV)
    with pytest.raises(UsageError, match="unknown namespace type 'bogus'"):
        plan_unshare(("net", "bogus"), ("true",), env=ENV)


def test_plans_refuse_a_name_that_exists(tmp_path):
    from nsview.actions.plans import plan_netns_add, plan_unshare

    (tmp_path / "taken").touch()
    for make in (
        lambda: plan_netns_add("taken", str(tmp_path)),
        lambda: plan_unshare(("net",), ("true",), "taken", ENV, str(tmp_path)),
    ):
        with pytest.raises(NsviewError, match="already exists"):
            make()
    with pytest.raises(UsageError, match="whitespace"):
        plan_netns_add("bad name", str(tmp_path))
    assert plan_netns_add("free", str(tmp_path)).nsview_args() == ["netns", "add", "free"]


def test_plan_netns_del():
    from nsview.actions.plans import plan_netns_del

    plan = plan_netns_del("blue", force=True)
    assert plan.equivalent_line() == "ip netns del blue"
    assert plan.nsview_args() == ["netns", "del", "blue", "--force"]
    with pytest.raises(UsageError, match="'/'"):
        plan_netns_del("a/b")
