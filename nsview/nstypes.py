"""The eight namespace types, in the order /proc/PID/ns lists them.

A leaf module shared by the model and the /proc reader: ``nsview dump`` starts
reading /proc before the model (and ``dataclasses``) have loaded.
"""

NS_TYPES: tuple[str, ...] = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
