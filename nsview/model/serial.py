"""Dataclass <-> JSON-ready dict conversion, driven by type hints.

One generic codec keeps every model module a plain list of dataclasses: adding a
field to the snapshot is adding a field to a dataclass, nothing else.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Turn a dataclass tree into JSON-ready dicts/lists/scalars."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in _fields(type(obj))}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def from_dict(cls: type[T], data: Any) -> T:
    """Build ``cls`` from what :func:`to_dict` produced.

    Unknown keys are ignored and missing keys take the field default, so newer
    and older snapshots both load (fields are only ever added within a schema).
    """
    return _convert(cls, data)


@cache
def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(cls)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _convert(args[0], data)
        for arg in args:  # scalar unions such as int | str: keep what JSON gave
            if isinstance(arg, type) and isinstance(data, arg):
                return data
        return data
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return [_convert(item, v) for v in data]
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp) or (Any, Any)
        return {_convert(key_tp, k): _convert(val_tp, v) for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise ValueError(f"expected an object for {tp.__name__}, got {type(data).__name__}")
        hints = _hints(tp)
        kwargs = {
            f.name: _convert(hints[f.name], data[f.name])
            for f in _fields(tp)
            if f.name in data and f.init
        }
        return tp(**kwargs)
    if tp is int and isinstance(data, str) and data.isdigit():
        return int(data)  # JSON object keys are strings
    return data
