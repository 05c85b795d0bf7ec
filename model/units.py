"""Sizes with units: parsing "64K" / "65536" / "0x10000" and naming page sizes."""

from __future__ import annotations

import re
from dataclasses import dataclass

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
TIB = 1 << 40

MIN_PAGE_BYTES = 4 * KIB
MAX_PAGE_BYTES = 1 * GIB
PRESET_PAGE_SIZES = (4 * KIB, 16 * KIB, 64 * KIB)

_SUFFIX_BYTES = {"": 1, "K": KIB, "M": MIB, "G": GIB, "T": TIB}
_SIZE_RE = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(?:([KMGT])(?:iB|B)?|B)?$", re.IGNORECASE)


class SizeError(ValueError):
    """A size or page size that cannot be accepted; the message says why."""


MAX_SIZE_TEXT_CHARS = 64
"""Longer than any size barcheck accepts ("0x" and 16 hex digits, or 20 decimal digits, and a suffix),
with room for spaces; longer text is refused before int() sees it."""


def parse_size(text: str) -> int:
    """Bytes from "64K", "64KiB", "65536" or "0x10000"."""
    if len(text) > MAX_SIZE_TEXT_CHARS:
        raise SizeError(f"{text[:20]!r}... ({len(text)} characters) is not a size: too long")
    match = _SIZE_RE.match(text.strip())
    if not match:
        raise SizeError(f"{text!r} is not a size (expected e.g. 4K, 65536 or 0x10000)")
    number, suffix = match.groups()
    value = int(number, 16) if number[:2].lower() == "0x" else int(number, 10)
    return value * _SUFFIX_BYTES[(suffix or "").upper()]


def is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def size_name(size_bytes: int) -> str:
    """Shortest exact name: 4096 -> "4K", 1<<30 -> "1G", 48 -> "48"."""
    for suffix in ("T", "G", "M", "K"):
        unit = _SUFFIX_BYTES[suffix]
        if size_bytes >= unit and size_bytes % unit == 0:
            return f"{size_bytes // unit}{suffix}"
    return str(size_bytes)


@dataclass(frozen=True, slots=True, order=True)
class PageSize:
    """A CPU page size: a power of two from 4 KiB to 1 GiB."""

    size_bytes: int

    def __post_init__(self) -> None:
        if not is_power_of_two(self.size_bytes):
            raise SizeError(f"page size {self.size_bytes} ({self.size_bytes:#x}) is not a power of two")
        if not MIN_PAGE_BYTES <= self.size_bytes <= MAX_PAGE_BYTES:
            raise SizeError(f"page size {size_name(self.size_bytes)} is outside 4K..1G")

    @property
    def name(self) -> str:
        return size_name(self.size_bytes)

    @property
    def shift(self) -> int:
        return self.size_bytes.bit_length() - 1

    @classmethod
    def parse(cls, text: str) -> "PageSize":
        return cls(parse_size(text))


def parse_page_sizes(text: str) -> tuple[PageSize, ...]:
    """A comma-separated list of page sizes and ranges, sorted and without duplicates.

    `LOW..HIGH` stands for every power of two from LOW to HIGH, both included.
    """
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise SizeError("empty page-size list")
    pages: set[PageSize] = set()
    for part in parts:
        pages.update(_page_range(part) if ".." in part else (PageSize.parse(part),))
    return tuple(sorted(pages))


def _page_range(text: str) -> list[PageSize]:
    low_text, _, high_text = text.partition("..")
    if not low_text.strip() or not high_text.strip() or ".." in high_text:
        raise SizeError(f"{text!r} is not a page-size range (expected e.g. 4K..1M)")
    low, high = PageSize.parse(low_text), PageSize.parse(high_text)
    if low > high:
        raise SizeError(f"page-size range {text!r} runs backwards ({low.name} > {high.name})")
    return [PageSize(1 << shift) for shift in range(low.shift, high.shift + 1)]
