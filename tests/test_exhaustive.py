"""At an 8-bit width the solver must agree with brute-force enumeration.

For every policy and property: the same verdict, a counterexample that the
enumeration also finds, and the very same canonical (minimised) counterexample.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from barcheck.checker import Settings, check, objectives
from barcheck.verdict import Verdict
from broken_policies import BROKEN
from model.ops import ConcreteOps
from model.policies import BUILTIN, SAME_PROBE_AS_4_8, get_policy
from model.scenario import PairScenario, Shape, bar_size_is_pow2, foreign_is_bar_shaped, parent_is_bridge_window
from properties import REGISTRY
from scenario_space import small_space

SHAPE = Shape(width=8, window_granule_bytes=64, decoder_granule_bytes=16,
              pins=(("bar_index", (0,)), ("bar_kind", (0,)), ("bar_prefetchable", (0,)), ("bar_origin", (0,)),
                    ("foreign_origin", (4,)), ("realloc_start", (0,))))
"""Origins are pinned to an ordinary function's BAR and an arbitrary decoder; the configured cases
below enumerate every origin."""
SETTINGS = Settings(shape=SHAPE)
POLICIES = {**BUILTIN, **{p.name: p for p in BROKEN}}

CONFIGURED = ("linux-4.8+resource_alignment", "linux-4.8+resource_alignment=32", "linux-4.8+default_alignment",
              "linux-4.8+align_small_bars", "linux-4.8+extend_bar_to_page", "linux-4.8+enhanced_allocation")
"""At width 8, `=32` asks for half a 64-byte page: resize without reaching a whole page."""


def configured_shape(prop_id: str) -> Shape:
    """Every origin of the BAR and the foreign resource, one parent window, and every realloc start
    for the property that reads it."""
    pins = (("bar_index", (0,)), ("bar_kind", (0,)), ("bar_prefetchable", (0,)), ("bar_origin", (0, 1, 2, 3)),
            ("parent_first", (0,)), ("parent_last", (255,)))
    if prop_id == "alignment.preserved-across-realloc":
        pins += (("foreign_origin", (4,)), ("foreign_relation", (0,)), ("foreign_first", (224,)),
                 ("foreign_last", (255,)), ("realloc_start", tuple(range(0, 256, 16))))
    else:
        pins += (("foreign_origin", (0, 1, 2, 3, 4)), ("realloc_start", (0,)))
    return Shape(width=8, window_granule_bytes=64, decoder_granule_bytes=32, fixed_granule_bytes=32, pins=pins)


@lru_cache(maxsize=None)
def space(page_bytes: int, shape: Shape = SHAPE) -> tuple[PairScenario, ...]:
    return tuple(small_space(shape, page_bytes))


def canonical_key(sc: PairScenario, width: int = 8) -> tuple:
    ops = ConcreteOps(width)
    prefs = (not foreign_is_bar_shaped(ops, sc), not parent_is_bridge_window(ops, sc), not bar_size_is_pow2(ops, sc))
    return prefs + tuple(int(getattr(sc, name)) ^ target for name, target in objectives(width))


@lru_cache(maxsize=None)
def brute_force(prop_id: str, policy_name: str, page_bytes: int, shape: Shape = SHAPE):
    policy = POLICIES[policy_name] if policy_name in POLICIES else get_policy(policy_name)
    ops, prop = ConcreteOps(shape.width), REGISTRY[prop_id]
    reachable, best, violations = False, None, set()
    for sc in space(page_bytes, shape):
        ev = prop.evaluate(ops, sc, policy, shape)
        if not all(holds for _, holds in ev.assumptions):
            continue
        reachable = reachable or bool(ev.antecedent)
        if not ev.holds:
            violations.add(sc)
            key = canonical_key(sc)
            if best is None or key < best[0]:
                best = (key, sc)
    if not reachable:
        return Verdict.VACUOUS, None, violations
    return (Verdict.COUNTEREXAMPLE, best[1], violations) if best else (Verdict.PROVED, None, violations)


PROBES = sorted(name for name in BUILTIN if name not in SAME_PROBE_AS_4_8)
"""Policies that differ from linux-4.8 only in the mapping aspect run linux-4.8's probe code itself."""
HOST_PROPERTIES = sorted(p for p in REGISTRY if not REGISTRY[p].needs_vmm)
GUEST_PROPERTIES = sorted(p for p in REGISTRY if REGISTRY[p].needs_vmm)
CASES = [(prop, policy, page) for prop in HOST_PROPERTIES for policy in PROBES for page in (16, 64, 128)]
CASES += [(prop, policy.name, 64) for prop in HOST_PROPERTIES for policy in BROKEN]
CASES += [(prop, "linux-4.8+qemu-subpage", page) for prop in GUEST_PROPERTIES for page in (16, 128)]


@pytest.mark.slow
@pytest.mark.parametrize("prop_id,policy_name,page_bytes", CASES)
def test_solver_agrees_with_brute_force(prop_id: str, policy_name: str, page_bytes: int) -> None:
    expected, canonical, violations = brute_force(prop_id, policy_name, page_bytes)
    policy = POLICIES[policy_name] if policy_name in POLICIES else get_policy(policy_name)
    result = check(REGISTRY[prop_id], policy, page_bytes, SETTINGS)
    assert result.verdict is expected
    if expected is Verdict.COUNTEREXAMPLE:
        assert result.counterexample.scenario in violations
        assert result.counterexample.scenario == canonical


@pytest.mark.slow
@pytest.mark.parametrize("prop_id,policy_name", [(p, q) for p in HOST_PROPERTIES if p != "probe.idempotent"
                                                  for q in CONFIGURED]
                         + [(p, "linux-4.8+enhanced_allocation+qemu-subpage") for p in GUEST_PROPERTIES])
def test_solver_agrees_with_brute_force_under_configurations(prop_id: str, policy_name: str) -> None:
    shape = configured_shape(prop_id)
    expected, canonical, violations = brute_force(prop_id, policy_name, 64, shape)
    result = check(REGISTRY[prop_id], get_policy(policy_name), 64, Settings(shape=shape))
    assert result.verdict is expected, result.reason
    if expected is Verdict.COUNTEREXAMPLE:
        assert result.counterexample.scenario in violations
        assert result.counterexample.scenario == canonical


def test_space_is_big_enough_to_matter() -> None:
    """The enumeration must contain sub-page and whole-page BARs, every relation, and refusals."""
    scenarios = space(64)
    assert len(scenarios) > 10_000
    assert {sc.foreign_relation for sc in scenarios} == {0, 1, 2}
    assert {sc.bar_size for sc in scenarios} >= {16, 32, 64, 128}


def test_broken_variants_are_refuted_at_small_width() -> None:
    """Each broken variant has a violation of some property in the enumeration."""
    for policy in BROKEN:
        refuted = any(brute_force(prop, policy.name, 64)[0] is Verdict.COUNTEREXAMPLE for prop in HOST_PROPERTIES)
        assert refuted, policy.name
