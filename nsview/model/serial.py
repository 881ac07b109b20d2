"""Dataclass <-> JSON-ready dict conversion, driven by type hints.

One generic codec keeps every model module a plain list of dataclasses: adding a
field to the snapshot is adding a field to a dataclass, nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import sys
import types
import typing
from collections.abc import Iterator
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold off the cyclic garbage collector while building a large acyclic tree.

    A snapshot of a big host is ~100k small dicts, lists and dataclasses, none
    in a reference cycle; each 700 allocations the collector would scan them
    all again and find nothing (~10 ms per `nsview dump`). Reference counting
    still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def to_dict(obj: Any) -> Any:
    """Turn a dataclass tree into JSON-ready dicts/lists/scalars.

    Lists and dicts of scalars are shared, not copied: the result is for
    immediate encoding. Fields named in a class's ``__json_omit_none__`` are
    left out when None.
    """
    encode = _ENCODERS.get(type(obj))
    if encode is None:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            encode = _ENCODERS[type(obj)] = _compile_encoder(type(obj))
        elif isinstance(obj, (list, tuple)):  # subclasses; list itself is in _ENCODERS
            return _sequence(obj)
        elif isinstance(obj, dict):
            return _mapping(obj)
        else:
            return obj
    return encode(obj)


def _scalar(obj: Any) -> Any:
    return obj


def _sequence(obj: Any) -> Any:
    return [to_dict(v) for v in obj]


def _mapping(obj: Any) -> Any:
    return {k: to_dict(v) for k, v in obj.items()}


_ENCODERS: dict[type, Any] = {t: _scalar for t in (str, int, float, bool, type(None))}
_ENCODERS.update({list: _sequence, tuple: _sequence, dict: _mapping})


def _is_plain(tp: Any) -> bool:
    """True when values of type ``tp`` are already JSON-ready (no dataclass inside)."""
    if tp in (str, int, float, bool, type(None), Any):
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        return all(_is_plain(arg) for arg in typing.get_args(tp) if arg is not Ellipsis)
    return False


def _compile_encoder(cls: type) -> Any:
    """Generate ``encode(obj) -> dict`` for a dataclass, once per class.

    The snapshot of a large host holds tens of thousands of objects, so the
    per-object work is a straight-line dict build (the way dataclasses builds
    ``__init__``), with recursion only into fields that can hold dataclasses.
    """
    hints = _encoding_hints(cls)
    omit = set(getattr(cls, "__json_omit_none__", ()))
    lines = ["def encode(o):", "    d = {}"]
    for f in _fields(cls):
        plain = _is_plain(hints[f.name])
        value = f"o.{f.name}" if plain else f"_to_dict(o.{f.name})"
        if f.name in omit:
            lines.append(f"    if o.{f.name} is not None: d[{f.name!r}] = {value}")
        elif plain:
            lines.append(f"    d[{f.name!r}] = {value}")
        else:
            lines.append(f"    v = o.{f.name}")
            lines.append(f"    d[{f.name!r}] = None if v is None else _to_dict(v)")
    lines.append("    return d")
    namespace: dict[str, Any] = {"_to_dict": to_dict}
    exec("\n".join(lines), namespace)
    return namespace["encode"]


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
    """Resolved field types; names a model module only imports for type checking
    (the network and container models, loaded lazily) are found in those modules."""
    try:
        return typing.get_type_hints(cls)
    except NameError:
        import nsview.model.containers as containers_model
        import nsview.model.net as net_model

        return typing.get_type_hints(cls, localns={**vars(net_model), **vars(containers_model)})


def _encoding_hints(cls: type) -> dict[str, Any]:
    """Field types for the encoder, without importing lazily loaded modules:
    a field whose type cannot be resolved yet is encoded generically."""
    try:
        return typing.get_type_hints(cls)
    except NameError:
        module_globals = vars(sys.modules[cls.__module__])
        hints = {}
        for f in _fields(cls):
            try:
                hints[f.name] = eval(f.type, module_globals) if isinstance(f.type, str) else f.type
            except NameError:
                hints[f.name] = object  # not plain: recurse at encode time
        return hints


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
