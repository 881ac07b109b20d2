"""The kernel floor: what nsview asks of Linux, below every other layer.

- :mod:`~nsview.kernel.nstypes`: the namespace types and their CLONE_NEW* flags;
- :mod:`~nsview.kernel.nsfs`: the nsfs ioctls (owner, parent, type, id);
- :mod:`~nsview.kernel.libc`: the one ctypes binding (setns, unshare, mount, …);
- :mod:`~nsview.kernel.procfs`: the lean /proc reader;
- :mod:`~nsview.kernel.netns`: threads that enter network namespaces (setns);
- :mod:`~nsview.kernel.userns`: a forked child that joins a user namespace, then a netns;
- :mod:`~nsview.kernel.netlink`: the one netlink socket loop, with
  :mod:`~nsview.kernel.rtnl` (rtnetlink) and :mod:`~nsview.kernel.nftables` on it.

Nothing here imports collect, the model or anything above. The package itself
imports nothing, and nstypes, nsfs and procfs stay free of typing, dataclasses
and re: ``nsview dump`` forks its /proc walk before those load.
"""
