"""Actions that change the system: join, create and delete namespaces.

Pure logic (names, targets, equivalent commands) lives in :mod:`names`,
:mod:`targets` and :mod:`commands`; :mod:`join` and :mod:`create` fork the
children that call setns/unshare. The calling process never changes namespace.
"""
