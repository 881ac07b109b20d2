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
