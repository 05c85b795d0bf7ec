"""The solver/enumeration cross-check itself (barcheck/selftest/agreement.py); `barcheck selftest`
runs every case of it in CI (tests/test_selftest.py)."""

from __future__ import annotations

import dataclasses

import pytest

from barcheck.selftest import agreement
from barcheck.selftest.agreement import SHAPE, Case, agree, cases, enumerate_case
from barcheck.engine.verdict import Verdict
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.policies import BUILTIN, SAME_PROBE_AS_4_8, get_policy
from properties import REGISTRY
from properties import situation as situation_module
from properties.situation import shared_situations, situate, world_assumptions


def test_space_is_big_enough_to_matter() -> None:
    """The enumeration must contain sub-page and whole-page BARs, every relation, and refusals."""
    scenarios = agreement._space(64, SHAPE)
    assert len(scenarios) > 10_000
    assert {sc.foreign_relation for sc in scenarios} == {0, 1, 2}
    assert {sc.bar_size for sc in scenarios} >= {16, 32, 64, 128}


def test_cases_cover_every_pair_property_and_every_probe() -> None:
    covered = {(c.property, c.policy) for c in cases()}
    probes = [name for name in BUILTIN if name not in SAME_PROBE_AS_4_8]
    for prop_id, prop in REGISTRY.items():
        if not prop.needs_vmm:
            assert all((prop_id, name) in covered for name in probes), prop_id
        else:
            assert any(p == prop_id for p, _ in covered), prop_id


@pytest.mark.parametrize("case", [Case("isolation.window", "mutant-no-dummy", 64),
                                  Case("mmap.window-within-bar-or-dummy", "mutant-dummy-end-short", 64),
                                  Case("isolation.window", "linux-4.8", 16)], ids=str)
def test_a_case_agrees_and_finds_what_it_should(case: Case) -> None:
    result = agree(case)
    assert result.agrees, result.detail
    assert result.scenarios > 1_000
    expected = Verdict.PROVED if case.policy == "linux-4.8" else Verdict.COUNTEREXAMPLE
    assert result.enumerated is expected and result.solved is expected


def test_a_wrong_solver_answer_is_a_disagreement(monkeypatch) -> None:
    """The cross-check can fail: a solver that says PROVED where enumeration finds a violation is caught."""
    case = Case("isolation.window", "mutant-no-dummy", 64)
    real = agreement.check

    def lying_check(*args, **kwargs):
        return dataclasses.replace(real(*args, **kwargs), verdict=Verdict.PROVED, counterexample=None)
    monkeypatch.setattr(agreement, "check", lying_check)
    result = agree(case)
    assert not result.agrees and "solver proved, enumeration counterexample" in result.detail


def test_enumeration_sees_vacuity() -> None:
    """vfio-platform never reserves, so the realloc property has nothing to be about at width 8 either."""
    verdict, least, violations, valid = enumerate_case(Case("alignment.preserved-across-realloc", "linux-4.7", 64))
    assert verdict is Verdict.VACUOUS and least is None and not violations and valid > 0


def _unshared(case: Case) -> tuple:
    """The enumeration as written before sharing: every property computes its own situation."""
    shape, policy, prop = agreement.shape_of(case), agreement.policy_named(case.policy), REGISTRY[case.property]
    ops = ConcreteOps(shape.width)
    tally = agreement._Tally()
    for sc in agreement._space(case.page_bytes, shape):
        tally.add(sc, prop.evaluate(ops, sc, policy, shape), shape.width)
    return tally.result()


def test_a_shared_enumeration_equals_each_case_enumerated_alone() -> None:
    same = [Case("isolation.window", "mutant-no-dummy", 64), Case("alignment.preserved-across-realloc",
                                                                  "mutant-no-dummy", 64)]
    shared = agreement.enumerate_cases(same)
    assert shared == [_unshared(case) for case in same]
    assert shared[0][0] is Verdict.COUNTEREXAMPLE and shared[0][2]


def test_cases_are_grouped_only_when_policy_page_and_shape_agree() -> None:
    selected = cases()
    batches = agreement.groups(selected)
    assert sorted(i for batch in batches for i in batch) == list(range(len(selected)))
    for batch in batches:
        keys = {(selected[i].policy, selected[i].page_bytes, agreement.shape_of(selected[i])) for i in batch}
        assert len(keys) == 1
    with pytest.raises(ValueError, match="must share"):
        agreement.enumerate_cases([Case("isolation.window", "linux-4.8", 16), Case("isolation.window", "linux-4.8", 64)])


def test_situations_are_shared_only_inside_the_context_and_only_for_integers() -> None:
    ops, policy, other = ConcreteOps(8), get_policy("linux-4.8"), get_policy("linux-4.7")
    sc = agreement._space(64, SHAPE)[100]
    assert situate(ops, sc, policy) is not situate(ops, sc, policy)
    with shared_situations():
        first = situate(ops, sc, policy)
        assert situate(ops, sc, policy) is first
        assert situate(ops, sc, other) is not first
        assert situate(ops, dataclasses.replace(sc), policy) is not situate(ops, sc, policy)
        sit = situate(ops, sc, policy)
        assert world_assumptions(ops, sc, sit, SHAPE) == world_assumptions(ops, sc, sit, SHAPE)
        assert situation_module._shared(SymbolicOps(8)) is None and situation_module._shared(ops) is not None
    assert situation_module._shared(ops) is None
