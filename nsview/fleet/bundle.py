"""The collector as it travels: nsview's own source in a zip, and a bootstrap for
``python3 -c`` that imports it from memory on the node (nothing is written there).

The node needs nothing but python3 (MIN_PYTHON or newer) and, for what they
add, the same tools a local collection uses (iptables-save, nft).
"""

from __future__ import annotations

import io
import zipfile
from functools import cache
from pathlib import Path

MIN_PYTHON = (3, 11)
# Exit status of the bootstrap when the node's python3 is too old.
EXIT_OLD_PYTHON = 97
# What the collector needs; the UI, the actions and the lab stay home.
_LEFT_OUT = ("tui", "cli", "lab", "actions", "themes", "analyze")

# Must parse on any python3 (a node may have 3.6): no f-strings, no walrus.
_BOOTSTRAP_TEMPLATE = r"""
import sys
if sys.version_info < (MAJOR, MINOR):
    sys.stderr.write("nsview-fleet: python3 %d.%d on this node; " % sys.version_info[:2]
                     + "nsview needs MAJOR.MINOR or newer\n")
    sys.exit(OLD)
import io, zipfile, importlib.abc, importlib.util
size = int(sys.stdin.buffer.readline())
z = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read(size)))
names = set(z.namelist())
class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        base = fullname.replace(".", "/")
        for name, package in ((base + "/__init__.py", True), (base + ".py", False)):
            if name in names:
                return importlib.util.spec_from_loader(
                    fullname, self, origin="nsview-fleet:" + name, is_package=package)
        return None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        name = module.__spec__.origin[len("nsview-fleet:"):]
        exec(compile(z.read(name), module.__spec__.origin, "exec"), module.__dict__)
sys.meta_path.insert(0, Finder())
from nsview.fleet.remote import main
sys.exit(main(sys.argv[1:]))
"""
BOOTSTRAP = (
    _BOOTSTRAP_TEMPLATE.replace("MAJOR", str(MIN_PYTHON[0]))
    .replace("MINOR", str(MIN_PYTHON[1]))
    .replace("OLD", str(EXIT_OLD_PYTHON))
)


@cache
def collector_zip() -> bytes:
    """nsview's collector source (every module a collection imports) as zip bytes."""
    root = Path(__file__).resolve().parent.parent  # the nsview package
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root)
            if rel.parts[0] in _LEFT_OUT or "__pycache__" in rel.parts:
                continue
            z.write(path, f"nsview/{rel.as_posix()}")
    return buf.getvalue()


def stdin_payload() -> bytes:
    """What the bootstrap reads on stdin: the zip's length on a line, then the zip."""
    data = collector_zip()
    return b"%d\n" % len(data) + data
