#!/usr/bin/env python3
"""Make the SVG screenshots in screenshots/ from the lab (run as root).

    sudo .venv/bin/python scripts/screenshots.py [--out screenshots] [--whole-host]

Brings the lab up (``nsview.lab.demo_session``: a lab that was already up is
left up, one this script built is torn down again, also on Ctrl-C), collects
a live snapshot, narrows it to the lab's namespaces and processes (so the
pictures do not depend on whatever else runs on the machine; --whole-host
keeps everything), then drives the TUI at a fixed size and saves one SVG per
view, one per theme of the Network view, and the help screen.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZE = (130, 38)


def lab_only(snapshot, lab):
    """The part of ``snapshot`` that belongs to the lab (its processes and namespaces)."""
    from nsview.lab import topology

    pids = {c.pid for c in lab.containers if c.pid}
    run_dir = str(topology.RUN_DIR)

    def is_lab(ns) -> bool:
        if pids.intersection(ns.pids):
            return True
        if any(n.startswith(("nsvlab", "cni-")) for n in ns.names):
            return True
        return any(h.path and h.path.startswith(run_dir) for h in ns.holders)

    own_net = os.stat("/proc/self/ns/net").st_ino
    lab_net = {ns.inode for ns in snapshot.namespaces if ns.type == "net" and is_lab(ns)}
    lab_net.discard(own_net)
    pids |= {p.pid for p in snapshot.processes if p.ns.get("net") in lab_net}
    by_pid = {p.pid: p for p in snapshot.processes}
    for pid in list(pids):  # and their ancestors, so "not shared with the parent" shows
        proc = by_pid.get(pid)
        while proc is not None and proc.ppid in by_pid and proc.ppid not in pids:
            pids.add(proc.ppid)
            proc = by_pid[proc.ppid]
    namespaces = [ns for ns in snapshot.namespaces if is_lab(ns)]
    processes = [p for p in snapshot.processes if p.pid in pids]
    return replace(snapshot, namespaces=namespaces, processes=processes, diagnostics=[])


def first_path(view, predicate):
    """The path of the first row (depth first) for which ``predicate(path, item)`` holds."""
    stack = [((item.key,), item) for item in reversed(view.roots())]
    while stack:
        path, item = stack.pop()
        if predicate(path, item):
            return path
        if item.expandable and len(path) < 6:
            stack.extend(((*path, c.key), c) for c in reversed(view.children(item)))
    return None


async def shoot(snapshot, out: Path, theme: str, names: list[str]) -> list[Path]:
    from nsview.analyze.refs import InterfaceRef, NamespaceRef, NatRuleRef, ProcessRef
    from nsview.tui.factory import AppOptions, SnapshotSource, make_app
    from nsview.tui.themes import builtin_theme_dir, load_themes

    themes = load_themes([builtin_theme_dir()])
    app = make_app(AppOptions(SnapshotSource.given(snapshot), themes=themes, theme=theme))
    saved: list[Path] = []
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(300):  # the footer draws its keys a moment after start
            if app.screen.query("FooterKey"):
                break
            await pilot.pause(0.01)

        async def save(name: str) -> None:
            await pilot.pause()
            path = out / f"{name}.svg"
            app.save_screenshot(filename=path.name, path=str(out))
            saved.append(path)

        async def show(view: str, predicate, open_it: bool = True) -> None:
            await pilot.press({"namespaces": "1", "network": "2", "processes": "3"}[view])
            path = first_path(app.views[view], predicate)
            if path is not None:
                tree = app.tree(view)
                tree.reveal(path)
                if open_it:
                    await pilot.press("l")
            await pilot.pause()

        if "network" in names or f"network-{theme}" in names:
            await show(
                "network",
                # a veth that is a bridge port, its peer in another netns
                lambda p, i: len(p) == 3 and isinstance(i.ref, InterfaceRef) and "↔" in i.text,
                open_it=False,
            )
            await save("network" if "network" in names else f"network-{theme}")
        if "nat" in names:
            await show(
                "network", lambda p, i: isinstance(i.ref, NatRuleRef) and i.label[0][0] == "DNAT"
            )
            await save("nat")
        if "namespaces" in names:
            await show(
                "namespaces",
                lambda p, i: (
                    isinstance(i.ref, NamespaceRef) and i.ref.type == "net" and "proc" in i.text
                ),
            )
            await pilot.press("j", "j")
            await save("namespaces")
        if "processes" in names:
            # a container's process, with its eight namespaces open
            await show(
                "processes", lambda p, i: isinstance(i.ref, ProcessRef) and " nginx " in i.text
            )
            await pilot.press("j", "l")
            await save("processes")
        if "filter" in names:
            await pilot.press("2", "slash", *"nsvlab", "enter")
            await save("filter")
            await pilot.press("escape")
        if "help" in names:
            await pilot.press("question_mark")
            await save("help")
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument("--whole-host", action="store_true", help="do not narrow to the lab")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("screenshots: the lab needs root", file=sys.stderr)
        return 1
    sys.path.insert(0, str(REPO))
    from nsview.collect import CollectOptions, collect_snapshot
    from nsview.lab import demo_session

    args.out.mkdir(parents=True, exist_ok=True)
    with demo_session(keep_existing=True) as lab:
        snapshot = collect_snapshot(CollectOptions(net=True))
    if not args.whole_host:
        snapshot = lab_only(snapshot, lab)
    snapshot.host.hostname = "lab"
    saved = asyncio.run(
        shoot(
            snapshot,
            args.out,
            "nsview-dark",
            ["network", "nat", "namespaces", "processes", "filter", "help"],
        )
    )
    for theme in ("nsview-dark", "nsview-light", "nsview-contrast"):
        saved += asyncio.run(shoot(snapshot, args.out, theme, [f"network-{theme}"]))
    for path in saved:
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
