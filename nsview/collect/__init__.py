"""Read the kernel's namespaces into a :class:`~nsview.model.Snapshot`.

No UI imports here: this package runs under ``nsview dump`` and in tests.
The package itself imports nothing, so that ``nsview dump`` can start its
/proc walk (collect.parallel, kernel.procfs) before the model has loaded.
"""

from __future__ import annotations

__all__ = ["CollectOptions", "collect_snapshot"]  # from nsview.collect.snapshot, on first use


def __getattr__(name: str):
    if name in __all__:
        from nsview.collect import snapshot

        return getattr(snapshot, name)
    raise AttributeError(f"module 'nsview.collect' has no attribute {name!r}")
