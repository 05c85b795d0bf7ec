"""Every policy, through every property, gives the same answer on ints and on bit-vectors."""

from __future__ import annotations

import pytest
import z3

from broken_policies import BROKEN
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.policies import BUILTIN, SAME_PROBE_AS_4_8, get_policy
from model.scenario import FIELDS, FLAG_FIELDS, PairScenario, Shape
from properties import REGISTRY
from scenario_space import grid_scenarios, random_scenarios

CONFIGURED = ("linux-4.8+resource_alignment", "linux-4.8+resource_alignment=4K+default_alignment",
              "linux-4.8+align_small_bars", "v3-per-bar+extend_bar_to_page+enhanced_allocation",
              "linux-4.7+default_alignment+extend_bar_to_page")
GUEST = ("linux-4.8+qemu-subpage", "linux-4.8+enhanced_allocation+qemu-subpage")
POLICIES = ([p for name, p in BUILTIN.items() if name not in SAME_PROBE_AS_4_8] + list(BROKEN)
            + [get_policy(name) for name in CONFIGURED + GUEST])
"""Policies that share linux-4.8's probe run its very code, so they are left out."""
SHAPE = Shape()


def lift(sc: PairScenario, ops: SymbolicOps) -> PairScenario:
    values = {}
    for name in FIELDS:
        value = getattr(sc, name)
        values[name] = z3.BoolVal(value) if name in FLAG_FIELDS else ops.const(value)
    return PairScenario(**values)


def ground(term):
    term = z3.simplify(term)
    if z3.is_bool(term):
        assert z3.is_true(term) or z3.is_false(term), term
        return z3.is_true(term)
    return term.as_long()


def flatten(evaluation) -> dict:
    out = {f"assume:{name}": value for name, value in evaluation.assumptions}
    out["antecedent"], out["holds"] = evaluation.antecedent, evaluation.holds
    out.update({f"fact:{name}": value for name, value in evaluation.facts})
    return out


def assert_agree(sc: PairScenario, policies: list = POLICIES) -> None:
    conc, sym = ConcreteOps(64), SymbolicOps(64)
    lifted = lift(sc, sym)
    for prop in REGISTRY.values():
        for policy in (p for p in policies if (p.vmm is not None) == prop.needs_vmm):
            expected = flatten(prop.evaluate(conc, sc, policy, SHAPE))
            got = {k: ground(v) for k, v in flatten(prop.evaluate(sym, lifted, policy, SHAPE)).items()}
            assert got == expected, (prop.id, policy.name, sc)


@pytest.mark.parametrize("page_bytes", [4096, 65536])
def test_grid_agrees(page_bytes: int) -> None:
    """The built-in policies, the VMM policies and, at 4K, the broken ones; the configured policies meet
    the grid's shapes in the random scenarios below and enumerated in tests/test_exhaustive.py."""
    policies = [p for p in POLICIES if p.name not in CONFIGURED and (page_bytes == 4096 or p not in BROKEN)]
    for sc in grid_scenarios(page_bytes):
        assert_agree(sc, policies)


@pytest.mark.parametrize("page_bytes", [4096, 65536, 1 << 30])
def test_random_agrees(page_bytes: int) -> None:
    for sc in random_scenarios(seed=page_bytes, count=30, page_bytes=page_bytes):
        assert_agree(sc)


def test_grid_exercises_both_outcomes() -> None:
    """The differential grid is only meaningful if it reaches mmappable and refused BARs, and violations."""
    conc = ConcreteOps(64)
    seen = set()
    for sc in grid_scenarios(4096):
        for policy in POLICIES:
            ev = REGISTRY["isolation.window"].evaluate(conc, sc, policy, SHAPE)
            seen.add((ev.antecedent, ev.holds))
    assert {(True, True), (False, True), (True, False)} <= seen
