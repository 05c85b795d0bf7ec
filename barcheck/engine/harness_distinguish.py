"""The mutant harness's pair query: an input on which a property fails under one policy and holds under another."""

from __future__ import annotations

from dataclasses import dataclass

from barcheck.engine.checker import Settings, objectives
from barcheck.engine.replay import replay
from barcheck.engine.query import SAT, UNKNOWN, Query
from barcheck.engine.verdict import Counterexample, EncodingMismatch
from model.ops import ConcreteOps
from model.policies import Policy
from model.scenario import PairScenario, Shape, bar_size_is_pow2, foreign_is_bar_shaped, parent_is_bridge_window
from properties import Property


@dataclass(frozen=True, slots=True)
class Distinction:
    status: str
    """`sat` (a distinguishing input was found and replayed), `unsat` or `unknown`."""
    counterexample: Counterexample | None = None
    reason: str = ""


def distinguish(prop: Property, mutant: Policy, base: Policy, page_bytes: int,
                settings: Settings = Settings()) -> Distinction:
    """Search one world that is valid for both policies, breaks `prop` under `mutant` and keeps it under `base`.

    The answer is replayed on plain integers under both policies before it is returned.
    """
    shape = settings.shape
    query = Query(shape, page_bytes, settings.seed, settings.rlimit)
    ops, sc = query.ops, query.scenario
    broken, kept = prop.evaluate(ops, sc, mutant, shape), prop.evaluate(ops, sc, base, shape)
    named = [(f"mutant|{n}", c) for n, c in broken.assumptions] + [(f"base|{n}", c) for n, c in kept.assumptions]
    query.assume(named)
    names = [name for name, _ in named]
    goal = query.goal(ops.all_of(ops.negate(broken.holds), kept.holds))
    answer = query.check(names, goal)
    if answer.status == UNKNOWN:
        return Distinction(UNKNOWN, reason=answer.reason)
    if answer.status != SAT:
        return Distinction(answer.status)
    preferences = [foreign_is_bar_shaped(ops, sc), parent_is_bridge_window(ops, sc), bar_size_is_pow2(ops, sc)]
    scenario = query.canonical_model(names, goal, preferences, objectives(shape.width))
    counterexample = replay(prop, mutant, scenario, shape)
    _require_holds(prop, base, scenario, shape)
    return Distinction(SAT, counterexample)


def _require_holds(prop: Property, base: Policy, scenario: PairScenario, shape: Shape) -> None:
    evaluation = prop.evaluate(ConcreteOps(shape.width), scenario, base, shape)
    broken = [name for name, holds in evaluation.assumptions if not holds]
    if broken or not evaluation.holds:
        raise EncodingMismatch(f"{prop.id} under {base.name} on {scenario}: the distinguishing input "
                               f"does not keep the property (broken assumptions {broken})")
