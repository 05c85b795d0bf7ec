"""Concrete replay: a decoded counterexample must violate the property on plain ints."""

from __future__ import annotations

from barcheck.engine.verdict import Counterexample, EncodingMismatch
from model.ops import ConcreteOps
from model.policies import Policy
from model.scenario import PairScenario, Shape, foreign_is_bar_shaped
from properties import Property


def replay(prop: Property, policy: Policy, scenario: PairScenario, shape: Shape) -> Counterexample:
    """Re-run the property concretely; raise EncodingMismatch unless it really fails."""
    ops = ConcreteOps(shape.width)
    evaluation = prop.evaluate(ops, scenario, policy, shape)
    broken = [name for name, holds in evaluation.assumptions if not holds]
    where = f"{prop.id} under {policy.name} on {scenario}"
    if broken:
        raise EncodingMismatch(f"{where}: replayed scenario breaks assumptions {broken}")
    if evaluation.holds:
        raise EncodingMismatch(f"{where}: the property holds when replayed concretely")
    facts = dict(evaluation.facts)
    return Counterexample(scenario, facts, prop.explain(scenario, facts, policy.name),
                          bool(foreign_is_bar_shaped(ops, scenario)), shape)
