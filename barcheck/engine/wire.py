"""Concrete model values as JSON and back: integers as hex strings, dataclasses as objects.

Decoding is driven by the dataclass annotations, so a saved counterexample
rebuilds exactly the `State`, `Event` or `PairScenario` that was replayed.
Fields typed `Any` (the ops layer's `Word` and `Flag`) hold ints or bools.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from typing import Any

from barcheck.inputs.textsafe import escape_control

_HEX = re.compile(r"-?0x[0-9a-fA-F]{1,64}")
"""Integers are written by hex(): at most 256 bits here (every address and size barcheck writes fits in 64)."""


class WireError(ValueError):
    """A value in a saved document does not fit the type it must decode to; names the JSON path."""


def encode(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return encode(value.value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if dataclasses.is_dataclass(value):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in sorted(value.items())}
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode(kind: Any, data: Any, path: str = "$") -> Any:
    """Rebuild a value of type `kind` from its encoding; WireError names the path of a bad value."""
    origin = typing.get_origin(kind)
    if kind is Any:
        return _decode_any(data, path)
    if origin in (typing.Union, types.UnionType):
        return _decode_union(typing.get_args(kind), data, path)
    if origin is tuple:
        return _decode_tuple(typing.get_args(kind), data, path)
    if origin is dict:
        _, item_kind = typing.get_args(kind)
        if not isinstance(data, dict):
            raise WireError(f"{path}: expected an object")
        return {key: decode(item_kind, item, f"{path}.{key}") for key, item in data.items()}
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _decode_dataclass(kind, data, path)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        raw = _decode_any(data, path) if issubclass(kind, int) else data
        try:
            return kind(raw)
        except ValueError:
            raise WireError(f"{path}: {_shown(data)} is not a {kind.__name__}") from None
    if kind is bool:
        if not isinstance(data, bool):
            raise WireError(f"{path}: expected true or false")
        return data
    if kind is int:
        return _decode_int(data, path)
    if kind is str:
        if not isinstance(data, str):
            raise WireError(f"{path}: expected a string")
        return data
    raise WireError(f"{path}: cannot decode into {kind!r}")


def _decode_int(data: Any, path: str) -> int:
    if isinstance(data, str) and _HEX.fullmatch(data):
        return int(data, 16)
    raise WireError(f"{path}: expected a hex string such as \"0x1000\", got {_shown(data)}")


def _shown(data: Any) -> str:
    """A JSON value as a message quotes it: short, one line, never walked (it may nest deeply)."""
    if isinstance(data, (dict, list)):
        return "an object" if isinstance(data, dict) else "a list"
    if isinstance(data, int) and data.bit_length() > 128:
        return f"an integer of {data.bit_length()} bits"
    text = repr(data)
    text = text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"
    return escape_control(text)


def _decode_any(data: Any, path: str) -> Any:
    if isinstance(data, bool):
        return data
    if isinstance(data, list):
        return tuple(_decode_any(item, f"{path}[{i}]") for i, item in enumerate(data))
    return _decode_int(data, path)


def _decode_union(options: tuple, data: Any, path: str) -> Any:
    if data is None and type(None) in options:
        return None
    for option in (o for o in options if o is not type(None)):
        try:
            return decode(option, data, path)
        except WireError:
            continue
    raise WireError(f"{path}: {_shown(data)} fits none of {options}")


def _decode_tuple(args: tuple, data: Any, path: str) -> tuple:
    if not isinstance(data, list):
        raise WireError(f"{path}: expected a list")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(decode(args[0], item, f"{path}[{i}]") for i, item in enumerate(data))
    if len(args) != len(data):
        raise WireError(f"{path}: expected {len(args)} items, got {len(data)}")
    return tuple(decode(kind, item, f"{path}[{i}]") for i, (kind, item) in enumerate(zip(args, data)))


def _decode_dataclass(kind: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise WireError(f"{path}: expected an object for {kind.__name__}")
    hints = typing.get_type_hints(kind)
    names = {f.name for f in dataclasses.fields(kind)}
    extra = sorted(set(data) - names)
    if extra:
        raise WireError(f"{path}.{extra[0]}: not a field of {kind.__name__}")
    values = {}
    for f in dataclasses.fields(kind):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise WireError(f"{path}.{f.name}: missing")
            continue
        values[f.name] = decode(hints[f.name], data[f.name], f"{path}.{f.name}")
    return kind(**values)
