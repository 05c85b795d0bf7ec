"""Escalating checks: a small incremental budget first, then a fresh solver with the full budget."""

from __future__ import annotations

import z3

from barcheck.engine.session import QUICK_RLIMIT, Escalating, check_escalating, make_solver, pull_toward, work_done


PRODUCT = 0xB5E1_2345


def factoring(ctx: z3.Context, bits: int = 32, product: int = PRODUCT) -> tuple[z3.Solver, z3.BitVecRef, z3.BitVecRef]:
    """A query that needs more than the quick budget: factor a number into halves of half the width."""
    solver = make_solver(0, 400_000_000, ctx)
    x, y = z3.BitVec("x", bits, ctx), z3.BitVec("y", bits, ctx)
    half = 1 << (bits // 2)
    solver.add(x * y == product, z3.UGT(x, 1), z3.UGT(y, 1), z3.ULT(x, half), z3.ULT(y, half))
    return solver, x, y


def test_a_hard_check_escalates_and_still_answers_with_a_model():
    ctx = z3.Context()
    solver, x, y = factoring(ctx)
    solver.set("rlimit", QUICK_RLIMIT)
    assert solver.check() == z3.unknown, "the example must exceed the quick budget"
    solver.set("rlimit", 400_000_000)
    escalating = Escalating(solver, 0, 400_000_000)
    before = work_done(solver)
    assert escalating.check() == z3.sat
    model = escalating.model()
    product = model.eval(x * y, model_completion=True).as_long()
    assert product == PRODUCT
    assert escalating.fresh_work > 0 and work_done(solver) > before
    assert z3.is_true(model.eval(z3.UGT(x, 1)))


def test_a_cheap_check_stays_incremental():
    ctx = z3.Context()
    solver = make_solver(0, 400_000_000, ctx)
    v = z3.BitVec("v", 64, ctx)
    solver.add(z3.ULT(v, 100))
    escalating = Escalating(solver, 0, 400_000_000)
    assert escalating.check(v == 7) == z3.sat and escalating.fresh_work == 0
    assert escalating.check(v == 700) == z3.unsat and escalating.fresh_work == 0


def test_check_escalating_leaves_no_assertion_behind():
    ctx = z3.Context()
    solver, x, _ = factoring(ctx)
    count = len(solver.assertions())
    result, reason, work = check_escalating(solver, 0, 400_000_000, z3.UGT(x, 2))
    assert result == z3.sat and reason == "" and work > 0
    assert len(solver.assertions()) == count


def test_an_exhausted_full_budget_is_unknown_with_its_reason():
    ctx = z3.Context()
    solver, x, _ = factoring(ctx, 36, 0x9_B5E1_2347)
    before = work_done(solver)
    result, reason, fresh_work = check_escalating(solver, 0, QUICK_RLIMIT * 3, z3.BoolVal(True, ctx))
    assert result == z3.unknown and reason
    assert fresh_work >= QUICK_RLIMIT * 3, "the fresh solver had the full budget"
    assert work_done(solver) - before >= QUICK_RLIMIT * 3, "then the incremental solver had it too"


def test_pull_toward_through_an_escalating_solver_finds_the_nearest_value():
    ctx = z3.Context()
    solver = make_solver(0, 400_000_000, ctx)
    v = z3.BitVec("v", 16, ctx)
    solver.add(z3.UGE(v, 0x1234), v & 0xF == 0x5)
    escalating = Escalating(solver, 0, 400_000_000)
    assert escalating.check() == z3.sat
    model = pull_toward(escalating, v, 0x1000, escalating.model())
    # The least XOR distance to 0x1000 among values >= 0x1234 ending in 5.
    best = min((n for n in range(0x1234, 1 << 16) if n & 0xF == 5), key=lambda n: n ^ 0x1000)
    assert model.eval(v).as_long() == best
