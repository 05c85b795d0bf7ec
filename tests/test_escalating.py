"""Escalating checks: a small incremental conflict limit first, then a fresh solver with the full budget."""

from __future__ import annotations

import z3

import pytest

from barcheck.engine.session import CONFLICTS_REACHED, QUICK_CONFLICTS, Session, pull_toward

SMALL_RLIMIT = 500_000
"""A session budget the factoring example exceeds."""

PRODUCT = 0xB5E1_2345


def factoring(rlimit: int = 400_000_000, bits: int = 32, product: int = PRODUCT) -> tuple[Session, z3.BitVecRef,
                                                                                         z3.BitVecRef]:
    """A query that needs more than the quick budget: factor a number into halves of half the width."""
    session = Session(0, rlimit)
    x, y = z3.BitVec("x", bits, session.ctx), z3.BitVec("y", bits, session.ctx)
    half = 1 << (bits // 2)
    session.add(x * y == product, z3.UGT(x, 1), z3.UGT(y, 1), z3.ULT(x, half), z3.ULT(y, half))
    return session, x, y


def test_the_example_exceeds_the_quick_conflict_limit_and_keeps_its_solver():
    session, _, _ = factoring()
    assert session._incremental_check(session.rlimit, (), QUICK_CONFLICTS) == z3.unknown
    assert session.reason_unknown() == CONFLICTS_REACHED and session.rebuilds == 0


def test_the_example_exceeds_a_small_budget():
    session, _, _ = factoring(SMALL_RLIMIT)
    assert session.check() == z3.unknown


def test_a_hard_check_escalates_and_still_answers_with_a_model():
    session, x, y = factoring()
    escalating = session.escalating()
    before = session.work()
    assert escalating.check() == z3.sat
    model = escalating.model()
    product = model.eval(x * y, model_completion=True).as_long()
    assert product == PRODUCT
    assert session.fresh_work > 0 and session.work() - session.fresh_work > before
    assert z3.is_true(model.eval(z3.UGT(x, 1)))


def test_a_cheap_check_stays_incremental():
    session = Session(0, 400_000_000)
    v = z3.BitVec("v", 64, session.ctx)
    session.add(z3.ULT(v, 100))
    escalating = session.escalating()
    assert escalating.check(v == 7) == z3.sat and session.fresh_work == 0
    assert escalating.check(v == 700) == z3.unsat and session.fresh_work == 0


def test_check_hard_leaves_no_assertion_behind():
    session, x, _ = factoring()
    count = len(session.assertions())
    result, reason = session.check_hard(z3.UGT(x, 2))
    assert result == z3.sat and reason == "" and session.fresh_work > 0
    assert len(session.assertions()) == count


def test_an_exhausted_full_budget_is_unknown_with_its_reason():
    session, x, _ = factoring(SMALL_RLIMIT * 3, 36, 0x9_B5E1_2347)
    result, reason = session.check_hard(z3.BoolVal(True, session.ctx))
    assert result == z3.unknown and reason
    assert session.fresh_work >= SMALL_RLIMIT * 3, "the fresh solver had the full budget"
    assert session.work() - session.fresh_work >= SMALL_RLIMIT * 3, "then the incremental solver had it too"
    assert session.rebuilds == 1, "the cancelled incremental solver was replaced"


def test_decide_asks_a_fresh_solver_and_counts_its_work():
    session = Session(0, 400_000_000)
    v = z3.BitVec("v", 16, session.ctx)
    result, model, reason = session.decide(z3.UGT(v, 10), z3.ULT(v, 12))
    assert result == z3.sat and model.eval(v).as_long() == 11 and reason == ""
    assert session.decide(z3.UGT(v, 10), z3.ULT(v, 11))[0] == z3.unsat
    assert session.fresh_work > 0 and session.assertions() == []


def test_tracked_literals_name_the_core():
    session = Session(0, 400_000_000)
    v = z3.BitVec("v", 16, session.ctx)
    low, high = session.literal(z3.ULT(v, 5), "low"), session.literal(z3.UGT(v, 9), "high")
    free = session.literal(v != 7)
    assert session.check(low, high, free) == z3.unsat
    assert {str(lit) for lit in session.unsat_core()} <= {"assume|low", "assume|high", "goal|1"}
    assert {"assume|low", "assume|high"} <= {str(lit) for lit in session.unsat_core()}


def test_pull_toward_through_an_escalating_session_finds_the_nearest_value():
    session = Session(0, 400_000_000)
    v = z3.BitVec("v", 16, session.ctx)
    session.add(z3.UGE(v, 0x1234), v & 0xF == 0x5)
    escalating = session.escalating()
    assert escalating.check() == z3.sat
    model = pull_toward(escalating, v, 0x1000, escalating.model())
    # The least XOR distance to 0x1000 among values >= 0x1234 ending in 5.
    best = min((n for n in range(0x1234, 1 << 16) if n & 0xF == 5), key=lambda n: n ^ 0x1000)
    assert model.eval(v).as_long() == best


def test_a_cancelled_check_leaves_a_new_solver_with_every_scope():
    session, x, y = factoring(SMALL_RLIMIT)
    session.push()
    session.add(z3.UGT(x, y))
    literal = session.literal(z3.ULT(x, 0x8000), "low")
    assert session.check() == z3.unknown and session.reason_unknown()
    assert session.rebuilds == 1
    assert len(session.assertions()) == 7, "five base assertions, one in the pushed scope, one literal"
    session.pop()
    assert len(session.assertions()) == 5, "the scope survived the rebuild and pops as before"
    v = z3.BitVec("v", 8, session.ctx)
    assert session.check_with(v == 3, z3.Not(literal))[0] == z3.unknown, "the base is still the hard query"
    assert session.rebuilds == 2


def test_an_answered_check_keeps_the_solver():
    session = Session(0, 400_000_000)
    v = z3.BitVec("v", 64, session.ctx)
    session.add(z3.ULT(v, 100))
    assert session.check(v == 7) == z3.sat and session.check(v == 700) == z3.unsat
    assert session.rebuilds == 0 and session.reason_unknown() == ""


def test_escalation_rebuilds_the_incremental_solver_only_when_it_cancelled_it(monkeypatch):
    import barcheck.engine.session as session_module
    session, x, _ = factoring()
    assert session.check_hard(z3.UGT(x, 2))[0] == z3.sat and session.rebuilds == 0
    monkeypatch.setattr(session_module, "QUICK_RLIMIT", 50_000)
    session, x, _ = factoring()
    assert session.check_hard(z3.UGT(x, 2))[0] == z3.sat and session.rebuilds == 1
    assert len(session.assertions()) == 5


@pytest.mark.parametrize("limit", [("QUICK_RLIMIT", 5_000), ("QUICK_RLIMIT", 100_000), ("QUICK_CONFLICTS", 1)])
def test_pair_witness_answers_hold_at_tiny_escalation_budgets(monkeypatch, limit):
    """With a tiny quick limit nearly every check stops early; the witness must still replay (with a
    cancelled solver kept, 100,000 units gave models that break an assertion: scripts/incremental_answers.py)."""
    import barcheck.engine.session as session_module
    from barcheck.engine.harness_witness import pair_witness
    from barcheck.engine.settings import RunSettings
    from model.policies import get_policy
    from properties import REGISTRY
    monkeypatch.setattr(session_module, *limit)
    witness = pair_witness(REGISTRY["alignment.preserved-across-realloc"], get_policy("linux-4.8+resource_alignment"),
                           65536, RunSettings().pair())
    assert witness.status == "sat"


def _core_query(seed: int):
    """A query over 16-bit fields with random named bounds, and the goal that they all hold."""
    import random

    from barcheck.engine.query import Query
    from model.scenario import Shape
    rng = random.Random(seed)
    query = Query(Shape(width=16), 4096, 0, 400_000_000)
    a, b = query.scenario.bar_start, query.scenario.foreign_first
    named = []
    for k in range(rng.randint(3, 9)):
        left, right = rng.choice([(a, b), (a, a + b), (b, a ^ b)])
        bound = rng.randrange(1 << 16)
        kind = rng.choice([z3.ULT, z3.UGT, lambda x, y: x == y, lambda x, y: x != y])
        named.append((f"n{k}", kind(left, bound) if rng.random() < 0.6 else kind(left, right)))
    query.assume(named)
    return query, [name for name, _ in named], dict(named)


def _sat(conditions, ctx) -> bool:
    solver = z3.Solver(ctx=ctx)
    solver.add(*conditions)
    return solver.check() == z3.sat


@pytest.mark.parametrize("trial_conflicts", [1, 1_000])
def test_minimal_core_is_unsat_and_every_name_in_it_is_needed(monkeypatch, trial_conflicts):
    import barcheck.engine.query as query_module
    monkeypatch.setattr(query_module, "TRIAL_CONFLICTS", trial_conflicts)
    checked = 0
    for seed in range(300):
        query, names, conditions = _core_query(seed)
        goal = query.goal(z3.BoolVal(True, query.ctx))
        answer = query.check(names, goal)
        if answer.status != "unsat":
            continue
        checked += 1
        core = query.minimal_core(goal, answer.core)
        assert list(core) == [name for name in names if name in core], "in the order of the assumptions"
        assert not _sat([conditions[name] for name in core], query.ctx), seed
        for name in core:
            assert _sat([conditions[other] for other in core if other != name], query.ctx), (seed, name)
    assert checked >= 30


def _bitwise_pull(session, variable, target, model):
    """The reference order: one bit at a time, most significant first."""
    value = lambda m: m.eval(variable, model_completion=True).as_long()  # noqa: E731
    for bit in reversed(range(variable.size())):
        want = (target >> bit) & 1
        term = z3.Extract(bit, bit, variable)
        if ((value(model) >> bit) & 1) != want and session.check(term == want) == z3.sat:
            model = session.model()
        session.add(term == ((value(model) >> bit) & 1))
    return model


def _pull_problem(seed: int, width: int) -> Session:
    import random
    rules = random.Random(seed)
    session = Session(0, 400_000_000)
    v, w = z3.BitVec("v", width, session.ctx), z3.BitVec("w", width, session.ctx)
    top = 1 << width
    for _ in range(rules.randint(1, 4)):
        mask, bits = rules.randrange(top), rules.randrange(top)
        session.add(z3.Or(v & mask != bits, w == rules.randrange(top)), z3.ULE(w, rules.randrange(top)))
    session.add(z3.UGE(v, rules.randrange(top // 2)), z3.Or(v & 0x5 != 0x4, z3.ULT(w, rules.randrange(top))))
    return session


@pytest.mark.parametrize("seed", range(60))
def test_pull_toward_gives_the_bit_by_bit_value_which_is_the_least_distance(seed):
    import random
    width = 8
    target = random.Random(-seed).randrange(1 << width)
    results = []
    for pull in (pull_toward, _bitwise_pull):
        session = _pull_problem(seed, width)
        v = z3.BitVec("v", width, session.ctx)
        if session.check() != z3.sat:
            pytest.skip("these random rules are unsatisfiable")
        model = pull(session, v, target, session.model())
        assert session.check() == z3.sat
        assert z3.is_true(model.eval(z3.And(*session.assertions()), model_completion=True))
        results.append(model.eval(v, model_completion=True).as_long())
    session = _pull_problem(seed, width)
    v = z3.BitVec("v", width, session.ctx)
    reachable = [x for x in range(1 << width) if session.check(v == x) == z3.sat]
    assert results == [min(reachable, key=lambda x: x ^ target)] * 2
