"""The eight namespace types, in the order /proc/PID/ns lists them, and which nest.

A leaf module shared by the model and the /proc reader: ``nsview dump`` starts
reading /proc before the model (and ``dataclasses``) have loaded.
"""

NS_TYPES: tuple[str, ...] = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
# Types whose namespaces form a parent/child tree (NS_GET_PARENT); a user
# namespace's parent is also its owner.
HIERARCHICAL_TYPES: frozenset[str] = frozenset({"pid", "user"})
