"""Helpers the dump parsers share: reading a dump, numbers, sizes and per-device warnings."""

from __future__ import annotations

import io
import itertools
import re
from typing import Iterator

from barcheck.host.dump.model import DumpError
from barcheck.inputs.safe_read import DEFAULT_MAX_INPUT_BYTES, InputFileError, InputTooLarge, read_regular_file
from barcheck.inputs.textsafe import escape_control, excerpt

_SIZE_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MAX_ADDRESS = (1 << 64) - 1
MAX_HEX_DIGITS = 16
MAX_DECIMAL_DIGITS = 20
"""2**64 - 1 has 16 hex and 20 decimal digits: more significant digits never fit in 64 bits, and are
refused before int() sees them (int() of a long decimal string is slow and fails over 4,300 digits)."""
LIMIT_HINT = "raise the limit with --max-input-bytes"
_HEX = re.compile(r"[0-9a-fA-F]+")
_DECIMAL = re.compile(r"[0-9]+")


def display_path(path: str) -> str:
    """The path as it appears in messages and reports: control characters escaped."""
    return escape_control(path)


def hex_number(text: str, path: str, line: int, what: str) -> int:
    """A hexadecimal number (`0x` optional) of at most 64 bits.

    ValueError when it is not a number (a garbled line: the parser may skip it with a warning);
    DumpError naming the file and line when it is beyond 64 bits (no kernel prints such a number)."""
    digits = text[2:] if text[:2].lower() == "0x" else text
    if not _HEX.fullmatch(digits):
        raise ValueError(f"{what} {excerpt(text)} is not a hexadecimal number")
    if len(digits.lstrip("0")) > MAX_HEX_DIGITS or int(digits, 16) > MAX_ADDRESS:
        raise DumpError(path, line, f"{what} {excerpt(text)} is beyond 64 bits")
    return int(digits, 16)


def decimal_number(text: str, path: str, line: int, what: str, max_value: int = MAX_ADDRESS) -> int:
    """A decimal number of at most `max_value`: ValueError and DumpError as for hex_number()."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{what} {excerpt(text)} is not a decimal number")
    if len(text.lstrip("0")) > MAX_DECIMAL_DIGITS or int(text) > max_value:
        limit = "beyond 64 bits" if max_value == MAX_ADDRESS else f"over {max_value}"
        raise DumpError(path, line, f"{what} {excerpt(text)} is {limit}")
    return int(text)


def lspci_size(text: str, path: str, line: int) -> int:
    """`[size=4K]`: pciutils' show_size() divides by 1024 while the value stays exact.

    ValueError for a size that is not a number (a garbled line); DumpError for one of 2**64 bytes or more."""
    match = re.fullmatch(r"(\d+)([KMGT]?)", text)
    if not match:
        raise ValueError(f"size {excerpt(text)} is not a number with an optional K, M, G or T")
    size = decimal_number(match.group(1), path, line, "size") * _SIZE_SUFFIX[match.group(2)]
    if size > MAX_ADDRESS:
        raise DumpError(path, line, f"size {excerpt(text)} is 2**64 bytes or more")
    return size


def bar_span_bytes(first: int, last: int, path: str, line: int, what: str) -> int:
    """The size of a BAR given by its first and last address; DumpError for the whole 64-bit space,
    whose size (2**64) no BAR has and no 64-bit size field holds."""
    size = last - first + 1
    if size > MAX_ADDRESS:
        raise DumpError(path, line, f"{what} [{first:#x}-{last:#x}] is 2**64 bytes: no BAR is that large")
    return size


class Warnings:
    """Collects warnings; at most one per device, so a garbled device costs one line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lines: list[str] = []
        self._devices: set[str] = set()

    def device(self, device: str, line: int, message: str) -> None:
        if device in self._devices:
            return
        self._devices.add(device)
        self._lines.append(escape_control(f"{self.path}:{line}: {device}: {message}; its other lines are still read"))

    def general(self, line: int, message: str) -> None:
        self._lines.append(escape_control(f"{self.path}:{line}: {message}"))

    def all(self) -> tuple[str, ...]:
        return tuple(self._lines)


def text_lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered lines (split at `\n` only) without line endings, made one at a time: a dump may hold
    millions of lines, and a list of them all would take many times the dump's size."""
    lines = map(str.rstrip, io.StringIO(text), itertools.repeat("\r\n"))
    last = ("",) if text.endswith("\n") or not text else ()
    return zip(itertools.count(1), itertools.chain(lines, last))


def first_line(text: str) -> str:
    """The first line that is not blank, or ""."""
    return next((line for _, line in text_lines(text) if line.strip()), "")


def head(text: str, max_lines: int = 5000, max_chars: int = 4 << 20) -> str:
    """The start of a dump, for telling formats apart without going through all of it."""
    end = 0
    for _ in range(max_lines):
        end = text.find("\n", end, max_chars) + 1
        if end == 0:
            return text[:max_chars]
    return text[:end]


def read_text(path: str, max_bytes: int = DEFAULT_MAX_INPUT_BYTES) -> str:
    """A dump file's text: a regular file of at most `max_bytes`, without NUL bytes."""
    shown = display_path(path)
    try:
        data = read_regular_file(path, max_bytes)
    except InputTooLarge as err:
        raise DumpError(shown, None, f"{err.reason} ({LIMIT_HINT})") from None
    except InputFileError as err:
        raise DumpError(shown, None, err.reason) from None
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise DumpError(shown, line, "contains a NUL byte: not a text dump")
    return data.decode("utf-8", errors="replace")
