"""Shared fixtures. Everything a test creates carries the prefix ``nsvt`` and is
removed in a ``finally``, even when the test fails."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PREFIX = "nsvt"
REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    # CI runs as root; a skipped privileged test there would hide a failure.
    if os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="needs root (real namespaces)")
    for item in items:
        if "privileged" in item.keywords:
            item.add_marker(skip)


CROWD_ENV = "NSVIEW_TEST_CROWD"  # N: the session runs among N unrelated network namespaces
CROWD_PREFIX = f"{PREFIX}-crowd"


class Crowd:
    """Unrelated namespaces around the tests, as on a busy host: half of them named
    netns (``ip netns add``), half held by a process of their own (``unshare`` of
    net, uts, ipc, pid and mnt: five namespaces each). Names carry the pid of the
    pytest that made them, so a crashed session's leftovers can be told apart from
    another session's live crowd."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tag = f"{CROWD_PREFIX}{os.getpid()}-"
        self.names = [f"{self.tag}{i}" for i in range(size // 2)]
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        remove_stale_crowds()
        batch = "".join(f"netns add {name}\n" for name in self.names)
        subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
        argv = ["unshare", "--net", "--uts", "--ipc", "--pid", "--mount", "--fork", "--kill-child"]
        for _ in range(self.size - len(self.names)):
            self.procs.append(
                subprocess.Popen(
                    [*argv, "sleep", "infinity"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()  # --kill-child: its sleep goes with it
        for proc in self.procs:
            proc.wait()
        batch = "".join(f"netns del {name}\n" for name in self.names)
        subprocess.run(["ip", "-force", "-batch", "-"], input=batch, text=True, capture_output=True)


def remove_stale_crowds() -> None:
    """Named crowd netns whose pytest is gone (killed before its teardown)."""
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return
    stale = []
    for name in names:
        if name.startswith(CROWD_PREFIX):
            pid = name[len(CROWD_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                stale.append(name)
    if stale:
        batch = "".join(f"netns del {name}\n" for name in stale)
        subprocess.run(["ip", "-force", "-batch", "-"], input=batch, text=True, capture_output=True)


@pytest.fixture(scope="session", autouse=True)
def crowd() -> Iterator[int]:
    """With NSVIEW_TEST_CROWD=N (as root), the whole session runs on a crowded host:
    every test must find its own objects by name or filter, never by position."""
    size = int(os.environ.get(CROWD_ENV) or 0)
    if size <= 0 or os.geteuid() != 0:
        yield 0
        return
    made = Crowd(size)
    try:
        made.start()
        yield size
    finally:
        made.stop()


def unique(stem: str = "") -> str:
    """A short unique name with the test prefix (interface names max 15 bytes)."""
    return f"{PREFIX}{stem}{uuid.uuid4().hex[:6]}"


def run(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


@pytest.fixture
def netns_factory() -> Iterator:
    """Create named netns (`ip netns add`); all are deleted afterwards."""
    made: list[str] = []

    def make(stem: str = "") -> str:
        name = unique(stem)
        run("ip", "netns", "add", name)
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def proc_factory() -> Iterator:
    """Start background processes (own session); all are killed afterwards."""
    procs: list[subprocess.Popen] = []

    def start(argv: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        procs.append(p)
        return p

    try:
        yield start
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 9)
            p.wait()


def nsview_bin() -> str:
    """The installed console script beside the running interpreter."""
    candidate = Path(os.sys.executable).parent / "nsview"
    return str(candidate) if candidate.exists() else shutil.which("nsview") or "nsview"


LAB_TEST_LOCK = "/run/lock/nsview-lab-tests.lock"


@contextlib.contextmanager
def lab_turn() -> Iterator[None]:
    """The lab is one per machine: test sessions running at once take turns."""
    import fcntl

    os.makedirs(os.path.dirname(LAB_TEST_LOCK), exist_ok=True)
    with open(LAB_TEST_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def running_lab():
    """A lab that is up for the test: one already up is used as it is (and left up);
    otherwise it is brought up here and taken down afterwards, even on failure."""
    from nsview.lab import lab_down, lab_status, lab_up

    with lab_turn():
        started = lab_status().status != "up"
        try:
            yield lab_up() if started else lab_status()
        finally:
            if started:
                lab_down()
