"""Coverage: a concrete input on which a property's antecedent holds, so a proof is not over an empty set.

The input is the checker's canonical one (the least under its objectives), and it is
replayed on plain integers: every assumption holds and so does the antecedent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3

from barcheck.engine.checker import Settings, objectives
from barcheck.engine.query import SAT, UNKNOWN, Query
from barcheck.engine.recordcheck import RecordSettings
from barcheck.engine.session import Session, pull_toward
from barcheck.engine.verdict import EncodingMismatch
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.policies import Policy
from model.scenario import bar_size_is_pow2, foreign_is_bar_shaped, parent_is_bridge_window
from properties import Property
from properties.record import RecordProperty


@dataclass(frozen=True, slots=True)
class Witness:
    status: str
    """`sat` (a replayed witness), `unsat` (the antecedent is unreachable: VACUOUS) or `unknown`."""
    fields: dict[str, Any] | None = None
    reason: str = ""


def pair_witness(prop: Property, policy: Policy, page_bytes: int, settings: Settings = Settings()) -> Witness:
    shape = settings.shape
    query = Query(shape, page_bytes, settings.seed, settings.rlimit)
    ops, sc = query.ops, query.scenario
    evaluation = prop.evaluate(ops, sc, policy, shape)
    query.assume(evaluation.assumptions)
    names = [name for name, _ in evaluation.assumptions]
    goal = query.goal(evaluation.antecedent)
    answer = query.check(names, goal)
    if answer.status != SAT:
        return Witness(answer.status, reason=answer.reason)
    preferences = [foreign_is_bar_shaped(ops, sc), parent_is_bridge_window(ops, sc), bar_size_is_pow2(ops, sc)]
    found = query.canonical_model(names, goal, preferences, objectives(shape.width))
    replayed = prop.evaluate(ConcreteOps(shape.width), found, policy, shape)
    broken = [name for name, holds in replayed.assumptions if not holds]
    if broken or not replayed.antecedent:
        raise EncodingMismatch(f"{prop.id} under {policy.name}: the antecedent witness {found} does not "
                               f"replay (broken assumptions {broken})")
    return Witness(SAT, {name: getattr(found, name) for name in found.__slots__})


def record_witness(prop: RecordProperty, policy: Policy, page_bytes: int,
                   settings: RecordSettings = RecordSettings()) -> Witness:
    ctx = z3.Context()
    ops = SymbolicOps(settings.width, ctx)
    session = Session(settings.seed, settings.rlimit, ctx)
    fields: dict[str, Any] = {name: z3.BitVec(name, settings.width, ctx) for name in prop.words}
    fields.update({name: z3.Bool(name, ctx) for name in prop.flags})
    evaluation = prop.evaluate(ops, fields, policy, page_bytes, settings.options)
    session.add(*(condition for _, condition in evaluation.assumptions), evaluation.antecedent)
    status = session.check()
    if status != z3.sat:
        return Witness(UNKNOWN if status == z3.unknown else "unsat", reason=session.reason_unknown())
    model = session.model()
    for name, target in prop.objectives:
        model = pull_toward(session, fields[name], target & ((1 << settings.width) - 1), model)
    values = {name: (z3.is_true(model.eval(term, model_completion=True)) if name in prop.flags
                     else model.eval(term, model_completion=True).as_long()) for name, term in fields.items()}
    replayed = prop.evaluate(ConcreteOps(settings.width), values, policy, page_bytes, settings.options)
    broken = [name for name, holds in replayed.assumptions if not holds]
    if broken or not replayed.antecedent:
        raise EncodingMismatch(f"{prop.id} under {policy.name}: the antecedent witness {values} does not "
                               f"replay (broken assumptions {broken})")
    return Witness(SAT, dict(sorted(values.items())))
