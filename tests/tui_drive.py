"""Driving the TUI by meaning: to a row by its path of keys, not by counting j presses.

``walk_to`` moves the cursor with j/k and opens rows with l, as a user would,
so a screenshot after it looks as after typing the keys by hand; but it finds
its way by the rows' keys, so a new row above the target does not send it
elsewhere.
"""

from __future__ import annotations


async def walk_to(pilot, path: tuple[str, ...], view: str | None = None) -> None:
    """Put the cursor on the row at ``path`` of the current view (or ``view``), opening
    each ancestor on the way; AssertionError if a row on the way is not there."""
    app = pilot.app
    if view is not None and app.current_view != view:
        await pilot.press({"namespaces": "1", "network": "2", "processes": "3"}[view])
    for depth in range(1, len(path) + 1):
        tree = app.tree()
        prefix = path[:depth]
        node = tree.node_at(prefix)
        assert node is not None, f"no row {prefix} in {app.current_view}"
        _ = tree.last_line  # line numbers current
        while tree.cursor_line != node.line:
            await pilot.press("j" if tree.cursor_line < node.line else "k")
        if depth < len(path) and not node.is_expanded:
            await pilot.press("l")
    assert app.tree().cursor_path() == path


def visible_rows(app, view: str | None = None) -> list[str]:
    """The text of every row on the tree of ``view`` (default: the current one), top down."""
    tree = app.tree(view)
    _ = tree.last_line  # line numbers current
    return [tree.get_node_at_line(line).data.item.text for line in range(tree.last_line + 1)]


async def goto_text(pilot, text: str) -> None:
    """Move the cursor (with j/k) to the first visible row containing ``text``."""
    tree = pilot.app.tree()
    rows = visible_rows(pilot.app)
    target = next((i for i, r in enumerate(rows) if text in r), None)
    assert target is not None, f"no visible row with {text!r}"
    while tree.cursor_line != target:
        await pilot.press("j" if tree.cursor_line < target else "k")
    assert text in tree.cursor_item().text
