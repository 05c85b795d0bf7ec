"""`Together` (engine/system.py): preferences asked at once keep exactly what applying them one by one keeps."""

from __future__ import annotations

import random

import pytest
import z3

from barcheck.engine.procedure import _apply
from barcheck.engine.session import Session
from barcheck.engine.system import Prefer, Pull, Together

WIDTH_BITS = 5


def _problem(rng: random.Random) -> tuple[Session, list, list]:
    session = Session(0, 400_000_000)
    xs = [z3.BitVec(f"x{i}", WIDTH_BITS, session.ctx) for i in range(3)]
    for _ in range(rng.randint(1, 3)):
        a, b = rng.sample(xs, 2)
        session.add(rng.choice([z3.ULE(a, b), a != b, z3.ULT(a + b, rng.randrange(1, 32)), a & b == 0]))
    parts = []
    for _ in range(rng.randint(2, 8)):
        x = rng.choice(xs)
        if rng.random() < 0.5:
            parts.append(Pull(x, rng.randrange(32)))
        else:
            parts.append(Prefer(rng.choice([z3.ULT(x, rng.randrange(32)), x == rng.randrange(32),
                                            (x & 1) == 1, z3.UGT(x, rng.choice(xs))])))
    return session, xs, parts


def _same_solutions(a: Session, b: Session) -> bool:
    check = z3.Solver(ctx=a.ctx)
    first = z3.And(*a.assertions())
    second = z3.And(*[c.translate(a.ctx) for c in b.assertions()])
    check.add(first != second)
    return check.check() == z3.unsat


@pytest.mark.parametrize("seed", range(120))
def test_together_keeps_what_one_by_one_keeps(seed):
    one_by_one, _, parts = _problem(random.Random(seed))
    together, _, parts_again = _problem(random.Random(seed))
    assert one_by_one.check() == together.check()
    if one_by_one.check() != z3.sat:
        return
    model = one_by_one.model()
    for part in parts:
        model = _apply(one_by_one, part, model)
    together.check()
    joint = _apply(together, Together(tuple(parts_again)), together.model())
    assert _same_solutions(one_by_one, together), seed
    for term in {str(p.term) for p in parts if isinstance(p, Pull)}:
        left = model.eval(z3.BitVec(term, WIDTH_BITS, one_by_one.ctx), model_completion=True).as_long()
        right = joint.eval(z3.BitVec(term, WIDTH_BITS, together.ctx), model_completion=True).as_long()
        assert left == right, (seed, term)


def test_some_seeds_split_the_group_and_some_keep_it_whole():
    """The randomised test above reaches both branches: a joint query that fails and one that holds."""
    outcomes = set()
    for seed in range(120):
        session, _, parts = _problem(random.Random(seed))
        if session.check() != z3.sat:
            continue
        wanted = [p.term == p.target if isinstance(p, Pull) else p.condition for p in parts]
        outcomes.add(session.check(*wanted) == z3.sat)
    assert outcomes == {True, False}
