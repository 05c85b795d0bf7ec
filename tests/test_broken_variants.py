"""Each deliberately broken policy yields a replayed, minimised counterexample, pinned exactly.

The canonical counterexample is the lexicographic minimum over the solver's
satisfiable constraint sets, so these values do not depend on the z3 version.
"""

from __future__ import annotations

import pytest

from barcheck.engine.checker import check
from barcheck.engine.replay import replay
from barcheck.engine.verdict import EncodingMismatch, Verdict
from broken_policies import DummyOneByteShort, NoAlignmentCheck, NoDummy
from model.policies import BUILTIN
from model.scenario import PairScenario, Relation, Shape
from properties import REGISTRY

MMIO = 0xFE000000

PINNED = [
    # policy, property, page, (bar start, bar size, foreign first, foreign last, relation)
    (NoAlignmentCheck(), "isolation.window", 4096, (MMIO + 0x10, 0x10, MMIO, MMIO + 0xF, Relation.EXISTING_SIBLING)),
    (NoAlignmentCheck(), "isolation.window", 65536, (MMIO + 0x10, 0x10, MMIO, MMIO + 0xF, Relation.EXISTING_SIBLING)),
    (NoDummy(), "isolation.window", 4096, (MMIO, 0x10, MMIO + 0x10, MMIO + 0x1F, Relation.EXISTING_SIBLING)),
    (NoDummy(), "isolation.window", 65536, (MMIO, 0x10, MMIO + 0x10, MMIO + 0x1F, Relation.EXISTING_SIBLING)),
    (DummyOneByteShort(), "mmap.window-within-bar-or-dummy", 4096,
     (MMIO, 0x10, MMIO + 0x1000, MMIO + 0x100F, Relation.EXISTING_SIBLING)),
    (DummyOneByteShort(), "mmap.window-within-bar-or-dummy", 65536,
     (MMIO, 0x10, MMIO + 0x10000, MMIO + 0x1000F, Relation.EXISTING_SIBLING)),
]


@pytest.mark.parametrize("policy,prop_id,page_bytes,expected", PINNED,
                         ids=[f"{p.name}-{q}-{page}" for p, q, page, _ in PINNED])
def test_broken_variant_has_pinned_canonical_counterexample(policy, prop_id, page_bytes, expected) -> None:
    result = check(REGISTRY[prop_id], policy, page_bytes)
    assert result.verdict is Verdict.COUNTEREXAMPLE
    sc = result.counterexample.scenario
    assert (sc.bar_start, sc.bar_size, sc.foreign_first, sc.foreign_last, sc.foreign_relation) == expected
    assert (sc.bar_kind, sc.bar_index, sc.bar_prefetchable) == (0, 0, False)
    assert (sc.parent_first, sc.parent_last) == (MMIO, MMIO + 0xFFFFF)
    assert result.counterexample.bar_shaped_foreign
    assert policy.name in result.counterexample.explanation


def test_one_byte_short_dummy_cannot_expose_a_dword_decoder() -> None:
    """The unreserved byte is too small for any DWORD-granular decoder: isolation still proves."""
    result = check(REGISTRY["isolation.window"], DummyOneByteShort(), 65536)
    assert result.verdict is Verdict.PROVED
    assert "tree.decoder-granular" in result.assumptions


def test_replay_rejects_a_scenario_that_does_not_violate() -> None:
    """The replay guard is live: feeding it a safe scenario is an internal error."""
    safe = PairScenario(4096, 0, 0, False, MMIO, 0x10, MMIO, MMIO + 0xFFFFF, MMIO + 0x1000, MMIO + 0x100F, 0)
    with pytest.raises(EncodingMismatch, match="holds when replayed"):
        replay(REGISTRY["isolation.window"], BUILTIN["linux-4.8"], safe, Shape())


def test_replay_rejects_a_scenario_that_breaks_assumptions() -> None:
    overlapping = PairScenario(4096, 0, 0, False, MMIO, 0x10, MMIO, MMIO + 0xFFFFF, MMIO, MMIO + 0xF, 0)
    with pytest.raises(EncodingMismatch, match="tree.siblings-disjoint"):
        replay(REGISTRY["isolation.window"], NoDummy(), overlapping, Shape())


def test_policy_without_mmap_is_vacuous_not_proved() -> None:
    """A policy that never maps proves isolation only vacuously, and says so."""

    class NeverMaps(type(BUILTIN["linux-4.8"])):
        name = "never-maps"

        def eligible(self, ops, bar):
            return ops.false()

    result = check(REGISTRY["isolation.window"], NeverMaps(), 4096)
    assert result.verdict is Verdict.VACUOUS
    assert "antecedent" in result.reason
