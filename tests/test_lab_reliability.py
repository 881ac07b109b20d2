"""The lab comes down however nsview --demo ends, and lab down waits for what it killed.

- ``nsview --demo`` in a terminal that goes away (tmux killed: the pty hangs up,
  as an SSH session that drops) or sent SIGTERM takes the lab down, as ``q`` does.
- ``nsview lab down`` returns only once the processes it killed are gone from
  /proc, or names those still exiting (zombies PID 1 has not reaped yet).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time

import pytest

from nsview.lab import topology as topo

from .conftest import lab_turn, nsview_bin, unique
from .test_tui_e2e import Tmux

pytestmark = pytest.mark.privileged


@pytest.fixture
def no_lab():
    from nsview.lab import lab_down, lab_status

    with lab_turn():
        if lab_status().status != "down":
            pytest.skip("a lab is up already; these tests need to start it themselves")
        try:
            yield
        finally:
            lab_down()


def _lab_pids() -> list[tuple[int, int | None]]:
    import json

    with open(topo.STATE_FILE) as f:
        data = json.load(f)
    return [(c["pid"], c.get("start")) for c in data.get("containers", {}).values()
            if c.get("pid")]


def _demo_pid(tmux: Tmux) -> int:
    """The nsview process in the tmux pane (the pane's shell may have exec'd it)."""
    pane = int(tmux.tmux("display-message", "-p", "-t", tmux.session,
                         "#{pane_pid}").stdout.strip())
    todo = [pane]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--demo" in argv and any(a.endswith(b"nsview") for a in argv[:2]):
            return pid
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as f:
            todo += [int(c) for c in f.read().split()]
    raise AssertionError(f"no nsview --demo under pane {pane}")


def _wait_exit(pid: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.1)
    raise AssertionError(f"nsview --demo (pid {pid}) still running after {timeout}s")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
@pytest.mark.parametrize("how", ["hangup", "sigterm"])
def test_demo_takes_the_lab_down_when_its_terminal_goes(no_lab, how):
    from nsview.lab import lab_status

    tmux = Tmux(unique("tmux"))
    try:
        tmux.start(f"env -u COLUMNS -u LINES {nsview_bin()} --demo --interval 0")
        tmux.wait_for(" procs", timeout=180)
        assert lab_status().status == "up"
        pid = _demo_pid(tmux)
        if how == "hangup":
            tmux.kill()  # the pty's far side closes: the kernel sends SIGHUP
        else:
            os.kill(pid, signal.SIGTERM)
        _wait_exit(pid)
        assert lab_status().status == "down", lab_status().problems
    finally:
        tmux.kill()


def test_lab_down_returns_when_the_killed_processes_are_gone(no_lab):
    up = subprocess.run([nsview_bin(), "lab", "up"], capture_output=True, text=True,
                        timeout=300)
    assert up.returncode == 0, up.stderr
    pids = _lab_pids()
    assert len(pids) >= 10
    down = subprocess.run([nsview_bin(), "lab", "down"], capture_output=True, text=True,
                          timeout=300)
    assert down.returncode == 0, down.stderr
    from nsview.lab.system import proc_state

    left = [pid for pid, start in pids if proc_state(pid, start) is not None]
    # Anything still listed is a zombie nsview could not reap, and the output names it.
    for pid in left:
        assert f"pid {pid} (a zombie" in down.stdout, (left, down.stdout)
