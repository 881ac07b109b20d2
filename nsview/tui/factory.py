"""The one way to build the TUI: ``make_app(AppOptions(...))``.

The CLI (``nsview``, ``nsview --load``, ``--demo``), the tests and
``scripts/screenshots.py`` all build the app here, so what they run is the
same app with the same themes and start-up.

A :class:`SnapshotSource` says where snapshots come from — this host (live),
a file (``--load``, re-read on ``r``), or one snapshot given as it is — and is
the app's only record of that: whether actions may change the system
(``live``), what the status line names (``origin``), what a refresh calls
(``fetch``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nsview.model import Snapshot
from nsview.model.fleet import Fleet
from nsview.tui.themes import ThemeSet, load_themes

# What a refresh calls, on a worker thread, with ``cancelled``: it turns True
# when the app no longer wants the result (quitting); a long collection then
# stops early by raising errors.Cancelled, so quitting does not wait for it.
Fetch = Callable[[Callable[[], bool]], Snapshot]


@dataclass(frozen=True, slots=True)
class SnapshotSource:
    fetch: Fetch | None = None  # what a refresh calls; None: nothing to refresh from
    initial: Snapshot | None = None  # shown at once, before any fetch
    live: bool = False  # reads this host: actions (join, create, delete) make sense
    origin: str = ""  # for the status line: "" when live, else where it came from
    fleet: Fleet | None = None  # a fleet file: the app shows one host at a time (H picks)
    # After a fetch: True to fetch again at once (the live source's quick first look).
    more: Callable[[], bool] | None = None
    # --diff: the earlier snapshot; rows that changed since it are marked (c lists all).
    diff_base: Snapshot | None = None
    diff_origin: str = ""

    @classmethod
    def host(cls, *, net: bool = True) -> SnapshotSource:
        """Collect this host; each refresh re-reads only what changed (collect/incremental.py)."""
        from nsview.collect import CollectOptions
        from nsview.collect.incremental import IncrementalCollector

        collector = IncrementalCollector(CollectOptions(net=net), first_look=True)
        return cls(fetch=collector.collect, live=True, more=collector.more)

    @classmethod
    def collector(cls, fetch: Fetch) -> SnapshotSource:
        """This host, read by ``fetch`` (a narrower or slower collection)."""
        return cls(fetch=fetch, live=True)

    @classmethod
    def file(cls, path: str, load: Callable[[str], Snapshot]) -> SnapshotSource:
        """A saved snapshot: read now (errors surface before the app starts), again on ``r``."""
        return cls(fetch=lambda _cancelled: load(path), initial=load(path), origin=path)

    @classmethod
    def fleet_file(cls, path: str, fleet: Fleet) -> SnapshotSource:
        """A fleet file (``nsview fleet collect``): its first collected host is shown
        first; the others are a key away. Nothing to refresh."""
        hosts = fleet.ok_hosts()
        initial = hosts[0].snapshot if hosts else Snapshot()
        return cls(initial=initial, origin=path, fleet=fleet)

    def with_diff_base(self, base: Snapshot, origin: str) -> SnapshotSource:
        """This source, its snapshots compared with ``base`` (``--load A --diff B``)."""
        from dataclasses import replace

        return replace(self, diff_base=base, diff_origin=origin)

    @classmethod
    def given(cls, snapshot: Snapshot, origin: str = "") -> SnapshotSource:
        """One snapshot, as it is; nothing to refresh."""
        return cls(initial=snapshot, origin=origin)


@dataclass(frozen=True, slots=True)
class AppOptions:
    source: SnapshotSource
    interval: float = 0.0  # seconds between automatic refreshes; 0: only on ``r``
    theme: str | None = None  # None: the default theme
    themes: ThemeSet | None = None  # None: the shipped themes and the user's
    startup_messages: tuple[str, ...] = ()  # shown as warnings once the app is up


def make_app(options: AppOptions):
    """The nsview app for ``options`` (not running yet: call ``.run()`` or ``.run_test()``)."""
    from nsview.tui.app import NsviewApp

    return NsviewApp(
        source=options.source,
        interval=options.interval,
        themes=options.themes if options.themes is not None else load_themes(),
        theme=options.theme,
        startup_messages=options.startup_messages,
    )
