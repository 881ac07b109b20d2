"""Helpers for the container-engine tests (Docker here; podman/containerd/CRI-O too).

``cgroup_process(tmp_name, leaf)`` puts a real process in a real cgroup named
like an engine's (``nsvt…/docker-<id>.scope``, ``nsvt…/libpod-<id>.scope``):
the matcher looks for the engine's part anywhere in the path, so the test's
cgroup stays under its own ``nsvt`` prefix. The process is killed and the
cgroups removed afterwards, even when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import unique

UNIFIED = Path("/sys/fs/cgroup/unified")
ENGINES_LOCK = "/tmp/nsview-engines.lock"


def cgroup_root() -> Path:
    """The cgroup v2 hierarchy (hybrid hosts mount it at .../unified)."""
    return UNIFIED if UNIFIED.is_dir() else Path("/sys/fs/cgroup")


@contextlib.contextmanager
def cgroup_processes(leaves: list[str], argv: tuple[str, ...] = ("sleep", "600")) -> Iterator[
    tuple[str, list[subprocess.Popen]]
]:
    """One process per leaf, each in ``<root>/nsvtXXXX/<leaf>``; yields (top dir, processes).

    A leaf may contain "/" (``libpod_parent/<pod>/libpod-<id>``)."""
    top = cgroup_root() / unique("cg")
    made: list[Path] = []
    procs: list[subprocess.Popen] = []
    try:
        top.mkdir()
        made.append(top)
        for leaf in leaves:
            path = top
            for part in leaf.split("/"):
                path = path / part
                if not path.exists():
                    path.mkdir()
                    made.append(path)
            proc = subprocess.Popen(list(argv), start_new_session=True)
            procs.append(proc)
            (path / "cgroup.procs").write_text(f"{proc.pid}\n")
        yield f"/{top.name}", procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()
        for path in reversed(made):
            for _ in range(50):  # a killed process leaves its cgroup a moment later
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
