"""The real TUI in a real terminal (tmux): join a "container", run hostname, come back.

One container is made by the test (own uts, pid, mount and net namespaces and
its own hostname), so it does not depend on the lab; a second test joins the
lab's "web" container when the lab is up. tmux runs on a private socket file
(-S, in the test's tmp dir), killed and removed in ``finally``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import nsview_bin, unique

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


class Tmux:
    """A private tmux server on its own socket file (removed by :meth:`close`)."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str, check: bool = True) -> str:
        res = subprocess.run(
            ["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, check=check
        )
        return res.stdout

    def close(self) -> None:
        self("kill-server", check=False)
        self.socket.unlink(missing_ok=True)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "main", check=False)

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "main", *keys)

    def wait_for(self, *needles: str, absent: str | None = None, tries: int = 300) -> str:
        """Poll the screen until every needle shows (readiness, not a timing assertion)."""
        screen = ""
        for _ in range(tries):
            screen = self.screen()
            if all(n in screen for n in needles) and (absent is None or absent not in screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"never showed {needles!r} (absent {absent!r}):\n{screen}")


SNAPSHOT_TIME = re.compile(r"\d\d:\d\d:\d\dZ")  # the status line shows when it was read


def select_process(tmux: Tmux, pid: int) -> None:
    """Processes view, filter on the PID (the filter puts the cursor on the match)."""
    tmux.keys("3")
    tmux.keys("/")
    tmux.wait_for("filter:")  # the filter field's placeholder
    tmux.keys(str(pid), "Enter")
    tmux.wait_for(f"process {pid}", tries=600)


needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def join_from_the_tui(pid: int, hostname: str, flags: str, tmp: Path) -> None:
    """Open the TUI in tmux, select ``pid``, x, run hostname in the shell, exit, q."""
    tmux = Tmux(tmp / unique("tmux"))
    command = f"env SHELL=/bin/sh TERM=xterm-256color {nsview_bin()} --no-net --interval 0"
    equivalent = f"nsenter -t {pid} {flags} -- /bin/sh"
    try:
        tmux("new-session", "-d", "-s", "main", "-x", "120", "-y", "40", command)
        tmux.wait_for("x Join")
        for _ in range(300):  # the first snapshot is in once the status shows its time
            if SNAPSHOT_TIME.search(tmux.screen()):
                break
            time.sleep(0.1)
        select_process(tmux, pid)
        tmux.keys("x")
        screen = tmux.wait_for(f"Join PID {pid}", "equivalent command")
        assert equivalent in screen
        tmux.keys("Enter")  # the command field has the focus
        tmux.wait_for(f"joining PID {pid}", f"# {equivalent}")
        tmux.keys("hostname; echo pid=$$", "Enter")
        for _ in range(300):  # the output line, not the echo of the typed command
            screen = tmux.screen()
            if re.search(r"^pid=\d+$", screen, re.MULTILINE):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the shell never answered:\n{screen}")
        assert hostname in screen.split()  # the container's hostname, not the host's
        assert "pid=1\n" not in screen  # the shell is a child in the container's pid ns
        tmux.keys("exit", "Enter")
        # the TUI is back (footer, tabs), on the same selection as before the join
        tmux.wait_for("x Join", "3·Processes", f"process {pid}", absent="joining PID")
        tmux.keys("q")
        for _ in range(100):
            if "main" not in tmux("list-sessions", check=False):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the TUI did not quit:\n" + tmux.screen())
    finally:
        tmux.close()


@needs_tmux
def test_join_a_container_from_the_tui_and_come_back(proc_factory, tmp_path):
    hostname = unique("c")
    outer = proc_factory(
        [
            "unshare", "--uts", "--pid", "--fork", "--mount", "--mount-proc", "--net",
            "sh", "-c", f"hostname {hostname}; echo ready; exec sleep 300",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert outer.stdout.readline().strip() == "ready"
    pid = int(subprocess.run(["pgrep", "-P", str(outer.pid)], capture_output=True,
                             text=True, check=True).stdout.split()[0])  # fmt: skip
    join_from_the_tui(pid, hostname, "-u -n -p -m -w", tmp_path)


@needs_tmux
def test_join_a_lab_container_from_the_tui(tmp_path, running_lab):
    """The lab's "web" container (a lab already up is used and left up)."""
    web = running_lab.container("web")
    assert web.pid is not None and web.hostname
    join_from_the_tui(web.pid, web.hostname, "-i -u -n -p -m -w", tmp_path)
