"""Layers go one way: kernel -> collect -> model -> analyze -> cli/tui.

kernel, collect, model and analyze never import textual or rich (nor the TUI
or CLI); only nsview.tui imports textual; the kernel floor imports nothing of
nsview above it, and it alone binds libc (ctypes) or opens netlink sockets.
Checked statically over every module, and by importing the core in a fresh
interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nsview"
CORE = ("kernel", "collect", "model", "analyze")
FLOOR = PACKAGE / "kernel"
UI_LIBRARIES = ("textual", "rich")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def core_files() -> list[Path]:
    files = []
    for layer in CORE:
        target = PACKAGE / layer
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    return files


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_imports_no_ui(path: Path):
    bad = {
        name
        for name in imported_modules(path)
        if name.split(".")[0] in UI_LIBRARIES or name.startswith(("nsview.tui", "nsview.cli"))
    }
    assert not bad, f"{path} imports {sorted(bad)}"


def test_only_the_tui_imports_textual():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "tui" not in path.relative_to(PACKAGE).parts
        and any(name.split(".")[0] == "textual" for name in imported_modules(path))
    ]
    assert not offenders


def test_importing_the_core_loads_no_ui_library():
    modules = []
    for layer in CORE:
        target = PACKAGE / layer
        paths = sorted(target.rglob("*.py")) if target.is_dir() else []
        for path in paths:
            rel = path.relative_to(PACKAGE.parent).with_suffix("")
            name = ".".join(rel.parts).removesuffix(".__init__")
            modules.append(name)
    code = (
        f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {UI_LIBRARIES!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def names_used(path: Path) -> set[str]:
    """Every bare name and attribute name in a module (``socket.AF_NETLINK`` -> AF_NETLINK),
    and ``os.setns``/``os.unshare`` (Python 3.12's) as such."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                names.add(f"os.{node.attr}")
        elif isinstance(node, ast.alias):
            names.add(node.name.rsplit(".", 1)[-1])
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            names.update(f"os.{alias.name}" for alias in node.names)
    return names


def above_the_floor() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py")) if FLOOR not in path.parents]


@pytest.mark.parametrize("path", above_the_floor(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_kernel_floor_binds_libc_or_opens_netlink(path: Path):
    """setns/unshare/mount go through nsview.kernel.libc, netlink through kernel.netlink."""
    binds = {name for name in imported_modules(path) if name.split(".")[0] == "ctypes"}
    binds |= names_used(path) & {"CDLL", "AF_NETLINK", "PF_NETLINK", "os.setns", "os.unshare"}
    assert not binds, f"{path} binds {sorted(binds)}: use nsview.kernel"


@pytest.mark.parametrize(
    "path", sorted(FLOOR.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_the_kernel_floor_imports_nothing_above_it(path: Path):
    above = {
        name
        for name in imported_modules(path)
        if name.split(".")[0] == "nsview" and not name.startswith("nsview.kernel")
    }
    assert not above, f"{path} imports {sorted(above)}"
