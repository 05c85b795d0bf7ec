"""The engine: vacuity guard, proof with a minimal core, canonical counterexample, concrete replay."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from barcheck.engine.replay import replay
from barcheck.engine.encode import decode
from barcheck.engine.query import SAT, UNKNOWN, UNSAT, Query
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED, z3_version
from barcheck.engine.verdict import Counterexample, Result, SolverInfo, Verdict
from model.policies import Policy
from model.scenario import (FIELDS, PairScenario, Shape, bar_size_is_pow2, foreign_is_bar_shaped,
                            parent_is_bridge_window)
from model.units import MIB
from properties import Property

MMIO_ANCHOR = 0xFE000000
"""Counterexamples are pulled toward a typical 32-bit MMIO window."""


@dataclass(frozen=True, slots=True)
class Settings:
    seed: int = DEFAULT_SEED
    rlimit: int = DEFAULT_RLIMIT
    shape: Shape = field(default_factory=Shape)
    explain: bool = True
    """False decides only: a proof lists every assumption in force instead of a minimal core,
    and a counterexample is the solver's first model (replayed all the same), not the canonical one."""


def objectives(width: int) -> list[tuple[str, int]]:
    """Fields in minimisation order with the value each is pulled toward."""
    anchor = MMIO_ANCHOR & ((1 << width) - 1)
    targets = {"bar_start": anchor, "foreign_first": anchor, "foreign_last": anchor,
               "parent_first": anchor, "parent_last": anchor | ((MIB - 1) & ((1 << width) - 1))}
    order = ["foreign_relation", "bar_origin", "foreign_origin", "bar_kind", "bar_index", "bar_prefetchable", "bar_start", "bar_size",
             "foreign_first", "foreign_last", "parent_first", "parent_last", "realloc_start"]
    assert sorted(order) == sorted(name for name in FIELDS if name != "page_bytes")
    return [(name, targets.get(name, 0)) for name in order]


def scope_of(prop: Property, settings: Settings, page_bytes: int) -> dict[str, Any]:
    shape = settings.shape
    return {
        "bounded": False,
        "width_bits": shape.width,
        "page_size": page_bytes,
        "quantified": prop.scope.format(width=shape.width),
        "window_granule": hex(shape.window_granule_bytes),
        "decoder_granule": hex(shape.decoder_granule_bytes),
        "pins": {name: list(values) for name, values in shape.pins},
    }


def check(prop: Property, policy: Policy, page_bytes: int, settings: Settings = Settings()) -> Result:
    started = time.perf_counter()
    query = Query(settings.shape, page_bytes, settings.seed, settings.rlimit)
    evaluation = prop.evaluate(query.ops, query.scenario, policy, settings.shape)
    query.assume(evaluation.assumptions)
    names = [name for name, _ in evaluation.assumptions]
    if settings.explain:
        outcome, unexplained = _decide(query, prop, policy, names, evaluation), False
    else:
        outcome, unexplained = _decide_only(query, prop, policy, names, evaluation)
    verdict, assumptions, reason, cex = outcome
    info = SolverInfo(z3_version(), settings.seed, settings.rlimit, query.work())
    notes = (UNEXPLAINED[verdict],) if unexplained and verdict in UNEXPLAINED else ()
    return Result(prop.id, policy.name, page_bytes, verdict, scope_of(prop, settings, page_bytes),
                  assumptions, round(time.perf_counter() - started, 6), info, reason, cex, notes)


UNEXPLAINED = {
    Verdict.PROVED: "verdicts only: the assumptions listed are every one in force, not a minimal core",
    Verdict.COUNTEREXAMPLE: "verdicts only: the solver's first counterexample, replayed but not minimised",
}


def _decide(query: Query, prop: Property, policy: Policy, names: list[str], evaluation) -> tuple:
    if query.decide(names, evaluation.antecedent)[0].status == SAT:
        return _decide_reachable(query, prop, policy, names, evaluation)
    reachable_goal = query.goal(evaluation.antecedent)
    reachable = query.check(names, reachable_goal)
    if reachable.status == UNKNOWN:
        return Verdict.UNKNOWN, (), f"vacuity check: {reachable.reason}", None
    if reachable.status == UNSAT:
        core = query.minimal_core(reachable_goal, reachable.core)
        reason = (f"assumptions {', '.join(core)} contradict each other or the antecedent" if core
                  else "the antecedent is unreachable: the policy never gets to the case the property is about")
        return Verdict.VACUOUS, core, reason, None
    return _decide_reachable(query, prop, policy, names, evaluation)


def _decide_reachable(query: Query, prop: Property, policy: Policy, names: list[str], evaluation) -> tuple:
    violation_goal = query.goal(query.ops.negate(evaluation.holds))
    violation = query.check(names, violation_goal)
    if violation.status == UNKNOWN:
        return Verdict.UNKNOWN, (), violation.reason, None
    if violation.status == UNSAT:
        return Verdict.PROVED, query.minimal_core(violation_goal, violation.core), "", None
    assert violation.status == SAT
    return Verdict.COUNTEREXAMPLE, (), "", _counterexample(query, prop, policy, names, violation_goal)


def _decide_only(query: Query, prop: Property, policy: Policy, names: list[str], evaluation) -> tuple[tuple, bool]:
    """The outcome, and whether it skipped the explanation work.  Vacuous and undecided cases go
    through `_decide`: its core names the contradiction, and its incremental solver may answer
    where the fresh one ran out of budget."""
    reachable, _ = query.decide(names, evaluation.antecedent)
    if reachable.status != SAT:
        return _decide(query, prop, policy, names, evaluation), False
    violation, model = query.decide(names, query.ops.negate(evaluation.holds))
    if violation.status == UNKNOWN:
        return _decide(query, prop, policy, names, evaluation), False
    if violation.status == UNSAT:
        return (Verdict.PROVED, tuple(names), "", None), True
    return (Verdict.COUNTEREXAMPLE, (), "", replay(prop, policy, decode(model, query.scenario), query.shape)), True


def _counterexample(query: Query, prop: Property, policy: Policy, names: list[str], goal) -> Counterexample:
    ops, sc = query.ops, query.scenario
    preferences = [foreign_is_bar_shaped(ops, sc), parent_is_bridge_window(ops, sc), bar_size_is_pow2(ops, sc)]
    concrete: PairScenario = query.canonical_model(names, goal, preferences, objectives(query.shape.width))
    return replay(prop, policy, concrete, query.shape)
