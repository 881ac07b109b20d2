"""A textual ``Tree`` over one lazily built view, that survives refreshes.

Rows are added only when their parent is expanded. A new snapshot is merged
into the nodes already on screen (labels updated, vanished rows removed, new
ones inserted in place), so expansion, the cursor and the scroll position
stay where they were; if the row under the cursor vanished, the row that took
its place gets the cursor, at the same height on the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from nsview.analyze.search import Filtered
from nsview.analyze.views import Item, Path, View
from nsview.tui.themes import ROLE_DEFAULTS

ROLES = tuple(ROLE_DEFAULTS) + tuple(
    f"ns-{t}" for t in ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
)


@dataclass(slots=True)
class Row:
    item: Item | None  # None for the (hidden) root
    path: Path
    loaded: bool = False


class NsTree(Tree[Row]):
    """One of the three views. ``expanded`` holds the paths the user opened."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("enter,l,right", "expand", "Expand", show=False, id="expand"),
        Binding("h,left", "collapse", "Collapse", show=False, id="collapse"),
    ]

    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | {f"role--{r}" for r in ROLES}

    def __init__(self, view_name: str, *, id: str | None = None) -> None:
        super().__init__("root", Row(None, (), True), id=id)
        self.view_name = view_name
        self.view: View | None = None
        self.filtered: Filtered | None = None
        self.expanded: set[Path] = set()  # what the user opened, without a filter
        self.filter_expanded: set[Path] = set()  # the same while a filter is on
        self.show_root = False
        self.auto_expand = False
        self.guide_depth = 3
        self._role_styles: dict[str, Style] = {}
        self._restoring = False
        # --diff: rows that appeared ("added") or changed ("changed") since the base.
        self.marks: dict = {}

    # -- rendering ------------------------------------------------------------------

    def notify_style_update(self) -> None:
        self._role_styles.clear()
        super().notify_style_update()

    def _role_style(self, role: str) -> Style:
        style = self._role_styles.get(role)
        if style is None:
            if role and f"role--{role}" in self.COMPONENT_CLASSES:
                style = self.get_component_rich_style(f"role--{role}", partial=True)
            else:
                style = Style()
            self._role_styles[role] = style
        return style

    def render_label(self, node: TreeNode[Row], base_style: Style, style: Style) -> Text:
        row = node.data
        if row is None or row.item is None:
            return super().render_label(node, base_style, style)
        text = Text()
        mark = self.marks.get(row.item.ref) if self.marks else None
        if mark is not None:
            text.append("+ " if mark == "added" else "~ ",
                        self._role_style("up" if mark == "added" else "warn") + Style(bold=True))
        for part, role in row.item.label:
            text.append(part, self._role_style(role))
        if self.filtered is not None and row.path in self.filtered.matches:
            text.stylize(self._role_style("match") + Style(bold=True))
        text.stylize(style)
        if node.allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
            return Text.assemble((icon, base_style + Style(meta={"toggle": True})), text)
        return Text.assemble("  ", text)

    def get_label_width(self, node: TreeNode[Row]) -> int:
        row = node.data
        if row is None or row.item is None:
            return super().get_label_width(node)
        mark = 2 if self.marks and row.item.ref in self.marks else 0
        return Text(row.item.text).cell_len + 2 + mark

    # -- state ----------------------------------------------------------------------

    @property
    def open_paths(self) -> set[Path]:
        return self.filter_expanded if self.filtered is not None else self.expanded

    def _items(self, node: TreeNode[Row]) -> list[Item]:
        if self.view is None:
            return []
        row = node.data
        assert row is not None
        items = self.view.roots() if row.item is None else self.view.children(row.item)
        if self.filtered is not None:
            items = self.filtered.visible(row.path, items)
        return items

    def _add(self, parent: TreeNode[Row], item: Item, before: int | None = None) -> TreeNode[Row]:
        path = (*parent.data.path, item.key)  # type: ignore[union-attr]
        node = parent.add(
            item.text,
            Row(item, path),
            before=before,
            allow_expand=item.expandable,
        )
        if item.expandable and path in self.open_paths:
            self._populate(node)
            node.expand()
        return node

    def _populate(self, node: TreeNode[Row]) -> None:
        row = node.data
        if row is None or row.loaded:
            return
        row.loaded = True
        for item in self._items(node):
            self._add(node, item)

    def _reconcile(self, node: TreeNode[Row]) -> None:
        """Bring ``node``'s (already loaded) children in line with the current view."""
        items = self._items(node)
        wanted = {item.key for item in items}
        for child in list(node.children):
            if child.data is None or child.data.item is None or child.data.item.key not in wanted:
                child.remove()
        for index, item in enumerate(items):
            children = node.children
            current = children[index] if index < len(children) else None
            if current is not None and current.data.item.key == item.key:  # type: ignore[union-attr]
                self._update(current, item)
                continue
            moved = next((c for c in children if c.data.item.key == item.key), None)  # type: ignore[union-attr]
            if moved is not None:
                moved.remove()
            self._add(node, item, before=index)

    def _update(self, node: TreeNode[Row], item: Item) -> None:
        row = node.data
        assert row is not None
        if row.item != item:
            old = row.item
            row.item = item
            if old is None or old.label != item.label:
                node.set_label(item.text)
            if node.allow_expand != item.expandable:
                node.allow_expand = item.expandable
        if not item.expandable:
            if row.loaded:
                node.remove_children()
                row.loaded = False
            return
        if row.path in self.open_paths:
            if row.loaded:
                self._reconcile(node)
            else:
                self._populate(node)
            if not node.is_expanded:
                node.expand()
        else:
            if node.is_expanded:
                node.collapse()
            if row.loaded:
                # Collapsed: drop the children; they are rebuilt when opened again.
                node.remove_children()
                row.loaded = False

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[Row]) -> None:
        if event.node.tree is not self or event.node.data is None:
            return
        self.open_paths.add(event.node.data.path)
        self._populate(event.node)

    def _on_tree_node_collapsed(self, event: Tree.NodeCollapsed[Row]) -> None:
        if event.node.tree is not self or event.node.data is None or self._restoring:
            return
        # Descendants keep their state, as textual's nodes do: reopening shows them as they were.
        self.open_paths.discard(event.node.data.path)

    # -- public API -----------------------------------------------------------------

    def open_node(self, node: TreeNode[Row]) -> None:
        if node.data is not None and node.allow_expand:
            self.open_paths.add(node.data.path)
            self._populate(node)
            if not node.is_expanded:
                node.expand()

    def cursor_path(self) -> Path | None:
        node = self.cursor_node
        return node.data.path if node is not None and node.data is not None else None

    def cursor_item(self) -> Item | None:
        node = self.cursor_node
        return node.data.item if node is not None and node.data is not None else None

    def show(self, view: View, filtered: Filtered | None) -> None:
        """Show ``view`` (a new snapshot and/or filter), keeping what can be kept."""
        filter_changed = (self.filtered is None) != (filtered is None) or (
            filtered is not None
            and self.filtered is not None
            and filtered.query != self.filtered.query
        )
        if filtered is not None and filter_changed:
            # A new filter opens the way to every match.
            self.filter_expanded = set(filtered.keep)
        elif filtered is not None and self.filtered is not None:
            # The same filter on a new snapshot: open the way to matches that are new
            # (the TUI's first quick look may not have had them); what the user
            # closed among the old ones stays closed.
            self.filter_expanded |= filtered.keep - self.filtered.keep
        cursor = self.cursor_path()
        unfiltering = self.filtered is not None and filtered is None
        indexes = self._cursor_indexes()
        offset = self.cursor_line - round(self.scroll_y) if self.cursor_line >= 0 else 0
        self.view = view
        self.filtered = filtered
        self._restoring = True
        try:
            self._reconcile(self.root)
        finally:
            self._restoring = False
        if unfiltering and cursor is not None and self.reveal(cursor):
            return  # the row found with the filter, now in its full context
        self._restore_cursor(
            cursor, indexes, offset, first_match=filter_changed and filtered is not None
        )

    def _cursor_indexes(self) -> list[int]:
        out = []
        node = self.cursor_node
        while node is not None and node.parent is not None:
            out.append(node.parent.children.index(node) if node in node.parent.children else 0)
            node = node.parent
        out.reverse()
        return out

    def node_at(self, path: Path) -> TreeNode[Row] | None:
        node = self.root
        for key in path:
            node = next((c for c in node.children if c.data and c.data.item.key == key), None)  # type: ignore[union-attr]
            if node is None:
                return None
        return node

    def _restore_cursor(
        self, path: Path | None, indexes: list[int], offset: int, first_match: bool
    ) -> None:
        target: TreeNode[Row] | None = None
        if first_match and self.filtered is not None and self.filtered.matches:
            target = self._first_match()
        elif path is not None:
            node = self.root
            for depth, key in enumerate(path):
                child = next((c for c in node.children if c.data and c.data.item.key == key), None)  # type: ignore[union-attr]
                if child is None:
                    # Gone: whatever took its place, else the one before, else its parent.
                    kids = node.children
                    if kids:
                        index = indexes[depth] if depth < len(indexes) else 0
                        child = kids[min(index, len(kids) - 1)]
                        target = child
                    else:
                        target = node if node is not self.root else None
                    break
                node = child
                if depth < len(path) - 1 and not node.is_expanded:
                    target = node  # an ancestor is collapsed now: stop there
                    break
            else:
                target = node
        if target is None and self.root.children:
            target = self.root.children[0]
        self._move_to(target, offset)

    def _first_match(self) -> TreeNode[Row] | None:
        assert self.filtered is not None
        _ = self.last_line  # line numbers must be current to sort by them
        for path in sorted(self.filtered.matches, key=self._path_order):
            node = self.node_at(path)
            if node is not None:
                return node
        return None

    def _path_order(self, path: Path) -> int:
        node = self.node_at(path)
        return node.line if node is not None and node.line >= 0 else 1 << 30

    def _move_to(self, target: TreeNode[Row] | None, offset: int) -> None:
        _ = self.last_line  # rebuild the line index now, so node.line is current
        if target is None or target.line < 0:
            self.cursor_line = -1 if target is None else 0
            return
        self.cursor_line = target.line
        if offset >= 0:
            height = max(1, self.scrollable_content_region.height)
            offset = min(offset, height - 1)
            self.scroll_to(y=max(0, target.line - offset), animate=False, immediate=True)
        self.scroll_to_line(target.line, animate=False)

    def reveal(self, path: Path) -> bool:
        """Open every ancestor of ``path`` and put the cursor on it; False if it is not here."""
        node = self.root
        for key in path:
            if node is not self.root:
                self.open_node(node)
            child = next((c for c in node.children if c.data and c.data.item.key == key), None)  # type: ignore[union-attr]
            if child is None:
                return False
            node = child
        _ = self.last_line
        self.cursor_line = node.line
        self.scroll_to_line(node.line, animate=False)
        self.call_after_refresh(self._center, node)
        return True

    def _center(self, node: TreeNode[Row]) -> None:
        if node.line >= 0:
            height = self.scrollable_content_region.height
            self.scroll_to(y=max(0, node.line - height // 2), animate=False)

    # -- actions --------------------------------------------------------------------

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            self.open_node(node)
        elif node.is_expanded and node.children:
            self.move_cursor(node.children[0])

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)
