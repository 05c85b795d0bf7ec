"""The solver/enumeration cross-check itself (barcheck/selftest/agreement.py); `barcheck selftest`
runs every case of it in CI (tests/test_selftest.py)."""

from __future__ import annotations

import dataclasses

import pytest

from barcheck.selftest import agreement
from barcheck.selftest.agreement import SHAPE, Case, agree, cases, enumerate_case
from barcheck.engine.verdict import Verdict
from model.policies import BUILTIN, SAME_PROBE_AS_4_8
from properties import REGISTRY


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
