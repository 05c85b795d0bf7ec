"""The operations layer: edge cases, and ints vs bit-vectors exhaustively at small widths."""

from __future__ import annotations

import itertools
import random

import pytest
import z3

from model import ranges
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.ranges import Range

BINARY = ["add", "sub", "bit_and", "bit_or", "bit_xor", "eq", "ne", "ult", "ule", "ugt", "uge"]


def concrete_value(term: z3.ExprRef):
    term = z3.simplify(term)
    if z3.is_bool(term):
        assert z3.is_true(term) or z3.is_false(term), term
        return z3.is_true(term)
    return term.as_long()


@pytest.mark.parametrize("width", [4, 5])
@pytest.mark.parametrize("name", BINARY)
def test_binary_ops_agree_exhaustively(width: int, name: str) -> None:
    conc, sym = ConcreteOps(width), SymbolicOps(width)
    x, y = z3.BitVecs("x y", width)
    term = getattr(sym, name)(x, y)
    for a, b in itertools.product(range(1 << width), repeat=2):
        expected = getattr(conc, name)(a, b)
        got = concrete_value(z3.substitute(term, (x, z3.BitVecVal(a, width)), (y, z3.BitVecVal(b, width))))
        assert got == expected, (name, width, a, b)


@pytest.mark.parametrize("width", [4, 6])
def test_unary_and_shift_ops_agree_exhaustively(width: int) -> None:
    conc, sym = ConcreteOps(width), SymbolicOps(width)
    for a in range(1 << width):
        av = z3.BitVecVal(a, width)
        assert concrete_value(sym.bit_not(av)) == conc.bit_not(a)
        for count in range(width):
            assert concrete_value(sym.shl(av, count)) == conc.shl(a, count)
            assert concrete_value(sym.lshr(av, count)) == conc.lshr(a, count)


def test_symbolic_comparisons_are_unsigned() -> None:
    sym = SymbolicOps(8)
    top, one = sym.const(0xFF), sym.const(1)
    assert concrete_value(sym.ugt(top, one)) is True
    assert concrete_value(sym.ult(top, one)) is False
    assert concrete_value(sym.lshr(sym.const(0x80), 7)) == 1


def test_concrete_wraps_at_width() -> None:
    ops = ConcreteOps(64)
    top = (1 << 64) - 1
    assert ops.add(top, 1) == 0
    assert ops.sub(0, 1) == top
    assert ops.bit_not(0) == top
    assert ops.shl(1, 63) == 1 << 63
    assert ops.shl(3, 63) == 1 << 63


@pytest.mark.parametrize("ops", [ConcreteOps(8), SymbolicOps(8)], ids=["concrete", "symbolic"])
def test_constants_and_shifts_are_range_checked(ops) -> None:
    with pytest.raises(ValueError):
        ops.const(256)
    with pytest.raises(ValueError):
        ops.const(-1)
    with pytest.raises(ValueError):
        ops.shl(ops.const(1), 8)
    with pytest.raises(ValueError):
        ops.lshr(ops.const(1), -1)
    with pytest.raises(TypeError):
        ops.const(True)


@pytest.mark.parametrize("width", [3, 65, "64"])
def test_width_is_validated(width) -> None:
    with pytest.raises(ValueError):
        ConcreteOps(width)
    with pytest.raises(ValueError):
        SymbolicOps(width)


def test_flag_ops_accept_python_bools_in_symbolic_domain() -> None:
    sym = SymbolicOps(8)
    assert concrete_value(sym.all_of(True, sym.true())) is True
    assert concrete_value(sym.any_of(False, sym.false())) is False
    assert concrete_value(sym.implies(False, sym.false())) is True
    assert concrete_value(sym.negate(True)) is False
    assert concrete_value(sym.flag_eq(True, sym.false())) is False
    assert concrete_value(sym.all_of()) is True and concrete_value(sym.any_of()) is False


def _both(width: int):
    return ConcreteOps(width), SymbolicOps(width)


@pytest.mark.parametrize("width", [5, 6])
def test_alignment_helpers_agree_and_match_arithmetic(width: int) -> None:
    conc, sym = _both(width)
    for value in range(1 << width):
        for shift in range(width):
            align = 1 << shift
            down, up = ranges.align_down(conc, value, align), ranges.align_up(conc, value, align)
            assert down == value - value % align
            assert up == (-(-value // align) * align) % (1 << width)
            assert ranges.is_aligned(conc, value, align) == (value % align == 0)
            v, a = sym.const(value), sym.const(align)
            assert concrete_value(ranges.align_down(sym, v, a)) == down
            assert concrete_value(ranges.align_up(sym, v, a)) == up
        assert ranges.is_pow2(conc, value) == (value > 0 and value & (value - 1) == 0)
        assert concrete_value(ranges.is_pow2(sym, sym.const(value))) == ranges.is_pow2(conc, value)


def _bytes(r: Range) -> set[int]:
    return set(range(r.first, r.last + 1))


def _random_range(rng: random.Random, width: int) -> Range:
    a, b = sorted(rng.randrange(1 << width) for _ in range(2))
    return Range(a, b)


def test_range_predicates_match_set_semantics() -> None:
    rng, width = random.Random(0), 6
    conc, sym = _both(width)
    for _ in range(3000):
        inner, a, b = (_random_range(rng, width) for _ in range(3))
        present = rng.random() < 0.7
        covered = _bytes(a) | (_bytes(b) if present else set())
        expected = {
            "overlaps": bool(_bytes(a) & _bytes(b)),
            "contains": _bytes(b) <= _bytes(a),
            "within_union": _bytes(inner) <= covered,
        }
        got = {
            "overlaps": ranges.overlaps(conc, a, b),
            "contains": ranges.contains(conc, a, b),
            "within_union": ranges.within_union(conc, inner, a, present, b),
        }
        assert got == expected, (inner, a, b, present)
        sr = lambda r: Range(sym.const(r.first), sym.const(r.last))  # noqa: E731
        assert concrete_value(ranges.within_union(sym, sr(inner), sr(a), present, sr(b))) == expected["within_union"]


def test_adjacent_does_not_wrap_at_top_of_address_space() -> None:
    ops = ConcreteOps(8)
    assert ranges.adjacent(ops, Range(0x10, 0x1F), Range(0x20, 0x2F))
    assert not ranges.adjacent(ops, Range(0xF0, 0xFF), Range(0x00, 0x0F))


def test_at_least_and_last_below_handle_bounds_beyond_width() -> None:
    ops = ConcreteOps(8)
    assert ranges.at_least(ops, 0xFF, 2048) is False
    assert ranges.last_below(ops, 0xFF, 1 << 32) is True
    assert ranges.at_least(ops, 0x20, 0x10) is True
