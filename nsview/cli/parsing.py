"""Argument types shared by sub-commands: each raises ArgumentTypeError (one line, exit 2)."""

from __future__ import annotations

import argparse

from nsview.model import parse_ns_types


def ns_types(text: str) -> tuple[str, ...]:
    """'net,pid' -> ('net', 'pid'); rejects unknown and empty names."""
    try:
        return parse_ns_types(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pid(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"seconds must be 0 or more: {text!r}")
    return value
