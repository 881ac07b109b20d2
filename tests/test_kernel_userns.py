"""kernel.userns: a forked child joins a user namespace, then a netns, and sends
back what the function returned; the caller's own namespaces never change."""

from __future__ import annotations

import os
import time

import pytest

from nsview.kernel.userns import UsernsFailed, run_in_userns

pytestmark = pytest.mark.privileged


def _inode(path: str) -> int:
    return os.stat(path).st_ino


@pytest.fixture
def userns_process(proc_factory):
    """A process in a new user namespace (root mapped) with its own netns."""
    proc = proc_factory(["unshare", "--user", "--map-root-user", "--net", "sleep", "600"])
    deadline = time.monotonic() + 10
    while _inode(f"/proc/{proc.pid}/ns/user") == _inode("/proc/self/ns/user"):
        assert time.monotonic() < deadline, "unshare did not start"
        time.sleep(0.02)
    return proc.pid


def test_runs_inside_and_returns(userns_process):
    pid = userns_process
    before = {t: _inode(f"/proc/self/ns/{t}") for t in ("user", "net")}

    def inside():
        return (_inode("/proc/self/ns/user"), _inode("/proc/self/ns/net"), os.getuid())

    user, net, uid = run_in_userns(f"/proc/{pid}/ns/user", f"/proc/{pid}/ns/net", inside)
    assert (user, net) == (_inode(f"/proc/{pid}/ns/user"), _inode(f"/proc/{pid}/ns/net"))
    assert uid == 0  # root of that user namespace (--map-root-user)
    assert {t: _inode(f"/proc/self/ns/{t}") for t in ("user", "net")} == before


def test_what_the_function_raises_comes_back(userns_process):
    pid = userns_process

    def boom():
        raise ValueError("nope")

    with pytest.raises(UsernsFailed, match="ValueError: nope"):
        run_in_userns(f"/proc/{pid}/ns/user", f"/proc/{pid}/ns/net", boom)


def test_a_path_that_is_not_a_user_namespace_fails_to_join(userns_process):
    pid = userns_process
    with pytest.raises(UsernsFailed) as err:
        run_in_userns(f"/proc/{pid}/ns/net", f"/proc/{pid}/ns/net", lambda: 1)
    assert err.value.errno is not None
    with pytest.raises(FileNotFoundError):
        run_in_userns("/proc/nonexistent/ns/user", f"/proc/{pid}/ns/net", lambda: 1)
