"""The eight namespace types, in the order /proc/PID/ns lists them, their
CLONE_NEW* flags, and which types nest.

A leaf module shared by the model and the /proc reader: ``nsview dump`` starts
reading /proc before the model (and ``dataclasses``) have loaded.
"""

NS_TYPES: tuple[str, ...] = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
# Types whose namespaces form a parent/child tree (NS_GET_PARENT); a user
# namespace's parent is also its owner.
HIERARCHICAL_TYPES: frozenset[str] = frozenset({"pid", "user"})

# type name -> CLONE_NEW* flag (setns, unshare, and NS_GET_NSTYPE's answer)
CLONE_FLAGS: dict[str, int] = {
    "cgroup": 0x02000000,
    "ipc": 0x08000000,
    "mnt": 0x00020000,
    "net": 0x40000000,
    "pid": 0x20000000,
    "time": 0x00000080,
    "user": 0x10000000,
    "uts": 0x04000000,
}
# CLONE_NEW* flag -> type name
CLONE_FLAG_TYPES: dict[int, str] = {flag: name for name, flag in CLONE_FLAGS.items()}
CLONE_NEWNET = CLONE_FLAGS["net"]
