"""`SymbolicOps`: the operations layer on Z3 bit-vectors, unsigned throughout.

Python's `<`, `>>`, `/` and `%` on BitVecs are signed; this module is the one
place that maps each operation to its unsigned Z3 form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3

from model.ops import check_const, check_shift, check_width


@dataclass(frozen=True, slots=True)
class SymbolicOps:
    """Ops building Z3 terms over `width`-bit vectors in context `ctx` (None: z3's main context)."""

    width: int = 64
    ctx: Any = None

    def __post_init__(self) -> None:
        check_width(self.width)

    def const(self, value: int) -> z3.BitVecRef:
        return z3.BitVecVal(check_const(value, self.width), self.width, self.ctx)

    def true(self) -> z3.BoolRef:
        return z3.BoolVal(True, self.ctx)

    def false(self) -> z3.BoolRef:
        return z3.BoolVal(False, self.ctx)

    def _flags(self, flags) -> list:
        return [z3.BoolVal(f, self.ctx) if isinstance(f, bool) else f for f in flags]

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def bit_and(self, a, b):
        return a & b

    def bit_or(self, a, b):
        return a | b

    def bit_xor(self, a, b):
        return a ^ b

    def bit_not(self, a):
        return ~a

    def shl(self, a, count: int):
        return a << check_shift(count, self.width)

    def lshr(self, a, count: int):
        return z3.LShR(a, check_shift(count, self.width))

    def eq(self, a, b):
        return a == b

    def ne(self, a, b):
        return a != b

    def ult(self, a, b):
        return z3.ULT(a, b)

    def ule(self, a, b):
        return z3.ULE(a, b)

    def ugt(self, a, b):
        return z3.UGT(a, b)

    def uge(self, a, b):
        return z3.UGE(a, b)

    def all_of(self, *flags):
        terms = [f for f in self._flags(flags) if not z3.is_true(f)]
        if any(z3.is_false(f) for f in terms):
            return self.false()
        if len(terms) == 1:
            return terms[0]
        return z3.And(*terms) if terms else self.true()

    def any_of(self, *flags):
        terms = [f for f in self._flags(flags) if not z3.is_false(f)]
        if any(z3.is_true(f) for f in terms):
            return self.true()
        if len(terms) == 1:
            return terms[0]
        return z3.Or(*terms) if terms else self.false()

    def negate(self, flag):
        (term,) = self._flags([flag])
        if z3.is_true(term):
            return self.false()
        if z3.is_false(term):
            return self.true()
        return z3.Not(term)

    def implies(self, a, b):
        first, second = self._flags([a, b])
        if z3.is_false(first) or z3.is_true(second):
            return self.true()
        if z3.is_true(first):
            return second
        return z3.Implies(first, second)

    def flag_eq(self, a, b):
        first, second = self._flags([a, b])
        return first == second

    def ite(self, cond, then, other):
        return z3.If(cond, then, other)

    def flag_ite(self, cond, then, other):
        return z3.If(*self._flags([cond, then, other]))
