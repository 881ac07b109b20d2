"""nsview exec / unshare / netns against real namespaces (root)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import nsview_bin, run, unique

pytestmark = pytest.mark.privileged


def nsview(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([nsview_bin(), *args], capture_output=True, text=True, timeout=60, **kw)


def assert_clean_error(res: subprocess.CompletedProcess, code: int, needle: str) -> None:
    """Non-zero exit, one 'nsview…' line (besides '# equivalent' lines), no traceback."""
    assert res.returncode == code, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if not ln.startswith("# ")]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("nsview"), lines
    assert needle in lines[0], lines[0]


def netns_names() -> set[str]:
    """Named netns now (other sessions create theirs too: only ask about our own)."""
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def start_ready(proc_factory, script: str, *unshare_args: str) -> subprocess.Popen:
    """A process (``unshare ARGS sh -c SCRIPT``) that prints 'ready' once set up."""
    p = proc_factory(
        ["unshare", *unshare_args, "sh", "-c", f"{script}; echo ready; exec sleep 300"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout.readline().strip() == "ready"
    return p


def test_exec_reads_hostname_through_uts(proc_factory):
    name = unique("h")
    p = start_ready(proc_factory, f"hostname {name}", "--uts")
    res = nsview("exec", "--target", str(p.pid), "--", "hostname")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == name
    # default types: only uts differs; the equivalent command is printed
    assert f"# nsenter -t {p.pid} -u -- hostname" in res.stderr
    assert os.uname().nodename != name


def test_exec_lists_netns_links_by_name_path_and_pid(netns_factory, proc_factory):
    name = netns_factory("x")
    veth = unique("v")
    run("ip", "-n", name, "link", "add", veth, "type", "veth", "peer", "name", unique("p"))
    member = proc_factory(["ip", "netns", "exec", name, "sleep", "300"])
    for target, types in ((name, []), (f"/run/netns/{name}", []), (None, ["--types", "net"])):
        target = target or str(_wait_in_netns(member.pid, name))
        res = nsview("exec", "-t", target, *types, "--", "ip", "-o", "link", "show")
        assert res.returncode == 0, (target, res.stderr)
        assert f" {veth}@" in res.stdout, (target, res.stdout)
    assert veth not in run("ip", "-o", "link", "show").stdout


def _wait_in_netns(pid: int, name: str) -> int:
    """ip netns exec has setns'd (its execve of sleep happened) once comm is sleep."""
    want = os.stat(f"/run/netns/{name}").st_ino
    for _ in range(500):
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino == want:
                return pid
        except FileNotFoundError:
            pass
        subprocess.run(["sleep", "0.01"])
    raise AssertionError("process never joined the netns")


def test_exec_lands_in_nested_pid_namespace(proc_factory):
    outer = start_ready(proc_factory, "true", "--pid", "--fork", "--mount-proc")
    inner_pid = int(run("pgrep", "-P", str(outer.pid)).stdout.split()[0])
    target_pidns = os.readlink(f"/proc/{inner_pid}/ns/pid")
    assert target_pidns != os.readlink("/proc/self/ns/pid")
    script = "grep NSpid /proc/self/status; readlink /proc/self/ns/pid; echo $$"
    res = nsview("exec", "-t", str(inner_pid), "--types", "pid", "--", "sh", "-c", script)
    assert res.returncode == 0, res.stderr
    nspid, pidns, _ = res.stdout.splitlines()
    levels = nspid.split()[1:]
    assert len(levels) == 2 and int(levels[1]) < int(levels[0])  # host pid, then inner pid
    assert pidns == target_pidns
    # with mnt too, /proc is the target's: CMD sees itself as a small pid, sleep as 1
    res = nsview("exec", "-t", str(inner_pid), "--", "sh", "-c", "echo $$; cat /proc/1/comm")
    assert res.returncode == 0, res.stderr
    small, comm = res.stdout.split()
    assert int(small) < 100 and comm == "sleep"


def test_exec_mount_namespace_keeps_target_cwd(proc_factory, tmp_path):
    p = start_ready(proc_factory, f"cd {tmp_path}", "--mount")
    res = nsview("exec", "-t", str(p.pid), "--", "pwd")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path)
    assert "-m -w --" in res.stderr


@pytest.mark.parametrize(
    "script, code", [("exit 0", 0), ("exit 3", 3), ("exit 255", 255), ("kill -9 $$", 137)]
)
def test_exec_propagates_exit_status(netns_factory, script, code):
    name = netns_factory()
    res = nsview("exec", "-t", name, "-q", "--", "sh", "-c", script)
    assert res.returncode == code, res.stderr
    assert res.stderr == ""


def test_exec_command_not_found_is_127(netns_factory):
    res = nsview("exec", "-t", netns_factory(), "--", "nsvt-no-such-command")
    assert_clean_error(res, 127, "command not found")


def test_exec_default_shell_falls_back_to_bin_sh(netns_factory):
    res = nsview(
        "exec",
        "-t",
        netns_factory(),
        input="echo $0 here\n",
        env={**os.environ, "SHELL": "/nsvt/sh"},
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "/bin/sh here"


def test_unshare_makes_isolated_netns():
    res = nsview(
        "unshare", "--types", "net", "--", "sh", "-c", "readlink /proc/self/ns/net; ip -o link"
    )
    assert res.returncode == 0, res.stderr
    netns, *links = res.stdout.splitlines()
    assert netns != os.readlink("/proc/self/ns/net")
    assert len(links) == 1 and ": lo:" in links[0] and "UP" in links[0]
    assert "# unshare --net -- sh -c" in res.stderr


def test_unshare_pid_user_uts():
    script = "echo $$; id -u; hostname nsvtu; hostname"
    res = nsview("unshare", "--types", "user,pid,mnt,uts", "--", "sh", "-c", script)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["1", "0", "nsvtu"]
    assert os.uname().nodename != "nsvtu"


def test_unshare_with_netns_name_outlives_command():
    name = unique("u")
    try:
        res = nsview(
            "unshare", "--netns-name", name, "--", "sh", "-c", "readlink /proc/self/ns/net"
        )
        assert res.returncode == 0, res.stderr
        assert name in netns_names()
        assert res.stdout.strip() == f"net:[{os.stat(f'/run/netns/{name}').st_ino}]"
        lo = run("ip", "-n", name, "-o", "link", "show", "lo").stdout
        assert "UP" in lo
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_unshare_with_netns_name_removes_it_when_command_fails():
    name = unique("u")
    try:
        res = nsview("unshare", "--netns-name", name, "--", "nsvt-no-such-command")
        assert_clean_error(res, 127, "removed again")
        assert name not in netns_names()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_netns_add_del_round_trip():
    name = unique("a")
    try:
        res = nsview("netns", "add", name)
        assert res.returncode == 0, res.stderr
        assert f"# ip netns add {name} && ip -n {name} link set lo up" in res.stderr
        assert name in run("ip", "netns", "list").stdout.split()
        assert "UP" in run("ip", "-n", name, "-o", "link", "show", "lo").stdout
        assert_clean_error(nsview("netns", "add", name), 1, "already exists")
        res = nsview("netns", "del", name)
        assert res.returncode == 0, res.stderr
        assert name not in netns_names()
        assert name not in run("grep", "-c", name, "/proc/self/mountinfo", check=False).stdout
        assert_clean_error(nsview("netns", "del", name), 1, "no named netns")
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_netns_del_refuses_busy_then_force(netns_factory, proc_factory):
    name = netns_factory("b")
    member = proc_factory(["ip", "netns", "exec", name, "sleep", "300"])
    _wait_in_netns(member.pid, name)
    res = nsview("netns", "del", name)
    assert_clean_error(res, 1, f"{member.pid} sleep")
    assert name in netns_names()
    res = nsview("netns", "del", "--force", name)
    assert res.returncode == 0, res.stderr
    assert name not in netns_names()
    assert "lives on, unnamed" in res.stderr
    # the process still has its (now anonymous) netns
    assert os.readlink(f"/proc/{member.pid}/ns/net") != os.readlink("/proc/self/ns/net")


def test_netns_del_counts_a_thread_inside_as_in_use(netns_factory, proc_factory):
    """A process whose main thread is elsewhere but one thread joined the netns."""
    name = netns_factory("t")
    member = proc_factory([sys.executable, "-c", textwrap.dedent(f"""
        import ctypes, os, threading, time
        libc = ctypes.CDLL(None, use_errno=True)
        def worker():
            fd = os.open("/run/netns/{name}", os.O_RDONLY)
            ok = libc.setns(fd, 0x40000000) == 0  # CLONE_NEWNET, this thread only
            print(threading.get_native_id() if ok else "setns failed", flush=True)
            time.sleep(600)
        threading.Thread(target=worker, daemon=True).start()
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    line = member.stdout.readline().strip()
    assert line.isdigit(), line
    tid = int(line)
    res = nsview("netns", "del", name)
    assert_clean_error(res, 1, f"{member.pid} python")
    assert f"[thread {tid}]" in res.stderr
    assert name in netns_names()


def test_netns_del_says_what_else_keeps_the_netns_alive(netns_factory, proc_factory, tmp_path):
    """An fd or another bind mount does not block the delete, but is reported."""
    name = netns_factory("k")
    holder = proc_factory(
        ["sh", "-c", f"exec 7</run/netns/{name}; echo ready; exec sleep 600"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "ready"
    extra = tmp_path / "also"
    extra.touch()
    run("mount", "--bind", f"/run/netns/{name}", str(extra))
    try:
        res = nsview("netns", "del", name)
        assert res.returncode == 0, res.stderr
        assert name not in netns_names()
        assert f"fd 7 of pid {holder.pid} (sleep)" in res.stderr
        assert f"mount {extra}" in res.stderr
        assert "lives on, unnamed" in res.stderr
    finally:
        subprocess.run(["umount", "-l", str(extra)], capture_output=True)


def test_netns_del_stale_file():
    name = unique("s")
    path = f"/run/netns/{name}"
    open(path, "w").close()
    try:
        res = nsview("netns", "del", name)
        assert res.returncode == 0, res.stderr
        assert "stale" in res.stdout
        assert not os.path.exists(path)
        assert_clean_error(nsview("exec", "-t", "/etc/hostname"), 1, "not a namespace file")
    finally:
        if os.path.exists(path):
            os.unlink(path)


def _gone_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


BAD_INPUTS = [
    (["exec", "-t", "1"], 1, "permission denied"),
    (["exec", "-t", "/proc/1/ns/net"], 1, "permission denied"),
    (["exec", "-t", "4194305"], 1, "no process with PID 4194305"),
    (["exec", "-t", "nsvtmissing"], 1, "nothing named 'nsvtmissing' (tried container names"),
    (["exec", "-t", "nsvt x"], 2, "whitespace"),
    (["exec", "-t", ".."], 2, "'..'"),
    (["exec", "-t", "x" * 256], 2, "256 bytes"),
    (["exec", "-t", "/etc/hostname"], 1, "not a namespace file"),
    (["exec", "-t", "/nsvt/missing"], 1, "no such file"),
    (["exec", "-t", "nsvtq", "--types", "net,bogus"], 2, "unknown namespace type 'bogus'"),
    (["exec", "-t", "/proc/self/ns/net", "--types", "uts"], 2, "is a net namespace"),
    (["unshare", "--types", "nett", "--", "true"], 2, "unknown namespace type"),
    (["unshare", "--", "true"], 2, "--types is required"),
    (["unshare", "--types", "uts", "--netns-name", "nsvtq", "--", "true"], 2, "needs 'net'"),
    (["unshare", "--netns-name", "a/b", "--", "true"], 2, "contains '/'"),
    (["netns", "add", "nsvt/../x"], 2, "contains '/'"),
    (["netns", "add", "nsvt\tx"], 2, "whitespace"),
    (["netns", "add", "nsvt" + "x" * 252], 2, "256 bytes"),
    (["netns", "del", "nsvtmissing"], 1, "no named netns"),
    (["netns", "del", ".."], 2, "'..'"),
    (["netns"], 2, "sub-command"),
]


@pytest.mark.parametrize("args, code, needle", BAD_INPUTS)
def test_bad_input_is_one_line(args, code, needle):
    assert_clean_error(nsview(*args), code, needle)
    for arg in args:  # nothing created by accident (other people's netns come and go)
        if arg.startswith("nsvt") and "/" not in arg and "\0" not in arg:
            assert not os.path.lexists(f"/run/netns/{arg}"), arg


def test_vanished_pid():
    pid = _gone_pid()
    assert_clean_error(nsview("exec", "-t", str(pid)), 1, f"PID {pid}")


def test_nul_in_name_is_refused_in_process():
    # argv cannot carry NUL: check the library refuses it before any I/O.
    from nsview.actions.names import validate_netns_name
    from nsview.errors import UsageError

    with pytest.raises(UsageError, match="NUL"):
        validate_netns_name("nsvt\0x")


def test_zombie_target():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        for _ in range(500):  # until it is a zombie
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    break
            subprocess.run(["sleep", "0.01"])
        assert_clean_error(nsview("exec", "-t", str(pid), "--", "true"), 1, "zombie")
    finally:
        os.waitpid(pid, 0)
