"""One network namespace to collect (``nsview net TARGET``), found after the walk.

The CLI resolves what it can by itself (a PID, a path, an ``ip netns`` name:
:func:`nsview.actions.targets.resolve_target`); any other name (Docker's
sandbox ids, say) only the process walk knows, so it is looked up here, among
the names the snapshot gives its namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass

from nsview.errors import UsageError
from nsview.model import Holder, Namespace, Snapshot

MAX_NAMES_LISTED = 8


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
    matches = [ns for ns in snapshot.namespaces if ns.type == "net" and name in ns.names]
    if len(matches) == 1:
        return matches[0].inode
    if len(matches) > 1:
        inodes = ", ".join(str(ns.inode) for ns in matches)
        raise UsageError(
            f"name {name!r} is used by several network namespaces ({inodes}); give a path"
        )
    known = sorted({n for ns in snapshot.namespaces if ns.type == "net" for n in ns.names})
    hint = (
        f" (known: {', '.join(known[:MAX_NAMES_LISTED])}"
        + (", …)" if len(known) > MAX_NAMES_LISTED else ")")
        if known
        else " (no named network namespaces)"
    )
    raise UsageError(f"no network namespace named {name!r}{hint}")
