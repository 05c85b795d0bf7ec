"""The operations layer: every policy is written once against `Ops`.

Two implementations exist.  `ConcreteOps` (here) computes on Python ints
masked to the word width and is the oracle.  `SymbolicOps`
(`model/ops_z3.py`) builds Z3 bit-vector terms with unsigned operations only.
Words are addresses or sizes in bytes; booleans are Python bools or Z3 Bools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Word = Any
Flag = Any


class Ops(Protocol):
    """The operations a policy may use.  All word arithmetic wraps at `width` bits."""

    @property
    def width(self) -> int: ...

    def const(self, value: int) -> Word: ...
    def true(self) -> Flag: ...
    def false(self) -> Flag: ...
    def add(self, a: Word, b: Word) -> Word: ...
    def sub(self, a: Word, b: Word) -> Word: ...
    def bit_and(self, a: Word, b: Word) -> Word: ...
    def bit_or(self, a: Word, b: Word) -> Word: ...
    def bit_xor(self, a: Word, b: Word) -> Word: ...
    def bit_not(self, a: Word) -> Word: ...
    def shl(self, a: Word, count: int) -> Word: ...
    def lshr(self, a: Word, count: int) -> Word: ...
    def eq(self, a: Word, b: Word) -> Flag: ...
    def ne(self, a: Word, b: Word) -> Flag: ...
    def ult(self, a: Word, b: Word) -> Flag: ...
    def ule(self, a: Word, b: Word) -> Flag: ...
    def ugt(self, a: Word, b: Word) -> Flag: ...
    def uge(self, a: Word, b: Word) -> Flag: ...
    def all_of(self, *flags: Flag) -> Flag: ...
    def any_of(self, *flags: Flag) -> Flag: ...
    def negate(self, flag: Flag) -> Flag: ...
    def implies(self, a: Flag, b: Flag) -> Flag: ...
    def flag_eq(self, a: Flag, b: Flag) -> Flag: ...
    def ite(self, cond: Flag, then: Word, other: Word) -> Word: ...
    def flag_ite(self, cond: Flag, then: Flag, other: Flag) -> Flag: ...


def word_mask(width: int) -> int:
    return (1 << width) - 1


def check_width(width: int) -> int:
    if not isinstance(width, int) or not 4 <= width <= 64:
        raise ValueError(f"word width must be an integer from 4 to 64, got {width!r}")
    return width


def check_const(value: int, width: int) -> int:
    if type(value) is int and 0 <= value <= word_mask(width):
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"constant must be an int, got {type(value).__name__}")
    if not 0 <= value <= word_mask(width):
        raise ValueError(f"constant {value:#x} does not fit in {width} bits")
    return value


def check_shift(count: int, width: int) -> int:
    if not isinstance(count, int) or not 0 <= count < width:
        raise ValueError(f"shift count must be an int in [0, {width}), got {count!r}")
    return count


@dataclass(frozen=True, slots=True)
class ConcreteOps:
    """Ops on Python ints, wrapping like a `width`-bit unsigned register."""

    width: int = 64
    mask: int = field(init=False, repr=False, compare=False)
    """All ones in `width` bits (computed once: the oracle runs millions of operations)."""

    def __post_init__(self) -> None:
        check_width(self.width)
        object.__setattr__(self, "mask", word_mask(self.width))

    def const(self, value: int) -> int:
        if type(value) is int and 0 <= value <= self.mask:
            return value
        return check_const(value, self.width)

    def true(self) -> bool:
        return True

    def false(self) -> bool:
        return False

    def add(self, a: int, b: int) -> int:
        return (a + b) & self.mask

    def sub(self, a: int, b: int) -> int:
        return (a - b) & self.mask

    def bit_and(self, a: int, b: int) -> int:
        return a & b

    def bit_or(self, a: int, b: int) -> int:
        return a | b

    def bit_xor(self, a: int, b: int) -> int:
        return a ^ b

    def bit_not(self, a: int) -> int:
        return ~a & self.mask

    def shl(self, a: int, count: int) -> int:
        return (a << check_shift(count, self.width)) & self.mask

    def lshr(self, a: int, count: int) -> int:
        return a >> check_shift(count, self.width)

    def eq(self, a: int, b: int) -> bool:
        return a == b

    def ne(self, a: int, b: int) -> bool:
        return a != b

    def ult(self, a: int, b: int) -> bool:
        return a < b

    def ule(self, a: int, b: int) -> bool:
        return a <= b

    def ugt(self, a: int, b: int) -> bool:
        return a > b

    def uge(self, a: int, b: int) -> bool:
        return a >= b

    def all_of(self, *flags: bool) -> bool:
        return all(flags)

    def any_of(self, *flags: bool) -> bool:
        return any(flags)

    def negate(self, flag: bool) -> bool:
        return not flag

    def implies(self, a: bool, b: bool) -> bool:
        return (not a) or b

    def flag_eq(self, a: bool, b: bool) -> bool:
        return a == b

    def ite(self, cond: bool, then: int, other: int) -> int:
        return then if cond else other

    def flag_ite(self, cond: bool, then: bool, other: bool) -> bool:
        return then if cond else other
