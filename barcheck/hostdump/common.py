"""Helpers the dump parsers share: numbers, sizes and per-device warnings."""

from __future__ import annotations

import re

from barcheck.hostdump.model import DumpError

_SIZE_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MAX_ADDRESS = (1 << 64) - 1


def hex_number(text: str, path: str, line: int, what: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise DumpError(path, line, f"{what} {text!r} is not a hexadecimal number") from None
    if value > MAX_ADDRESS:
        raise DumpError(path, line, f"{what} {text!r} is beyond 64 bits")
    return value


def lspci_size(text: str) -> int:
    """`[size=4K]`: pciutils' show_size() divides by 1024 while the value stays exact."""
    match = re.fullmatch(r"(\d+)([KMGT]?)", text)
    if not match:
        raise ValueError(f"size {text!r} is not a number with an optional K, M, G or T")
    return int(match.group(1)) * _SIZE_SUFFIX[match.group(2)]


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
        self._lines.append(f"{self.path}:{line}: {device}: {message}; its other lines are still read")

    def general(self, line: int, message: str) -> None:
        self._lines.append(f"{self.path}:{line}: {message}")

    def all(self) -> tuple[str, ...]:
        return tuple(self._lines)


def text_lines(text: str) -> list[tuple[int, str]]:
    """Numbered lines without line endings."""
    return [(number, line.rstrip("\r")) for number, line in enumerate(text.split("\n"), start=1)]


def read_text(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except IsADirectoryError:
        raise DumpError(path, None, "is a directory, not a dump file") from None
    except OSError as err:
        raise DumpError(path, None, f"cannot read: {err.strerror}") from None
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise DumpError(path, line, "contains a NUL byte: not a text dump")
    return data.decode("utf-8", errors="replace")
