"""One network namespace to collect (``nsview net TARGET``), found after the walk.

The CLI resolves what it can by itself (a PID, a path, an ``ip netns`` name:
:func:`nsview.actions.targets.resolve_target`); any other name (Docker's
sandbox ids, a container's or pod's name) only the process walk knows, so it
is looked up here (nsview.model.targets: containers, pods, netns names).
"""

from __future__ import annotations

from dataclasses import dataclass

from nsview.errors import UsageError
from nsview.model import Holder, Namespace, Snapshot


@dataclass(slots=True, frozen=True)
class NetTarget:
    """The inode of a network namespace and a path that opens it, or a name to look up.

    ``path`` is how to enter it should the walk find nothing holding it (a
    bind mount in another mount namespace, say).
    """

    inode: int | None = None
    path: str | None = None
    name: str | None = None

    def find(self, snapshot: Snapshot) -> Namespace:
        """The target's namespace in ``snapshot``, added there if only ``path`` holds it.

        UsageError for a name no namespace has, or several have.
        """
        inode = self.inode if self.inode is not None else _inode_named(self.name or "", snapshot)
        ns = snapshot.namespace("net", inode)
        if ns is None:
            ns = Namespace(type="net", inode=inode, holders=[Holder("bind_mount", path=self.path)])
            snapshot.namespaces.append(ns)
        return ns


def _inode_named(name: str, snapshot: Snapshot) -> int:
    """The netns a name stands for: a container, a pod, a netns name (model.targets)."""
    from nsview.model.targets import TargetError, find_name

    try:
        found = find_name(snapshot, name)
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    inode = found.netns_inode()
    if inode is None:
        raise UsageError(f"{found.what}: its network namespace could not be read")
    return inode
