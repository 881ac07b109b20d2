"""End to end: the real ``nsview`` in tmux on a real topology.

Two network namespaces joined by a veth pair; nsview is filtered to one of
them, walks to its veth, jumps (g) to the peer in the other namespace, and
quits: the process must exit 0 with the terminal back in its normal mode.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time

import pytest

from tests.conftest import nsview_bin, run, unique

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]


class Tmux:
    """A tmux server of our own (-L socket), so no one else's sessions are touched."""

    def __init__(self, session: str) -> None:
        self.session = session

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("tmux", "-L", self.session, *args, check=check)

    def start(self, command: str, width: int = 120, height: int = 40) -> None:
        self.tmux(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command
        )
        self.tmux("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))

    def size(self) -> str:
        fmt = "#{window_width}x#{window_height}"
        return self.tmux("display-message", "-p", "-t", self.session, fmt).stdout.strip()

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.session, key)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)

    def screen(self) -> str:
        res = self.tmux("capture-pane", "-p", "-t", self.session, check=False)
        return res.stdout

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """Poll the screen until ``text`` shows (generous: collection takes a moment)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.session, "kill-server"], capture_output=True)


@pytest.fixture
def veth_pair(netns_factory):
    """Two named netns with a veth pair between them, up, with addresses."""
    left, right = netns_factory("a"), netns_factory("b")
    va, vb = unique("va"), unique("vb")
    run("ip", "link", "add", va, "netns", left, "type", "veth", "peer", "name", vb, "netns", right)
    run("ip", "-n", left, "addr", "add", "10.254.7.1/30", "dev", va)
    run("ip", "-n", right, "addr", "add", "10.254.7.2/30", "dev", vb)
    run("ip", "-n", left, "link", "set", va, "up")
    run("ip", "-n", right, "link", "set", vb, "up")
    return left, va, right, vb  # the netns (and with them the veths) go in teardown


def test_filter_jump_to_veth_peer_and_quit(veth_pair):
    left, va, right, vb = veth_pair
    tmux = Tmux(unique("tmux"))
    # After nsview exits, print its exit status and whether the tty is canonical again.
    command = (
        # (pytest exports COLUMNS/LINES, which would pin the app to 80x24)
        f"env -u COLUMNS -u LINES {nsview_bin()} --interval 0; echo EXIT=$?; "
        "stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon -e echo -e -echo; "
        "echo STTY-DONE; sleep 60"
    )
    try:
        tmux.start(command)
        assert tmux.size() == "120x40"
        tmux.wait_for(" procs", timeout=120)  # the status line after the first collection
        # Typed at full speed: keys right after "/" or "2" must reach the new focus.
        tmux.keys("/")
        tmux.type(left)
        tmux.keys("Enter")
        tmux.wait_for(f"filter “{left}”: 1 here")
        # The tree repaints after the status line on a crowded host: wait for the row.
        screen = tmux.wait_for("net:[", timeout=30)
        assert left in screen
        tmux.keys("2")  # Network view: the filtered netns
        tmux.wait_for(f"filter “{left}”")
        tmux.keys("l")
        tmux.wait_for(va)
        tmux.keys("j", "j")  # lo, then the veth
        tmux.wait_for(f"interface {va} @ {left}")  # the detail pane
        tmux.wait_for(f"g → veth peer {vb} @ {right}")  # its first relation
        tmux.keys("g")
        tmux.wait_for(f"interface {vb} @ {right}")  # the detail pane: the peer
        screen = tmux.wait_for(f"g → veth peer {va} @ {left}")  # which points back
        assert f"{vb}  veth" in screen, screen  # its row is on screen (the cursor is on it)
        assert "10.254.7.2/30" in screen, screen
        tmux.keys("q")
        tmux.wait_for("EXIT=0", timeout=30)
        screen = tmux.wait_for("STTY-DONE")
        lines = screen.split()
        assert "icanon" in lines and "echo" in lines  # the terminal is restored
        assert "-icanon" not in lines
        alt = tmux.tmux("display-message", "-p", "-t", tmux.session, "#{alternate_on}")
        assert alt.stdout.strip() == "0"
    finally:
        tmux.kill()


def test_demo_brings_the_lab_up_and_down(tmp_path):
    """nsview --demo: the lab's namespaces are on screen, and gone after q."""
    from nsview.lab import lab_status

    if lab_status().status != "down":
        pytest.skip("a lab is up already (--demo would leave it up)")
    tmux = Tmux(unique("tmux"))
    command = f"env -u COLUMNS -u LINES {nsview_bin()} --demo --interval 0; echo EXIT=$?; sleep 60"
    try:
        tmux.start(command)
        tmux.wait_for(" procs", timeout=180)
        # Filtered to one of the lab's namespaces: on a crowded host the first
        # screen holds other namespaces.
        tmux.keys("/")
        tmux.type("nsvlab-host1")
        tmux.keys("Enter")
        tmux.wait_for("filter “nsvlab-host1”")
        tmux.keys("2")
        tmux.wait_for("nsvlab-host1  net:[")
        tmux.keys("q")
        tmux.wait_for("EXIT=0", timeout=120)
        assert lab_status().status == "down"
    finally:
        # Quit through the app, so that demo_session takes the lab down even when
        # an assertion failed (killing tmux would only hang up on it).
        with contextlib.suppress(Exception):
            tmux.keys("escape", "escape", "q")
            tmux.wait_for("EXIT=", timeout=120)
        tmux.kill()
