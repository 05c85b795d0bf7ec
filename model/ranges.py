"""Address arithmetic written once against `Ops`: alignment, ranges, overlap.

Ranges are inclusive, like the kernel's `struct resource` ([start, end]),
so a range ending at the last byte of the address space needs no wrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model.ops import Flag, Ops, Word


@dataclass(frozen=True, slots=True)
class Range:
    """Bytes `first` through `last`, both included."""

    first: Any
    last: Any


def fits(ops: Ops, value: int) -> bool:
    """True when the constant `value` is representable in the word width."""
    return 0 <= value < (1 << ops.width)


def at_least(ops: Ops, word: Word, bound: int) -> Flag:
    """word >= bound, false when the bound does not even fit in the width."""
    if not fits(ops, bound):
        return ops.false()
    return ops.uge(word, ops.const(bound))


def last_below(ops: Ops, last: Word, limit_bytes: int) -> Flag:
    """The range ending at `last` lies below `limit_bytes` (true if the limit exceeds the width)."""
    if not fits(ops, limit_bytes):
        return ops.true()
    return ops.ult(last, ops.const(limit_bytes))


def low_mask(ops: Ops, align: Word) -> Word:
    """align - 1: the in-page offset bits of a power-of-two alignment."""
    return ops.sub(align, ops.const(1))


def is_pow2(ops: Ops, value: Word) -> Flag:
    return ops.all_of(
        ops.ne(value, ops.const(0)),
        ops.eq(ops.bit_and(value, low_mask(ops, value)), ops.const(0)),
    )


def is_aligned(ops: Ops, value: Word, align: Word) -> Flag:
    """value is a multiple of the power-of-two `align`."""
    return ops.eq(ops.bit_and(value, low_mask(ops, align)), ops.const(0))


def align_down(ops: Ops, value: Word, align: Word) -> Word:
    """value & ~(align - 1): the kernel's `x & PAGE_MASK`."""
    return ops.bit_and(value, ops.bit_not(low_mask(ops, align)))


def align_up(ops: Ops, value: Word, align: Word) -> Word:
    """(value + align - 1) & ~(align - 1): the kernel's PAGE_ALIGN(); wraps like it."""
    return align_down(ops, ops.add(value, low_mask(ops, align)), align)


def span(ops: Ops, start: Word, size: Word) -> Range:
    """The inclusive range of `size` bytes from `start` (size must be non-zero)."""
    return Range(start, ops.add(start, ops.sub(size, ops.const(1))))


def is_nonempty(ops: Ops, r: Range) -> Flag:
    """first <= last: the range does not wrap past the top of the address space."""
    return ops.ule(r.first, r.last)


def overlaps(ops: Ops, a: Range, b: Range) -> Flag:
    return ops.all_of(ops.ule(a.first, b.last), ops.ule(b.first, a.last))


def contains(ops: Ops, outer: Range, inner: Range) -> Flag:
    return ops.all_of(ops.ule(outer.first, inner.first), ops.ule(inner.last, outer.last))


def contains_byte(ops: Ops, r: Range, address: Word) -> Flag:
    return ops.all_of(ops.ule(r.first, address), ops.ule(address, r.last))


def adjacent(ops: Ops, a: Range, b: Range) -> Flag:
    """b starts right after a ends, or a right after b (no wrap at the top)."""
    top = ops.const((1 << ops.width) - 1)
    a_then_b = ops.all_of(ops.ne(a.last, top), ops.eq(ops.add(a.last, ops.const(1)), b.first))
    b_then_a = ops.all_of(ops.ne(b.last, top), ops.eq(ops.add(b.last, ops.const(1)), a.first))
    return ops.any_of(a_then_b, b_then_a)


def umin(ops: Ops, a: Word, b: Word) -> Word:
    return ops.ite(ops.ule(a, b), a, b)


def umax(ops: Ops, a: Word, b: Word) -> Word:
    return ops.ite(ops.uge(a, b), a, b)


def within_union(ops: Ops, inner: Range, a: Range, b_present: Flag, b: Range) -> Flag:
    """Every byte of `inner` lies in `a`, or in `b` when `b_present`.

    Exact for inclusive ranges: a contiguous range fits in the union of two
    ranges only if it fits in one of them, or the two touch and it fits in
    their hull.
    """
    hull = Range(umin(ops, a.first, b.first), umax(ops, a.last, b.last))
    touching = ops.any_of(overlaps(ops, a, b), adjacent(ops, a, b))
    return ops.any_of(
        contains(ops, a, inner),
        ops.all_of(b_present, contains(ops, b, inner)),
        ops.all_of(b_present, touching, contains(ops, hull, inner)),
    )
