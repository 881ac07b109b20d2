"""`nsview dump` end to end: the JSON contract, filters, errors, non-root."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from nsview.model import NS_TYPES, SCHEMA_VERSION, snapshot_from_json

from .conftest import nsview_bin, run


def nsview(*args: str, check: bool = True, user: str | None = None):
    argv = [nsview_bin(), *args]
    if user:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture(scope="module")
def dump():
    return json.loads(nsview("dump", "--json", "--no-net").stdout)


@pytest.mark.privileged
def test_json_has_the_documented_fields(dump):
    assert dump["schema_version"] == SCHEMA_VERSION
    assert dump["collected_at"].endswith("Z")
    assert dump["host"]["hostname"] == os.uname().nodename
    assert dump["host"]["kernel"] == os.uname().release
    assert isinstance(dump["diagnostics"], list)
    types = {ns["type"] for ns in dump["namespaces"]}
    assert types == set(NS_TYPES)
    for ns in dump["namespaces"]:
        assert {"type", "inode", "id", "pids", "holders", "names", "parent", "owner",
                "owner_uid"} <= set(ns)
        assert isinstance(ns["inode"], int)
        for holder in ns["holders"]:
            assert holder["kind"] in ("process", "thread", "fd", "bind_mount", "for_children")
            assert isinstance(holder["pid"], int)
    me = next(p for p in dump["processes"] if p["comm"] == "nsview" or p["pid"] > 1)
    assert {"pid", "ppid", "comm", "cmdline", "uid", "nspid", "cgroup", "ns"} <= set(me)
    full = [p for p in dump["processes"] if len(p["ns"]) == 8]
    assert full, "no process with all eight namespaces"


@pytest.mark.privileged
def test_json_round_trips_through_the_model(dump):
    snap = snapshot_from_json(json.dumps(dump))
    assert len(snap.namespaces) == len(dump["namespaces"])
    assert snap.processes[0].pid == dump["processes"][0]["pid"]


@pytest.mark.privileged
def test_type_filter():
    out = json.loads(nsview("dump", "--json", "--no-net", "--type", "net,pid").stdout)
    assert {ns["type"] for ns in out["namespaces"]} == {"net", "pid"}


@pytest.mark.privileged
def test_pid_filter(proc_factory):
    p = proc_factory(["unshare", "--uts", "sleep", "600"])
    for _ in range(100):
        if os.readlink(f"/proc/{p.pid}/ns/uts") != os.readlink("/proc/self/ns/uts"):
            break
        import time

        time.sleep(0.02)
    out = json.loads(nsview("dump", "--json", "--no-net", "--pid", str(p.pid)).stdout)
    assert [proc["pid"] for proc in out["processes"]] == [p.pid]
    assert len(out["namespaces"]) == 8
    uts = next(ns for ns in out["namespaces"] if ns["type"] == "uts")
    assert uts["pids"] == [p.pid]


@pytest.mark.privileged
def test_readable_tree_groups_by_type(proc_factory):
    # A process alone in its uts namespace is listed whatever else runs on the host
    # (a namespace lists its first 20 processes).
    p = proc_factory(["unshare", "--uts", "sleep", "600"])
    while os.readlink(f"/proc/{p.pid}/ns/uts") == os.readlink("/proc/self/ns/uts"):
        time.sleep(0.02)
    out = nsview("dump", "--no-net").stdout
    for ns_type in NS_TYPES:
        assert f"{ns_type} (" in out
    assert f"{p.pid}  sleep  sleep 600" in out
    # the host's processes come before (and instead of) its kernel threads
    assert "kthreadd" not in out
    assert "kernel threads" in out
    # (on a crowded host this process may be past the first 20 listed: ask for it)
    mine = nsview("dump", "--no-net", "--pid", str(os.getpid())).stdout
    assert f"{os.getpid()}  python" in mine


@pytest.mark.privileged
def test_output_file_is_written_whole(tmp_path):
    target = tmp_path / "snap.json"
    nsview("dump", "--json", "--no-net", "-o", str(target))
    assert json.loads(target.read_text())["schema_version"] == SCHEMA_VERSION
    assert [p.name for p in tmp_path.iterdir()] == ["snap.json"]


@pytest.mark.parametrize(
    "args",
    [
        ["dump", "--type", "bogus"],
        ["dump", "--type", ""],
        ["dump", "--pid", "abc"],
        ["dump", "--pid", "0"],
        ["dump", "--unknown-flag"],
        ["frobnicate"],
        ["dump", "--indent", "x"],
    ],
)
def test_bad_input_is_one_line_exit_2(args):
    result = nsview(*args, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("nsview")


@pytest.mark.privileged
def test_pid_that_does_not_exist_is_one_line():
    result = nsview("dump", "--json", "--no-net", "--pid", "4194304", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "nsview: no process 4194304 (it may have exited)"
    )
    assert result.stdout == ""


@pytest.mark.privileged
def test_output_to_a_device_or_fifo_writes_through(tmp_path):
    """-o /dev/null must not rename a temporary file over the device node."""
    before = os.stat("/dev/null")
    nsview("dump", "--json", "--no-net", "-o", "/dev/null")
    after = os.stat("/dev/null")
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = tmp_path / "received.json"
    # cat writes to a file, not a pipe nobody reads yet: a big host's dump
    # would fill that pipe and block the dump writing into the FIFO.
    with open(received, "wb") as sink:
        reader = subprocess.Popen(["cat", str(fifo)], stdout=sink)
    nsview("dump", "--json", "--no-net", "-o", str(fifo))
    reader.wait(timeout=60)
    assert json.loads(received.read_text())["schema_version"] == SCHEMA_VERSION
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_unwritable_output_is_one_line(tmp_path):
    result = nsview("dump", "--json", "--no-net", "-o", str(tmp_path / "no" / "such" / "f"),
                    check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot write" in result.stderr


@pytest.mark.privileged
def test_non_root_sees_what_it_can_and_says_what_it_cannot(tmp_path):
    if not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is needed for this test")
    # the nobody user must be able to run the venv's interpreter
    result = nsview("dump", "--json", "--no-net", user="65534", check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["host"]["collector_uid"] == 65534
    denied = [d for d in out["diagnostics"] if d["kind"] == "denied"]
    assert denied, "a non-root walk must record what it could not read"
    assert "non-root" in result.stderr
    # it still sees its own namespaces
    mine = [p for p in out["processes"] if p["uid"] == 65534 and len(p["ns"]) == 8]
    assert mine


def test_dump_path_does_not_import_ui_libraries():
    code = (
        "import sys; from nsview.cli import main; "
        "sys.stdout = open('/dev/null', 'w'); main(['dump', '--json', '--no-net']); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'pyroute2')]; "
        "sys.stderr.write(repr(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_python_dash_m_works():
    result = run(sys.executable, "-m", "nsview", "--version")
    assert result.stdout.startswith("nsview ")


def test_reader_leaving_early_is_not_an_error():
    """dump ends without interpreter teardown; a closed pipe still exits 0, quietly."""
    proc = subprocess.Popen(
        [nsview_bin(), "dump", "--json", "--no-net"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.read(1) == b"{"
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_full_disk_is_one_line():
    with open("/dev/full", "w") as full:
        result = subprocess.run([nsview_bin(), "dump", "--json", "--no-net"], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "nsview: No space left on device"
    assert "Traceback" not in result.stderr


def test_tree_text_draws_what_rich_tree_draws():
    """The dump tree's own line drawing (fast on large hosts) matches rich's Tree."""
    import io

    from rich.console import Console
    from rich.tree import Tree

    from nsview.cli.render import tree_text

    tree = Tree("root")
    a = tree.add("a [bold]1[/]")
    a.add("a.1").add("a.1.x")
    a.add("a.2")
    tree.add("b").add("b.1")
    tree.add("c")
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(tree)
    assert tree_text(tree).plain + "\n" == buf.getvalue()
