"""Options of plain ``nsview`` (the TUI) and its launcher; filled in by the TUI issue."""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from nsview.errors import NsviewError

    raise NsviewError("the TUI is not built yet; use 'nsview dump'")
