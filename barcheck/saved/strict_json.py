"""Strict readers of a saved file's JSON values: each checks one value's type and bounds and fails naming its path."""

from __future__ import annotations

import re
from typing import AbstractSet, Any

from barcheck.inputs.textsafe import escape_control, excerpt
from barcheck.engine.wire import WireError
from model.units import size_name

MAX_NAME_CHARS = 64
_HEX = re.compile(r"0x0*([0-9a-fA-F]{1,16})")


def fail(where: str, message: str) -> WireError:
    return WireError(escape_control(f"{where}: {message}"))


def shown(value: Any, max_chars: int = 40) -> str:
    if isinstance(value, str):
        return excerpt(value, max_chars)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = "null" if value is None else repr(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"


def key_text(key: str) -> str:
    """A key from the file as a JSON path shows it: control characters escaped, at most 40 characters."""
    return escape_control(key if len(key) <= 40 else f"{key[:40]}...")


def obj(value: Any, where: str, required: set[str], optional: AbstractSet[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise fail(where, f"expected an object, got {shown(value)}")
    unknown = sorted(set(value) - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise fail(f"{where}.{key_text(unknown[0])}", f"not a field here (allowed: {allowed})")
    missing = sorted(required - set(value))
    if missing:
        raise fail(f"{where}.{missing[0]}", "missing")
    return value


def hex64(value: Any, where: str) -> int:
    """A hex string of a value below 2^64, as barcheck writes every address, size and count."""
    if isinstance(value, str):
        match = _HEX.fullmatch(value)
        if match:
            return int(match.group(1), 16)
    raise fail(where, f"expected a hex string of a 64-bit value such as \"0x1000\", got {shown(value)}")


def index(value: Any, where: str, count: int, what: str) -> int:
    number = hex64(value, where)
    if number >= count:
        raise fail(where, f"{number:#x} is not the index of one of the {count} {what}")
    return number


def flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise fail(where, f"expected true or false, got {shown(value)}")
    return value


def text(value: Any, where: str, max_chars: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str) or not value:
        raise fail(where, f"expected a non-empty string, got {shown(value)}")
    if len(value) > max_chars:
        raise fail(where, f"{shown(value)} is longer than {max_chars} characters")
    if escape_control(value) != value:
        raise fail(where, f"{shown(value)} contains a control character")
    return value


def items(value: Any, where: str, max_items: int, min_items: int = 0) -> list:
    if not isinstance(value, list):
        raise fail(where, f"expected a list, got {shown(value)}")
    if not min_items <= len(value) <= max_items:
        raise fail(where, f"expected {min_items} to {max_items} items, got {len(value)}")
    return value


def sized(value: Any, where: str, count: int) -> list:
    if not isinstance(value, list):
        raise fail(where, f"expected a list, got {shown(value)}")
    if len(value) != count:
        raise fail(where, f"expected {count} items (one per slot of the structure), got {len(value)}")
    return value


def json_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(where, f"expected an integer, got {shown(value)}")
    return value


def power_of_two(value: int, where: str, low: int, high: int) -> int:
    if value & (value - 1) or not low <= value <= high:
        raise fail(where, f"{value:#x} is not a power of two from {size_name(low)} to {size_name(high)}")
    return value


def same(where: str, found: Any, label_where: str, label: Any) -> None:
    if found != label:
        raise fail(where, f"{value_text(found)} disagrees with {label_where} {value_text(label)}")


def value_text(value: Any) -> str:
    """A compared value in a message: integers in hex, anything else as `shown` gives it."""
    return hex(value) if isinstance(value, int) and not isinstance(value, bool) else shown(value, 120)
