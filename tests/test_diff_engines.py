"""nsview diff on a real Docker host: a container started, then restarted."""

from __future__ import annotations

import pytest

from nsview.analyze.diff import diff_snapshots
from nsview.collect import CollectOptions, collect_snapshot
from tests.conftest import unique
from tests.docker_daemon import IMAGE, docker_daemon_fixture

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def dockerd():
    yield from docker_daemon_fixture()


def _snapshot(daemon, *pids: int):
    # The daemon's netns and the container's only: the host may be crowded.
    return collect_snapshot(CollectOptions(net=True, net_pids=(daemon.pid, *pids)))


def test_a_container_started_and_restarted(dockerd):
    name = unique("dif")
    before = _snapshot(dockerd)
    try:
        dockerd.docker(
            "run", "-d", "--name", name, "-p", "18181:80", IMAGE, "httpd", "-f", "-p", "80"
        )
        first = dockerd.inspect(name)["State"]["Pid"]
        started = _snapshot(dockerd, first)
        dockerd.docker("restart", "-t", "0", name)
        second = dockerd.inspect(name)["State"]["Pid"]
        restarted = _snapshot(dockerd, second)
    finally:
        dockerd.docker("rm", "-f", name, check=False)

    result = diff_snapshots(before, started)
    added = [c for c in result.changes if c.section == "container" and c.op == "added"]
    assert [c.after["name"] for c in added if name in c.key] == [name]
    assert added[0].after["image"] == IMAGE
    # Its netns appeared, named by the container; docker0 got a port; the DNAT came.
    daemon_label = next(
        c.scope.label
        for c in result.changes
        if c.scope is not None and c.scope.b_inode == dockerd.netns_inode()
    )
    mine = [c for c in result.changes if c.scope is not None and c.scope.label == daemon_label]
    assert any(c.section == "interface" and c.op == "added" for c in mine)
    assert any(c.section == "nat" and c.op == "added" and "18181" in c.key for c in mine)
    assert any(
        c.section == "namespace" and c.op == "added" and c.after["type"] == "net" and name in c.key
        for c in result.changes
    )

    again = diff_snapshots(started, restarted)
    changed = [c for c in again.changes if c.section == "container" and name in c.key]
    assert [c.op for c in changed] == ["changed"]
    assert "main_pid" in changed[0].fields
    assert (changed[0].before["main_pid"], changed[0].after["main_pid"]) == (first, second)
