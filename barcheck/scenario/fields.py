"""Scenario-file field readers: bounded text, numbers, addresses, sizes and ranges, each error naming file and field."""

from __future__ import annotations

from typing import Any

from barcheck.inputs.textsafe import escape_control, excerpt
from model.pci import ScenarioError
from model.topology import ANY, Value
from model.units import SizeError, parse_size

MAX_NUMBER_CHARS = 80
"""A 64-bit value is at most 20 decimal digits (with `_` separators and a unit suffix, well under this)."""
MAX_TEXT_CHARS = 256
MAX_NAME_CHARS = 128
"""Scenario names become parts of report file names (see scenario_doc.result_id)."""
MAX_BAR_BYTES = 1 << 63
"""The largest power of two below 2^64."""


class FieldReader:
    """Reads the fields of one scenario file; every failure is a one-line ScenarioError naming the field."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(escape_control(f"{self.path}: {where}: {message}"))

    def keys(self, table: Any, where: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(table, dict):
            raise self.fail(where, "expected a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(where, f"unknown key {shown(unknown[0])} (allowed: {', '.join(sorted(allowed))})")
        missing = sorted(required - set(table))
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}")
        return table

    def text(self, value: Any, where: str, max_chars: int = MAX_TEXT_CHARS) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {shown(value)}")
        if len(value) > max_chars:
            raise self.fail(where, f"{shown(value)} is longer than {max_chars} characters")
        if escape_control(value) != value:
            raise self.fail(where, f"{shown(value)} contains a control character")
        return value

    def number_text(self, value: Any, where: str) -> str:
        """The text of a numeric value (TOML integer or string), bounded before int() sees it."""
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
            raise self.fail(where, f"{shown(value)} is not a 64-bit value")
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str):
            raise self.fail(where, f"expected a number, got {shown(value)}")
        if len(text) > MAX_NUMBER_CHARS:
            raise self.fail(where, f"{shown(text)} is too long to be a 64-bit value")
        return text

    def address(self, value: Any, where: str, any_ok: bool = True) -> Value:
        if any_ok and value == ANY:
            return ANY
        return self.exact_address(value, where, hint_any=any_ok)

    def exact_address(self, value: Any, where: str, hint_any: bool = False) -> int:
        """A numeric address; with `hint_any`, its error offers "any" as well."""
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.fail(where, f"expected an address, got {shown(value)}")
        if isinstance(value, int):
            number = value
        else:
            text = self.number_text(value, where)
            try:
                number = int(text, 0)
            except ValueError:
                hint = ' or "any"' if hint_any else ""
                raise self.fail(where, f'{shown(value)} is not an address (write it like "0xfe800000"{hint})') from None
        if not 0 <= number < 1 << 64:
            raise self.fail(where, f"{shown(value)} is not a 64-bit address (0 to 0xffffffffffffffff)")
        return number

    def size(self, value: Any, where: str) -> Value:
        if value == ANY:
            return ANY
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.fail(where, f"expected a size such as \"4K\" or 256, got {shown(value)}")
        try:
            size = parse_size(self.number_text(value, where))
        except SizeError:
            raise self.fail(where, f"{shown(value)} is not a size (expected e.g. \"256\", \"4K\" or "
                                   f"\"0x1000\")") from None
        if size <= 0 or size & (size - 1):
            raise self.fail(where, f"{shown(value)} is not a power of two")
        if size > MAX_BAR_BYTES:
            raise self.fail(where, f"{shown(value)} is 2^64 or more; a BAR is at most 2^63 bytes")
        return size

    def range(self, value: Any, where: str) -> tuple[Value, Value]:
        if not isinstance(value, list) or len(value) != 2:
            raise self.fail(where, "expected [first, last] (inclusive)")
        first, last = self.address(value[0], f"{where}[0]"), self.address(value[1], f"{where}[1]")
        if isinstance(first, int) and isinstance(last, int) and last < first:
            raise self.fail(where, f"last {last:#x} is below first {first:#x}")
        return first, last


def shown(value: Any) -> str:
    """A value as an error message quotes it: shortened, control characters escaped."""
    if isinstance(value, str):
        return excerpt(value)
    if isinstance(value, (dict, list)):
        return "a table" if isinstance(value, dict) else "an array"
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return escape_control(text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)")
